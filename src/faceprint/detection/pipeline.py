"""Raw photos to model-ready face images: read, detect, choose faces, align as the model was trained."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from faceprint.data.images import ImageReadError, read_image
from faceprint.data.transforms import Preprocessing
from faceprint.detection.alignment import align_face
from faceprint.detection.crops import FaceCrop, face_crop
from faceprint.detection.detector import Detector, Face, select_faces


@dataclass
class AlignedFace:
    source: str
    index: int  # the face's rank in its photo (0 = the detector's best)
    face: Face
    image: np.ndarray  # (align_size, align_size, 3) uint8, like the images the model was trained on
    crop: FaceCrop | None = None  # the region around the face, kept by a gallery (FaceAligner(keep_crops=True))


class NoFaceError(ImageReadError):
    """A photo in which the detector found no face."""


Item = str | Path | tuple[str, np.ndarray]  # a photo file, or a named RGB array (e.g. a video frame)
_WORKER: dict = {}
PARALLEL_FROM = 48  # photos: below this, starting worker processes (~2 s each) costs more than it saves


def _init_worker(pre: Preprocessing, select: str, recipe: tuple[type, dict], keep_crops: bool) -> None:
    from faceprint.utils.runtime import die_with_parent, set_threads, tune_malloc

    die_with_parent()
    set_threads(1)  # one thread per process: the processes share the cores without oversubscription
    tune_malloc()
    cls, kwargs = recipe
    _WORKER["aligner"] = FaceAligner(pre, cls(**kwargs, threads=1), select=select, min_face=kwargs["min_face"],
                                     keep_crops=keep_crops)


def _align_chunk(items: list[Item]) -> list[list[AlignedFace] | ImageReadError]:
    return _WORKER["aligner"].align_batch(items)


def _name(item: Item) -> str:
    return item[0] if isinstance(item, tuple) else str(item)


def _chunked(items: Iterable[Item], size: int) -> Iterator[list[Item]]:
    chunk: list[Item] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class FaceAligner:
    """Detect, select and align faces with the settings a model records in its preprocessing."""

    def __init__(self, pre: Preprocessing, detector: Detector | str | None = None, select: str = "all",
                 min_face: float = 20.0, keep_crops: bool = False) -> None:
        if detector is None or isinstance(detector, str):
            from faceprint.detection.registry import make_detector

            detector = make_detector(detector, min_face) if detector else make_detector(min_face=min_face)
        self.pre, self.detector, self.select, self.min_face = pre, detector, select, min_face
        self.keep_crops = keep_crops

    def _aligned(self, image: np.ndarray, faces: list[Face], source: str) -> list[AlignedFace]:
        chosen = select_faces(faces, image.shape, self.select)
        return [AlignedFace(source, i, f, align_face(image, f, self.pre.alignment, self.pre.align_size,
                                                     self.pre.margin), face_crop(image, f) if self.keep_crops else None)
                for i, f in enumerate(chosen)]

    def align(self, image: np.ndarray, source: str = "") -> list[AlignedFace]:
        return self._aligned(image, self.detector.detect([image])[0], source)

    def align_batch(self, items: Sequence[Item]) -> list[list[AlignedFace] | ImageReadError]:
        """Each photo's faces, or the error that says why it has none; the detector sees the photos together
        (MTCNN batches photos of one size and the candidates of all). An item is a file or (name, RGB array)."""
        out: list[list[AlignedFace] | ImageReadError] = []
        images: list[tuple[int, str, np.ndarray]] = []
        for item in items:
            name = _name(item)
            try:
                images.append((len(out), name, item[1] if isinstance(item, tuple) else read_image(item)))
                out.append([])
            except ImageReadError as e:
                out.append(e)
        found = self.detector.detect([im for _, _, im in images]) if images else []
        for (i, name, im), faces in zip(images, found):
            aligned = self._aligned(im, faces, name)
            out[i] = aligned if aligned else NoFaceError(name, "no face found")
        return out

    def align_many(self, items: Iterable[Item], workers: int | None = None, chunk: int = 16
                   ) -> Iterator[tuple[str, list[AlignedFace] | ImageReadError]]:
        """(name, faces or error) for every photo, in order; photos are files or (name, RGB array) pairs, e.g.
        a video's frames, consumed as they come. Decoding and detection run in `workers` processes (default:
        one per core, from PARALLEL_FROM photos on or for a stream of unknown length, for a detector that
        `Detector.recipe` can rebuild there, as faceprint's own), with a few chunks in flight so a long stream never
        sits in memory whole."""
        recipe = self.detector.recipe()
        if workers is None:
            many = len(items) >= PARALLEL_FROM if isinstance(items, Sequence) else True
            workers = len(os.sched_getaffinity(0)) if many else 1
        chunks = _chunked(items, chunk)
        if workers <= 1 or recipe is None:
            for c in chunks:
                yield from zip(map(_name, c), self.align_batch(c))
            return
        import multiprocessing
        import sys
        from collections import deque
        from concurrent.futures import ProcessPoolExecutor

        # fork (as torch's DataLoader does; each worker then runs one thread): spawn would re-run the caller's
        # main module, which breaks scripts without a __main__ guard and code typed into a REPL
        ctx = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")
        with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker,
                                 initargs=(self.pre, self.select, recipe, self.keep_crops)) as pool:
            pending: deque = deque()
            for c in chunks:
                pending.append((c, pool.submit(_align_chunk, c)))
                if len(pending) > 2 * workers:
                    done, fut = pending.popleft()
                    yield from zip(map(_name, done), fut.result())
            while pending:
                done, fut = pending.popleft()
                yield from zip(map(_name, done), fut.result())

    def align_path(self, path: str | Path) -> list[AlignedFace]:
        """Faces of one photo; ImageReadError if unreadable, NoFaceError if no face is found."""
        faces = self.align(read_image(path), str(path))
        if not faces:
            raise NoFaceError(path, "no face found")
        return faces
