"""Scanning a folder tree into a library, incrementally.

A file is read again only when its size or mtime changed (or always, with full=True), and then only hashed: a
content the library knows already (a photo moved, renamed, copied or touched) keeps its faces, people and names;
only new contents go through detection and the embedding network. Files that are gone are forgotten, and with them
the faces of any content no file holds any more.

Work is committed as it goes, a batch of photos with their faces per transaction, so a scan killed at any moment
(kill -9) and run again goes on from what was committed and ends where one uninterrupted scan would have. Several
processes can scan one folder into one PostgreSQL library (`shard=(i, n)`: the files whose path hashes to i mod n);
forgetting vanished contents and grouping then run once, after them (Library.group).
"""

from __future__ import annotations

import os
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from faceprint.applications.library.store import LibraryMixin, NewContent, NewFace
from faceprint.data.images import ImageReadError, is_image_file
from faceprint.detection.pipeline import NoFaceError
from faceprint.pipeline import Pipeline
from faceprint.utils.io import file_sha256

BATCH = 64  # photos per transaction


@dataclass
class ScanReport:
    files: int = 0  # image files under the folder (this shard's)
    unchanged: int = 0  # not read: same size and mtime as the library has
    known: int = 0  # read and hashed, content the library has (moved, copied, touched)
    new: int = 0  # new contents detected and embedded now
    faces: int = 0  # faces added
    unreadable: list[str] = field(default_factory=list)  # "path: why", found now
    forgotten_files: int = 0
    forgotten_faces: int = 0
    grouping: dict[str, int] | None = None
    seconds: float = 0.0

    def summary(self) -> str:
        return (f"{self.files} photos: {self.new} new ({self.faces} faces), {self.known} known by content, "
                f"{self.unchanged} unchanged, {len(self.unreadable)} unreadable; {self.forgotten_files} files gone "
                f"({self.forgotten_faces} faces forgotten) in {self.seconds:.1f} s")


def in_shard(path: str, shard: tuple[int, int]) -> bool:
    return shard[1] == 1 or zlib.crc32(path.encode()) % shard[1] == shard[0]


def walk(root: Path) -> list[str]:
    """Relative paths (with /) of the image files under root, recursively, sorted; hidden files and folders (a dot
    first) left out, as photo tools keep their caches there."""
    out = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        rel = Path(folder).relative_to(root)
        out += [(rel / f).as_posix() for f in files if not f.startswith(".") and is_image_file(f)]
    return sorted(out)


EXIF_ORIENTATION, EXIF_IFD, DATETIME_ORIGINAL, DATETIME = 0x0112, 0x8769, 0x9003, 0x0132


def photo_facts(path: Path) -> tuple[int, int, str | None]:
    """(width, height) as shown (EXIF orientation applied) and the taken date (EXIF DateTimeOriginal, else
    DateTime) as YYYY-MM-DDTHH:MM:SS, from the header only."""
    try:
        with Image.open(path) as im:
            w, h = im.size
            exif = im.getexif()
            if exif.get(EXIF_ORIENTATION) in (5, 6, 7, 8):
                w, h = h, w
            taken = exif.get_ifd(EXIF_IFD).get(DATETIME_ORIGINAL) or exif.get(DATETIME)
    except Exception:  # noqa: BLE001  # the photo was decoded already; odd metadata only loses the date
        return 0, 0, None
    if isinstance(taken, str) and len(taken) >= 19 and taken[:4].isdigit():
        return w, h, f"{taken[:4]}-{taken[5:7]}-{taken[8:10]}T{taken[11:19]}"
    return w, h, None


def scan(library: LibraryMixin, pipeline: Pipeline, root: str | Path, shard: tuple[int, int] = (0, 1),
         full: bool = False, threshold: float | None = None, group: bool = True, batch: int = BATCH,
         progress: bool = True, log: Callable[[str], None] = lambda s: None) -> ScanReport:
    """Bring the library up to date with the folder (this shard's part of it), then group the new faces (when
    not sharded and `group`, at `threshold`, the model's library cut by default)."""
    from tqdm import tqdm

    start = time.perf_counter()
    report = ScanReport()
    root = Path(root).resolve()
    if not root.is_dir():
        raise ImageReadError(root, "not a folder")
    library.set_root(root)
    files = [p for p in walk(root) if in_shard(p, shard)]
    report.files = len(files)
    rows = library.photo_rows()
    contents = library.known_contents()
    todo: dict[str, list[tuple[str, int, int]]] = {}  # new content -> its files
    known: list[tuple[str, str, int, int]] = []
    for rel in tqdm(files, desc="checking files", unit="file", disable=not progress or len(files) < 2000,
                    leave=False):
        try:
            st = os.stat(root / rel)
        except OSError as e:
            report.unreadable.append(f"{rel}: {e.strerror or e}")
            continue
        row = rows.get(rel)
        if row is not None and not full and row[1] == st.st_size and row[2] == st.st_mtime_ns:
            report.unchanged += 1
            continue
        try:
            sha = file_sha256(root / rel)
        except OSError as e:
            report.unreadable.append(f"{rel}: {e.strerror or e}")
            continue
        if sha in contents:
            if row is None or row[0] != sha or (row[1], row[2]) != (st.st_size, st.st_mtime_ns):
                known.append((rel, sha, st.st_size, st.st_mtime_ns))
            report.known += 1
        else:
            todo.setdefault(sha, []).append((rel, st.st_size, st.st_mtime_ns))
    for s in range(0, len(known), 5000):
        library.add([], known[s : s + 5000])
    if todo:
        _detect(library, pipeline, root, todo, report, batch, progress)
    seen = set(files)
    gone = [p for p in rows if p not in seen and in_shard(p, shard)]
    report.forgotten_files, report.forgotten_faces = library.forget(gone, orphans=shard[1] == 1)
    if shard[1] == 1 and group:
        if threshold is None:
            from faceprint.thresholds import library_threshold

            threshold = library_threshold(pipeline.model)[0]
        report.grouping = library.group(threshold)
    report.seconds = time.perf_counter() - start
    return report


def _detect(library: LibraryMixin, pipeline: Pipeline, root: Path, todo: dict[str, list[tuple[str, int, int]]],
            report: ScanReport, batch: int, progress: bool) -> None:
    """Detect and embed the new contents (one file of each, in worker processes), committing `batch` photos at a
    time."""
    from tqdm import tqdm

    aligner = pipeline.aligner
    aligner.keep_crops = True
    order = list(todo)
    pending: list[NewContent] = []

    def commit() -> None:
        report.faces += library.add(pending)
        pending.clear()

    found = aligner.align_many([str(root / todo[sha][0][0]) for sha in order], pipeline.workers,
                               embed=pipeline.model, flip=pipeline.flip)
    bar = tqdm(total=len(order), desc="scanning", unit="photo", disable=not progress)
    faces = 0
    for sha, (_, result) in zip(order, found):
        content = NewContent(sha, todo[sha])
        if isinstance(result, ImageReadError) and not isinstance(result, NoFaceError):
            content.error = result.reason
            report.unreadable.append(f"{todo[sha][0][0]}: {result.reason}")
        else:
            content.width, content.height, content.taken = photo_facts(root / todo[sha][0][0])
            content.faces = [] if isinstance(result, NoFaceError) else [
                NewFace(f.index, f.face.box, f.face.landmarks, float(f.face.score), f.embedding, f.crop)
                for f in result]
            faces += len(content.faces)
        pending.append(content)
        report.new += 1
        bar.update()
        bar.set_postfix(faces=faces, refresh=False)
        if len(pending) >= batch:
            commit()
    commit()
    bar.close()
