"""`faceprint align`: a folder-per-identity set of photos into aligned faces, resumable and in parallel."""

from __future__ import annotations

import json
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from tqdm import tqdm

from faceprint.data.alignment import recorded_alignment, recorded_detector, recorded_points, write_alignment
from faceprint.data.images import ImageReadError, is_image_file, read_image
from faceprint.detection.alignment import ALIGNMENTS, align_face
from faceprint.detection.detector import Face, select_faces
from faceprint.errors import InputError, MissingFileError
from faceprint.utils.io import atomic_write_text
from faceprint.utils.shard import parse_shard

_WORKER: dict = {}


@dataclass
class AlignReport:
    total: int = 0
    aligned: int = 0
    already_done: int = 0
    no_face: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    several_faces: list[str] = field(default_factory=list)  # "path: n faces, took face i"

    def summary(self) -> str:
        return (f"{self.total} images: {self.aligned} aligned now, {self.already_done} done before, "
                f"{len(self.no_face)} without a face, {len(self.unreadable)} unreadable, "
                f"{len(self.several_faces)} with several faces")


def _init_worker(settings: dict) -> None:
    from faceprint.detection.registry import make_detector
    from faceprint.utils.runtime import die_with_parent, set_threads, tune_malloc

    die_with_parent()
    set_threads(1)  # one thread per process: two processes use the two cores without oversubscription
    tune_malloc()
    _WORKER["detector"] = make_detector(settings["detector"], settings["min_face"], threads=1)
    _WORKER["settings"] = settings


def _process(jobs: list[tuple[str, str]]) -> list[dict]:
    s, det = _WORKER["settings"], _WORKER["detector"]
    images, records = [], []
    for src, _ in jobs:
        try:
            images.append(read_image(src))
        except ImageReadError as e:
            images.append(None)
            records.append({"source": src, "status": "unreadable", "reason": e.reason})
            continue
        records.append(None)
    readable = [i for i, im in enumerate(images) if im is not None]
    found = det.detect([images[i] for i in readable]) if readable else []
    for i, faces in zip(readable, found):
        src, dst = jobs[i]
        img = images[i]
        chosen = select_faces(faces, img.shape, s["select"])
        rec = {"source": src, "faces": [f.to_dict() for f in faces], "outputs": []}
        if not chosen:
            rec["status"] = "no_face"
        else:
            rec["status"] = "ok" if len(faces) == 1 else "several"
            for k, f in enumerate(chosen):
                out = dst if len(chosen) == 1 else str(Path(dst).with_name(f"{Path(dst).stem}_face{k}{Path(dst).suffix}"))
                aligned = align_face(img, f, s["method"], s["size"], s["margin"])
                tmp = f"{out}.tmp{os.getpid()}{Path(out).suffix}"
                Image.fromarray(aligned).save(tmp, quality=95)
                os.replace(tmp, out)
                rec["outputs"].append(out)
            rec["taken"] = [faces.index(f) for f in chosen]
        records[i] = rec
    return records


def draw_faces(image: np.ndarray, faces: list[Face], out: Path) -> None:
    """Boxes and the five landmarks drawn on the photo: a debug picture of what the detector saw."""
    pil = Image.fromarray(image)
    d = ImageDraw.Draw(pil)
    for i, f in enumerate(faces):
        d.rectangle([float(v) for v in f.box], outline=(255, 0, 0) if i == 0 else (255, 160, 0), width=2)
        for x, y in f.landmarks:
            d.ellipse([x - 2, y - 2, x + 2, y + 2], fill=(0, 255, 0))
        d.text((float(f.box[0]), float(f.box[1]) - 11), f"{f.score:.3f}", fill=(255, 0, 0))
    pil.save(out)


