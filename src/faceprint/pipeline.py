"""One path from a photo to a decision, with the model's own preprocessing, distance and thresholds:

    photo or crop -> faces (box, landmarks, score) -> aligned face -> embedding -> distance -> decision

The command line, the service, the demo, the evaluation protocols and the Python API (`faceprint.verify`, ...) all
go through a `Pipeline`, so the same photos give the same distance and the same answer everywhere.

Input is "photos" (detect and align each face as the model's preprocessing says), "crops" (the images already are
face crops like the model's training images) or "auto": a folder made by `align_folder` with the model's own
alignment holds crops, anything else is photos.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from faceprint.data.alignment import recorded_alignment
from faceprint.embeddings import EmbeddingSet, embed_paths, embed_photos, list_images
from faceprint.errors import InputError
from faceprint.thresholds import verification_threshold

if TYPE_CHECKING:
    from faceprint.detection.detector import Detector
    from faceprint.detection.pipeline import AlignedFace, FaceAligner
    from faceprint.distances import Distance
    from faceprint.models.interface import Embedder

INPUTS = ("photos", "crops", "auto")
NO_FACE = ("skip", "centre_crop")
Image = str | Path | np.ndarray  # a file, or an RGB (H, W, 3) uint8 array


def resolve_input(model: Embedder, choice: str, source: str | Path | None = None) -> str:
    """'auto' made concrete: crops only for a folder whose alignment record names the model's alignment."""
    if choice not in INPUTS:
        raise InputError(f"input must be one of {INPUTS}, got {choice!r}")
    if choice != "auto":
        return choice
    folder = Path(source) if source is not None else None
    if folder is None or not folder.is_dir():
        return "photos"
    rec = recorded_alignment(folder)
    return "crops" if rec is not None and rec["method"] == model.preprocessing.alignment else "photos"


@dataclass
class Comparison:
    """Two faces, one distance, one threshold, one decision."""

    distance: float
    threshold: float
    same: bool
    distance_name: str
    box_a: list[float] | None = None  # where each face is in its photo (None for crops)
    box_b: list[float] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _box(row: np.ndarray) -> list[float] | None:
    return None if np.isnan(row).any() else [round(float(v), 1) for v in row]


