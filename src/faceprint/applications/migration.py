"""Moving a gallery to another model: every enrolled face detected and embedded again, then one switch.

For users it is all or nothing: the gallery keeps answering with its old model until `Gallery.switch` replaces
every embedding and the model in one transaction. For the work it is not: new embeddings are staged in the gallery
(`Gallery.stage`, a batch per transaction) as they are made, so a killed migration, run again, goes on from where it
stopped. Faces enrolled while it runs are staged before the switch (the switch refuses while any face is unstaged).

Each face comes from its stored crop (faceprint.detection.crops): the new model's detector runs on the crop and the
face that overlaps the one found at enrollment most is aligned the new model's way. If the detector finds no such
face there, the face is aligned from the landmarks stored at enrollment, and listed. A gallery without crops reads
the original photos again (`photos`: the folder their enrolled paths are relative to), and only a photo whose
content hash is the enrolled one is used.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from faceprint.applications.identification import Gallery, GalleryError, StoredFace
from faceprint.data.images import ImageReadError, read_image
from faceprint.detection.alignment import align_face
from faceprint.detection.detector import Detector, Face, select_faces
from faceprint.models.interface import Embedder
from faceprint.utils.io import file_sha256

MIN_OVERLAP = 0.3  # intersection over union with the enrolled face, under which a detection is another face


@dataclass
class MigrationReport:
    target: str
    moved: int = 0
    already: bool = False  # the gallery was this model's already
    resumed: int = 0  # faces staged by an earlier, interrupted run
    from_landmarks: list[str] = field(default_factory=list)  # "source: why" re-aligned from enrollment landmarks
    dropped: list[str] = field(default_factory=list)  # "source: why" for faces that could not be embedded again
    seconds: float = 0.0

    def summary(self) -> str:
        if self.already:
            return f"the gallery already belongs to model {self.target}: nothing to do"
        return (f"moved to model {self.target}: {self.moved} faces embedded again"
                + (f" ({self.resumed} of them staged by an earlier run)" if self.resumed else "")
                + (f", {len(self.from_landmarks)} from the landmarks found at enrollment"
                   if self.from_landmarks else "")
                + (f"; {len(self.dropped)} faces could not be and were removed" if self.dropped else "")
                + f" in {self.seconds:.1f} s")


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
    return float(w * h / union) if union > 0 else 0.0


def _photo(root: Path, face: StoredFace) -> np.ndarray | None:
    """The enrolled photo under `root` (its path as enrolled, then shorter tails of it), if its content is unchanged."""
    src = Path(face.source)
    tails = [Path(*src.parts[i:]) for i in range(len(src.parts)) if not Path(*src.parts[i:]).is_absolute()]
    for path in ([src] if src.is_absolute() else []) + [root / t for t in tails]:
        if path.is_file() and file_sha256(path) == face.content_sha256:
            return read_image(path)
    return None


class Migrator:
    """Detect, align and embed stored faces with the new model."""

    def __init__(self, model: Embedder, detector: Detector | None = None, photos: Path | None = None) -> None:
        if detector is None:
            from faceprint.detection.registry import make_detector

            detector = make_detector(min_face=20.0)  # the enrollment default; a crop never shrinks a face under ~130 px
        self.model, self.detector, self.photos = model, detector, photos
        self.pre = model.preprocessing

    def _face(self, stored: StoredFace) -> tuple[np.ndarray, Face] | str:
        """(image, face to align) or why there is none; a face from enrollment landmarks is marked by score -1."""
        if stored.crop is not None:
            try:
                image = stored.crop.image()
            except (OSError, ValueError) as e:  # a damaged row: said, and the face is dropped, not the migration
                return f"the stored crop cannot be decoded ({e})"
            enrolled = stored.crop.face()
            found = self.detector.detect([image])[0]
            if enrolled is not None:
                best = max(found, key=lambda f: _iou(f.box, enrolled.box), default=None)
                if best is not None and _iou(best.box, enrolled.box) >= MIN_OVERLAP:
                    return image, best
                enrolled.score = -1.0
                return image, enrolled
            chosen = select_faces(found, image.shape, "best")
            return (image, chosen[0]) if chosen else "no face found in the stored crop"
        if self.photos is None:
            return "no crop stored (give the photos' folder)"
        try:
            image = _photo(self.photos, stored)
        except ImageReadError as e:
            return f"the photo cannot be read ({e.reason})"
        if image is None:
            return f"photo not found under {self.photos} with the enrolled content"
        found = self.detector.detect([image])[0]
        # which face: the enrollment's default (the best face) for index 0, else the detector's order
        chosen = select_faces(found, image.shape, "best") if stored.face_index == 0 else found[stored.face_index:][:1]
        return (image, chosen[0]) if chosen else "no face found in the photo"

    def embed(self, faces: list[StoredFace]) -> list[tuple[int, np.ndarray | None, str]]:
        """(face id, new embedding or None, note) for each face."""
        rows: list[tuple[int, np.ndarray | None, str]] = []
        aligned, where = [], []
        for f in faces:
            got = self._face(f)
            if isinstance(got, str):
                rows.append((f.id, None, got))
                continue
            image, face = got
            aligned.append(self.pre.from_array(align_face(image, face, self.pre.alignment, self.pre.align_size,
                                                          self.pre.margin)))
            where.append(len(rows))
            note = ("no face re-detected in the stored crop: aligned from the enrollment landmarks"
                    if face.score < 0 else "")
            rows.append((f.id, None, note))
        if aligned:
            emb = self.model.embed(np.stack(aligned))
            for k, e in zip(where, emb):
                rows[k] = (rows[k][0], e, rows[k][2])
        return rows


def migrate(gallery: Gallery, model: Embedder, photos: str | Path | None = None, batch: int = 64,
            detector: Detector | None = None, progress: bool = True,
            log: Callable[[str], None] = lambda s: None) -> MigrationReport:
    """Embed every face of `gallery` again with `model` (resuming any staged work) and move the gallery to it."""
    start = time.perf_counter()
    target = model.fingerprint
    report = MigrationReport(target)
    if gallery.fingerprint == target:
        report.already = True
        return report
    faces = gallery.stored_faces()
    if photos is None and any(f.crop is None for f in faces):
        bare = sum(f.crop is None for f in faces)
        raise GalleryError(f"{bare} of its {len(faces)} faces have no stored crop, so the original photos are "
                           "needed: give the folder their enrolled paths are relative to (--photos DIR)", gallery.path)
    migrator = Migrator(model, detector, Path(photos) if photos is not None else None)
    report.resumed = len(gallery.staged(target))
    while True:
        staged = gallery.staged(target)
        todo = [f for f in faces if f.id not in staged]
        with tqdm(total=len(todo), desc="embedding again", unit="face", disable=not progress or not todo) as bar:
            for s in range(0, len(todo), batch):
                chunk = todo[s : s + batch]
                rows = migrator.embed(chunk)
                gallery.stage(target, rows)
                bar.update(len(chunk))
        switched = gallery.switch(target, model.config.embedding_size, model.distance)
        if switched is not None:
            break
        log("faces were enrolled during the migration: embedding them too")
        faces = gallery.stored_faces()
    report.moved, report.dropped, report.from_landmarks = switched
    report.seconds = time.perf_counter() - start
    return report