def align_folder(src: str | Path, dst: str | Path, method: str = "lfw", size: int = 250, margin: float = 32.0,
                 select: str = "best", workers: int | None = None, min_face: float = 20.0, ext: str = "jpg",
                 debug: int = 0, progress: bool = True, chunk: int = 16, shard: str | None = None,
                 detector: str | None = None) -> AlignReport:
    """Align every image of SRC/<identity>/<image> into DST/<identity>/<image>.<ext>.

    Resumable: DST/manifest.jsonl records each source as it is done (boxes, landmarks, which face was taken), and a
    rerun skips those. DST/alignment.json records the method, so `faceprint train` can record it in the model.
    `shard` "i/n": this process takes every n-th image from the i-th and records them in manifest.shard-i-of-n.jsonl;
    n such processes (on one machine or several sharing DST) together write what one would, and any later run
    (sharded or not) reads every manifest and skips what is done.
    """
    from faceprint.detection.registry import DEFAULT_DETECTOR, make_detector

    detector = detector or DEFAULT_DETECTOR
    index, count = parse_shard(shard)
    if method not in ALIGNMENTS:
        raise InputError(f"method must be one of {ALIGNMENTS}, got {method!r}")
    src, dst = Path(src), Path(dst)
    if not src.is_dir():
        raise MissingFileError(f"no such folder: {src}")
    dst.mkdir(parents=True, exist_ok=True)
    settings = {"method": method, "size": size, "margin": margin, "select": select, "min_face": min_face,
                "detector": detector}
    det = make_detector(detector, min_face)
    points = det.settings().get("landmarks")  # YuNet's: where its points come from
    if recorded_alignment(dst) is None:  # shards starting together all write the same record, each atomically
        write_alignment(dst, method, size, margin, select=select, min_face=min_face, source=str(src),
                        detector=detector, landmarks=points)
    old = recorded_alignment(dst)
    if old != {"method": method, "size": size, "margin": float(margin)} or recorded_detector(dst) != detector:
        raise InputError(f"{dst} was aligned with {old} by {recorded_detector(dst)}; use the same settings and "
                         "detector, or another folder")
    if recorded_points(dst) != points:  # the same detector name, other points: the crops would not match
        raise InputError(f"{dst} was aligned by {detector} with its points from {recorded_points(dst)!r}, and this "
                         f"faceprint takes them from {points!r}; align into another folder")
    manifest = dst / ("manifest.jsonl" if count == 1 else f"manifest.shard-{index}-of-{count}.jsonl")
    done: set[str] = set()
    for m in sorted(dst.glob("manifest*.jsonl")):
        for line in m.read_text().splitlines():
            try:
                done.add(json.loads(line)["source"])
            except (ValueError, KeyError):
                continue  # a line cut by a kill: that image is simply redone
    files = sorted(p for p in src.rglob("*") if is_image_file(p))  # unreadable ones are reported, not dropped
    if not files:
        raise InputError(f"{src}: no images")
    files = files[index::count]
    report = AlignReport(total=len(files))
    todo = []
    for p in files:
        if str(p) in done:
            report.already_done += 1
            continue
        out = dst / p.relative_to(src).with_suffix(f".{ext}")
        out.parent.mkdir(parents=True, exist_ok=True)
        todo.append((str(p), str(out)))
    # a worker killed while saving leaves its temporary file (OUT.tmpPID.ext); that image is not in the manifest, so
    # it is redone now, and the leftover goes (only this run's images: a shard beside it owns its own)
    pending = {out for _, out in todo}
    for stale in dst.rglob("*.tmp*"):
        if str(stale).rsplit(".tmp", 1)[0] in pending:
            stale.unlink(missing_ok=True)
    if debug:
        (dst / "debug").mkdir(exist_ok=True)
        for p in files[:debug]:
            img = read_image(p)
            draw_faces(img, det.detect([img])[0], dst / "debug" / f"{p.parent.name}_{p.stem}.png")
    batches = [todo[i : i + chunk] for i in range(0, len(todo), chunk)]
    workers = workers or min(len(os.sched_getaffinity(0)), 4)
    bar = tqdm(total=len(todo), desc="aligning", unit="img", disable=not progress)
    with open(manifest, "a") as man, ProcessPoolExecutor(workers, initializer=_init_worker,
                                                         initargs=(settings,)) as pool:
        for recs in pool.map(_process, batches):
            for r in recs:
                man.write(json.dumps(r) + "\n")
                if r["status"] == "unreadable":
                    report.unreadable.append(f"{r['source']}: {r['reason']}")
                elif r["status"] == "no_face":
                    report.no_face.append(r["source"])
                else:
                    report.aligned += 1
                    if r["status"] == "several":
                        report.several_faces.append(f"{r['source']}: {len(r['faces'])} faces, took {r['taken']}")
            man.flush()
            bar.update(len(recs))
    bar.close()
    name = "align_report.json" if count == 1 else f"align_report.shard-{index}-of-{count}.json"
    atomic_write_text(dst / name, json.dumps(report.__dict__, indent=1))
    return report
