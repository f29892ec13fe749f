"""Raw photos to model-ready face images: read, detect, choose faces, align as the model was trained."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
    embedding: np.ndarray | None = None  # align_many(embed=...): the model's embedding, made in the worker


class NoFaceError(ImageReadError):
    """A photo in which the detector found no face."""


Item = str | Path | tuple[str, np.ndarray]  # a photo file, or a named RGB array (e.g. a video frame)
_WORKER: dict = {}
PARALLEL_FROM = 48  # photos: below this, starting worker processes (~2 s each) costs more than it saves


def _init_worker(pre: Preprocessing, select: str, recipe: tuple[type, dict], keep_crops: bool,
                 embed: tuple[Any, dict, str | None] | None = None) -> None:
    from faceprint.utils.runtime import die_with_parent, set_threads, tune_malloc

    die_with_parent()
    set_threads(1)  # one thread per process: the processes share the cores without oversubscription
    tune_malloc()
    cls, kwargs = recipe
    _WORKER["aligner"] = FaceAligner(pre, cls(**kwargs, threads=1), select=select, min_face=kwargs["min_face"],
                                     keep_crops=keep_crops)
    if embed is not None:
        maker, model_kwargs, flip = embed
        _WORKER["embed"] = (maker(**model_kwargs, threads=1), flip)


def _align_chunk(items: list[Item]) -> list[list[AlignedFace] | ImageReadError]:
    found = _WORKER["aligner"].align_batch(items)
    if "embed" in _WORKER:
        _embed_found(found, *_WORKER["embed"])
    return found


def _embed_found(found: list[list[AlignedFace] | ImageReadError], model: Any, flip: str | None) -> None:
    """Each face's embedding, in place; the aligned image is dropped (the embedding is what was wanted of it)."""
    faces = [f for fs in found if not isinstance(fs, ImageReadError) for f in fs]
    if not faces:
        return
    pre = model.preprocessing
    emb = model.embed(np.stack([pre.from_array(f.image) for f in faces]), flip=flip)
    for f, e in zip(faces, emb):
        f.embedding, f.image = e, np.zeros((0, 0, 3), np.uint8)


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


@contextmanager
def _forking() -> Iterator[None]:
    """Around the fork of worker processes: garbage is collected here first, and what is left is frozen so that the
    children's garbage collector never finalises it. An onnxruntime session that was garbage at the fork and
    collected in a child waits there forever on its thread pool, whose threads the child does not have."""
    import gc

    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


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

    def align_many(self, items: Iterable[Item], workers: int | None = None, chunk: int = 16, embed: Any = None,
                   flip: str | None = None) -> Iterator[tuple[str, list[AlignedFace] | ImageReadError]]:
        """(name, faces or error) for every photo, in order; photos are files or (name, RGB array) pairs, e.g.
        a video's frames, consumed as they come. Decoding and detection run in `workers` processes (default:
        one per core, from PARALLEL_FROM photos on or for a stream of unknown length, for a detector that
        `Detector.recipe` can rebuild there, as faceprint's own), with a few chunks in flight so a long stream never
        sits in memory whole.

        `embed`: a model whose embedding of each face (AlignedFace.embedding) is made where the face was found: in
        the workers too, when the model has a `recipe()`; each worker's one thread then detects and embeds, which
        on two cores beats a two-thread network in this process beside two detection workers (a library's first scan
        of LFW: 102 s against ~150 s)."""
        recipe = self.detector.recipe()
        if workers is None:
            many = len(items) >= PARALLEL_FROM if isinstance(items, Sequence) else True
            workers = len(os.sched_getaffinity(0)) if many else 1
        chunks = _chunked(items, chunk)
        model_recipe = getattr(embed, "recipe", lambda: None)() if embed is not None else None
        if workers <= 1 or recipe is None or (embed is not None and model_recipe is None):
            for c in chunks:
                found = self.align_batch(c)
                if embed is not None:
                    _embed_found(found, embed, flip)
                yield from zip(map(_name, c), found)
            return
        import multiprocessing
        import sys
        from collections import deque
        from concurrent.futures import ProcessPoolExecutor

        # fork (as torch's DataLoader does; each worker then runs one thread): spawn would re-run the caller's
        # main module, which breaks scripts without a __main__ guard and code typed into a REPL
        ctx = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")
        with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker,
                                 initargs=(self.pre, self.select, recipe, self.keep_crops,
                                           None if embed is None else (*model_recipe, flip))) as pool:
            pending: deque = deque()
            for c in chunks:
                if not pending:
                    with _forking():  # the first submit starts the worker processes
                        pending.append((c, pool.submit(_align_chunk, c)))
                    continue
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