class Pipeline:
    """A model bound to how its inputs are read. Cheap to make; the face detector is created on first use."""

    def __init__(self, model: Embedder, input: str = "photos", select: str = "best", min_face: float = 20.0,
                 flip: str | None = None, fps: float = 1.0, workers: int | None = None, cache_dir: Path | None = None,
                 progress: bool = False, no_face: str = "skip", detector: Detector | str | None = None,
                 keep_crops: bool = False) -> None:
        if input not in INPUTS:
            raise InputError(f"input must be one of {INPUTS}, got {input!r}")
        if no_face not in NO_FACE:
            raise InputError(f"no_face must be one of {NO_FACE}, got {no_face!r}")
        self.model, self.input, self.select, self.min_face = model, input, select, min_face
        self.flip, self.fps, self.workers, self.cache_dir = flip, fps, workers, cache_dir
        self.progress, self.no_face = progress, no_face
        self._aligner: FaceAligner | None = None
        # a Detector, or a name (faceprint.detection.registry: "yunet", the default; "mtcnn"), looking for faces of
        # min_face pixels and up
        self._detector = detector
        # each row of embed() also carries the FaceCrop a gallery keeps (EmbeddingSet.crops), for enrollment
        self.keep_crops = keep_crops

    @property
    def distance(self) -> Distance:
        return self.model.distance

    @property
    def aligner(self) -> FaceAligner:
        """Detection and alignment as the model's preprocessing records them (made on first use, then kept)."""
        if self._aligner is None:
            from faceprint.detection.pipeline import FaceAligner

            self._aligner = FaceAligner(self.model.preprocessing, self._detector, select=self.select,
                                        min_face=self.min_face, keep_crops=self.keep_crops)
        return self._aligner

    # -- photo -> faces -> aligned face -------------------------------------------------------------------------
    def faces(self, image: np.ndarray, name: str = "") -> list[AlignedFace]:
        """The selected faces of one RGB photo: box, landmarks, score and the aligned crop of each."""
        return self.aligner.align(image, name)

    def embed_faces(self, faces: Sequence[AlignedFace]) -> np.ndarray:
        """(N, D) embeddings of aligned faces."""
        if not faces:
            return np.zeros((0, self.model.config.embedding_size), np.float32)
        pre = self.model.preprocessing
        return self.model.embed(np.stack([pre.from_array(f.image) for f in faces]), flip=self.flip)

    # -- photo or crop -> embedding -----------------------------------------------------------------------------
    def embed(self, images: Sequence[Image], identities: Sequence[str] | None = None,
              source: str | Path | None = None) -> EmbeddingSet:
        """Embeddings of files or RGB arrays; a photo gives a row per selected face, an unreadable or faceless
        one is listed in `skipped` (or, with no_face="centre_crop", embedded from its centre crop and listed in
        `fallbacks`). `source`: the folder they came from, which input="auto" looks at."""
        mode = resolve_input(self.model, self.input, source)
        arrays = [isinstance(x, np.ndarray) for x in images]
        if any(arrays) and not all(arrays):
            raise InputError("give files or arrays, not both")
        if any(arrays):
            if mode == "crops":
                return self._embed_crop_arrays(list(images), identities)
            items: list = [(f"<array {i}>", im) for i, im in enumerate(images)]
        else:
            items = [Path(p) for p in images]
        if mode == "crops":
            from faceprint.data.video import is_video_file

            videos = [p for p in items if is_video_file(p)]
            if videos:
                raise InputError(f"{videos[0]}: a video's frames are photos, not face crops")
            es = embed_paths(self.model, items, identities, flip=self.flip, cache_dir=self.cache_dir,
                             progress=self.progress)
            if self.keep_crops:
                from faceprint.data.images import read_image
                from faceprint.detection.crops import image_crop

                es.crops = [image_crop(read_image(p)) for p in es.paths]
            return es
        es = embed_photos(self.model, items, identities, select=self.select, flip=self.flip, progress=self.progress,
                          aligner=self.aligner, workers=self.workers, fps=self.fps, min_face=self.min_face)
        if self.no_face == "centre_crop":
            self._centre_crop_fallback(es, identities, items)
        return es

    def embed_folder(self, root: str | Path) -> EmbeddingSet:
        """A folder per identity (identities from the folder names), a flat folder, or one file."""
        paths, ids = list_images(root)
        return self.embed(paths, ids, source=root)

    def _embed_crop_arrays(self, images: list[np.ndarray], identities: Sequence[str] | None) -> EmbeddingSet:
        emb = self.model.embed(images, flip=self.flip)
        n = len(images)
        es = EmbeddingSet(emb, [f"<array {i}>" for i in range(n)], list(identities or [""] * n),
                          *self.model.embedding_identity(self.flip))
        if self.keep_crops:
            from faceprint.detection.crops import image_crop

            es.crops = [image_crop(im) for im in images]
        return es

    def _centre_crop_fallback(self, es: EmbeddingSet, identities: Sequence[str] | None, items: list) -> None:
        """Photos where no face was found, embedded from their centre crop (as the FaceNet paper did for LFW)."""
        no_face = [s.rsplit(": ", 1)[0] for s in es.skipped if s.endswith("no face found")]
        if not no_face:
            return
        ids = dict(zip(map(str, (i[0] if isinstance(i, tuple) else i for i in items)), identities or [""] * len(items)))
        arrays = {i[0]: i[1] for i in items if isinstance(i, tuple)}
        if arrays:
            crops = self._embed_crop_arrays([arrays[n] for n in no_face], [ids[n] for n in no_face])
            crops.paths = no_face
        else:
            crops = embed_paths(self.model, [Path(n) for n in no_face], [ids[n] for n in no_face], flip=self.flip,
                                cache_dir=self.cache_dir, progress=False)
        es.embeddings = np.concatenate([es.embeddings, crops.embeddings])
        es.paths += crops.paths
        es.identities += crops.identities
        es.boxes = np.concatenate([es.boxes, crops.boxes])
        es.face_index = np.concatenate([es.face_index, crops.face_index])
        if es.crops is not None:
            es.crops += crops.crops or [None] * len(crops.paths)
        es.skipped = [s for s in es.skipped if not s.endswith("no face found")] + crops.skipped
        es.fallbacks = list(no_face)

    # -- embedding -> distance -> decision ----------------------------------------------------------------------
    def distances(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Row i of a against row i of b, in the model's distance."""
        return self.distance.paired(np.atleast_2d(a), np.atleast_2d(b))

    def same(self, d: Any, threshold: float) -> Any:
        return self.distance.same(d, threshold)

    def compare(self, a: Image, b: Image, threshold: float | None = None) -> list[Comparison]:
        """Every selected face of a against every selected face of b (one pair with select="best")."""
        t = verification_threshold(self.model, threshold)
        sides = []
        for image in (a, b):
            es = self.embed([image])
            if not len(es.paths):
                from faceprint.data.images import ImageReadError
                from faceprint.detection.pipeline import NoFaceError

                name = "<array>" if isinstance(image, np.ndarray) else str(image)
                reason = es.skipped[0].rsplit(": ", 1)[-1] if es.skipped else "no face found"
                raise (NoFaceError if reason == "no face found" else ImageReadError)(name, reason)
            sides.append(es)
        ea, eb = sides
        i, j = np.meshgrid(np.arange(len(ea.paths)), np.arange(len(eb.paths)), indexing="ij")
        d = self.distances(ea.embeddings[i.ravel()], eb.embeddings[j.ravel()])
        return [Comparison(float(dd), t, bool(self.same(float(dd), t)), self.distance.name, _box(ea.boxes[x]),
                           _box(eb.boxes[y])) for dd, x, y in zip(d, i.ravel(), j.ravel())]

    def verify(self, a: Image, b: Image, threshold: float | None = None) -> Comparison:
        """Same person? The first selected face of each (the detector's best, by default)."""
        return self.compare(a, b, threshold)[0]
