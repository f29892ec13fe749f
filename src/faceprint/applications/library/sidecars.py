"""Names that travel: each photo's named faces as regions in an XMP sidecar beside it (PHOTO.ext.xmp, as digiKam and
darktable name them), in the Metadata Working Group's region schema (mwg-rs:Regions) that digiKam, Lightroom and
darktable read. The photo itself is never opened for writing.

A region is the face's box in the photo as shown (EXIF orientation applied), normalised to AppliedToDimensions:
centre x, y and width, height in 0..1. Hidden people are left out. A sidecar faceprint made is rewritten (and removed
when its photo has no named face any more); a sidecar another tool made keeps everything it holds: faceprint adds
its regions where it has none (and updates them later), and leaves it alone (listed) where it has regions of its
own. The rdf:Description faceprint wrote into carries faceprint:regions, so it knows its own.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from faceprint.utils.io import atomic_write_text

NS = {"x": "adobe:ns:meta/", "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
      "mwg-rs": "http://www.metadataworkinggroup.com/schemas/regions/",
      "stDim": "http://ns.adobe.com/xap/1.0/sType/Dimensions#", "stArea": "http://ns.adobe.com/xmp/sType/Area#",
      "faceprint": "http://ns.faceprint.org/1.0/"}
for _prefix, _uri in NS.items():
    ET.register_namespace(_prefix, _uri)


def _q(name: str) -> str:
    prefix, local = name.split(":")
    return f"{{{NS[prefix]}}}{local}"


@dataclass
class SidecarReport:
    written: int = 0
    removed: int = 0
    unchanged: int = 0
    skipped: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (f"{self.written} sidecars written, {self.removed} removed (no named face left), {self.unchanged} "
                f"unchanged, {len(self.skipped)} left alone")


def sidecar_path(photo: Path) -> Path:
    return photo.with_name(photo.name + ".xmp")


def regions_element(width: int, height: int, faces: list[tuple[str, list[float]]]) -> ET.Element:
    """<mwg-rs:Regions> for these (name, [x1, y1, x2, y2]) faces of a width x height photo."""
    regions = ET.Element(_q("mwg-rs:Regions"), {_q("rdf:parseType"): "Resource"})
    ET.SubElement(regions, _q("mwg-rs:AppliedToDimensions"),
                  {_q("stDim:w"): str(width), _q("stDim:h"): str(height), _q("stDim:unit"): "pixel"})
    bag = ET.SubElement(ET.SubElement(regions, _q("mwg-rs:RegionList")), _q("rdf:Bag"))
    for name, (x1, y1, x2, y2) in faces:
        x1, x2 = max(0.0, x1), min(float(width), x2)
        y1, y2 = max(0.0, y1), min(float(height), y2)
        li = ET.SubElement(bag, _q("rdf:li"), {_q("rdf:parseType"): "Resource"})
        ET.SubElement(li, _q("mwg-rs:Name")).text = name
        ET.SubElement(li, _q("mwg-rs:Type")).text = "Face"
        ET.SubElement(li, _q("mwg-rs:Area"), {
            _q("stArea:x"): f"{(x1 + x2) / 2 / width:.6f}", _q("stArea:y"): f"{(y1 + y2) / 2 / height:.6f}",
            _q("stArea:w"): f"{(x2 - x1) / width:.6f}", _q("stArea:h"): f"{(y2 - y1) / height:.6f}",
            _q("stArea:unit"): "normalized"})
    return regions


MARK = _q("faceprint:regions")  # on the rdf:Description faceprint wrote regions into: "file" (a sidecar of its own)
# or "added" (regions added to another tool's sidecar)


def sidecar_text(width: int, height: int, faces: list[tuple[str, list[float]]]) -> str:
    """A whole sidecar of faceprint's own."""
    meta = ET.Element(_q("x:xmpmeta"))
    desc = ET.SubElement(ET.SubElement(meta, _q("rdf:RDF")), _q("rdf:Description"), {_q("rdf:about"): "", MARK: "file"})
    desc.append(regions_element(width, height, faces))
    return _packet(meta)


def _packet(meta: ET.Element) -> str:
    ET.indent(meta, " ")
    body = ET.tostring(meta, encoding="unicode")
    return f'<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n{body}\n<?xpacket end="w"?>\n'


def update_sidecar(path: Path, width: int, height: int, faces: list[tuple[str, list[float]]],
                   report: SidecarReport) -> None:
    """Write, rewrite, remove or leave alone the sidecar at `path` (see the module's docstring)."""
    if not path.exists():
        if faces:
            atomic_write_text(path, sidecar_text(width, height, faces))
            report.written += 1
        return
    try:
        old = path.read_text(encoding="utf-8")
        start, end = old.find("<x:xmpmeta"), old.find("</x:xmpmeta>")
        xml = old[start:end + len("</x:xmpmeta>")] if 0 <= start < end else old
        _keep_prefixes(xml)
        tree = ET.fromstring(xml)
    except (OSError, ValueError, ET.ParseError) as e:
        report.skipped.append(f"{path}: an XMP sidecar faceprint cannot read ({e}): left alone")
        return
    ours = next((d for d in tree.iter(_q("rdf:Description")) if d.get(MARK)), None)
    if ours is None and not faces:
        return
    if ours is not None and ours.get(MARK) == "file" and not faces:
        path.unlink()
        report.removed += 1
        return
    if ours is None and any(True for _ in tree.iter(_q("mwg-rs:Regions"))):
        report.skipped.append(f"{path}: holds face regions of another tool: left alone")
        return
    desc = ours if ours is not None else next(tree.iter(_q("rdf:Description")), None)
    if desc is None:
        report.skipped.append(f"{path}: an XMP sidecar without rdf:Description: left alone")
        return
    for r in desc.findall(_q("mwg-rs:Regions")):
        desc.remove(r)
    if faces:
        desc.set(MARK, desc.get(MARK) or "added")
        desc.append(regions_element(width, height, faces))
    else:
        del desc.attrib[MARK]
    text = _packet(tree) if tree.tag == _q("x:xmpmeta") else _packet(_wrapped(tree))
    if text == old:
        report.unchanged += 1
        return
    atomic_write_text(path, text)
    report.written += 1


def _keep_prefixes(xml: str) -> None:
    """Write the sidecar's namespaces back with the prefixes it has (xmp:, dc:, ...), not ns0:, ns1:."""
    import io
    import re

    for _, (prefix, uri) in ET.iterparse(io.StringIO(xml), events=("start-ns",)):
        if prefix and not re.fullmatch(r"ns\d+", prefix) and uri not in NS.values():
            ET.register_namespace(prefix, uri)


def _wrapped(rdf: ET.Element) -> ET.Element:
    """A bare rdf:RDF (some tools write no x:xmpmeta around it) inside x:xmpmeta."""
    meta = ET.Element(_q("x:xmpmeta"))
    meta.append(rdf)
    return meta


def write_sidecars(library, progress: bool = True) -> SidecarReport:  # type: ignore[no-untyped-def]
    """A sidecar for every photo of the library with a named face, and none left over for photos without."""
    from tqdm import tqdm

    root = Path(library.root)
    report = SidecarReport()
    photos = library.named_regions()
    for rel, (width, height, faces) in tqdm(sorted(photos.items()), desc="sidecars", unit="photo",
                                            disable=not progress):
        photo = root / rel
        if not photo.is_file():
            report.skipped.append(f"{rel}: the photo is not there any more (scan again)")
            continue
        if not width or not height:
            if faces:
                report.skipped.append(f"{rel}: its size is unknown")
            continue
        update_sidecar(sidecar_path(photo), width, height, faces, report)
    return report
