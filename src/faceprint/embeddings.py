"""Embeddings in bulk, and the file format every command reuses so that a folder is embedded once.

Format (`.npz`, numpy's zip of arrays; read it with `numpy.load(path)` or `EmbeddingSet.load`):
    embeddings   (N, D) float32, unit vectors
    paths        (N,) str, the image files
    identities   (N,) str, the folder name of each image ("" where the layout has none)
    fingerprint  () str, the model's fingerprint: sets from different models are never compared
    config       () str, the model's config as JSON (backbone, preprocessing, distance, threshold)
    skipped      (M,) str, "path: reason" for each image that could not be read or had no face
    boxes        (N, 4) float32, the face's box in its photo (x1, y1, x2, y2; NaN for images given as crops)
    face_index   (N,) int, which face of its photo (0 = the detector's best)
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from faceprint.data import DecodedImages, FaceDataset
from faceprint.data.images import is_image_file
from faceprint.errors import InputError, MissingFileError, ModelMismatchError
from faceprint.models.interface import Embedder
from faceprint.utils.io import atomic_write

if TYPE_CHECKING:
    from faceprint.detection.pipeline import FaceAligner


@dataclass
class EmbeddingSet:
    embeddings: np.ndarray
    paths: list[str]
    identities: list[str]
    fingerprint: str
    config: dict
    skipped: list[str] = field(default_factory=list)
    boxes: np.ndarray | None = None
    face_index: np.ndarray | None = None
    fallbacks: list[str] = field(default_factory=list)  # photos embedded from a centre crop (not saved)
    crops: list | None = None  # per row, the FaceCrop a gallery keeps (when asked for; not saved)

    def __post_init__(self) -> None:
        n = len(self.paths)
        if self.boxes is None:
            self.boxes = np.full((n, 4), np.nan, np.float32)
        if self.face_index is None:
            self.face_index = np.zeros(n, np.int64)

    def save(self, path: str | Path) -> None:
        buf = io.BytesIO()
        np.savez(buf, embeddings=self.embeddings.astype(np.float32), paths=np.array(self.paths, dtype=str),
                 identities=np.array(self.identities, dtype=str), fingerprint=np.array(self.fingerprint),
                 config=np.array(json.dumps(self.config)), skipped=np.array(self.skipped, dtype=str),
                 boxes=np.asarray(self.boxes, np.float32), face_index=np.asarray(self.face_index, np.int64))
        atomic_write(path, lambda f: f.write(buf.getbuffer()))

    @classmethod
    def load(cls, path: str | Path) -> EmbeddingSet:
        try:
            z = np.load(path, allow_pickle=False)
            return cls(z["embeddings"], [str(p) for p in z["paths"]], [str(i) for i in z["identities"]],
                       str(z["fingerprint"]), json.loads(str(z["config"])), [str(s) for s in z["skipped"]],
                       z["boxes"], z["face_index"])
        except (OSError, KeyError, ValueError) as e:
            raise InputError(f"{path}: not a faceprint embeddings file ({e})") from None

    @classmethod
    def concat(cls, sets: Sequence["EmbeddingSet"], fingerprint: str, config: dict, dim: int) -> "EmbeddingSet":
        """One set of the rows of several, in order (the pieces of one run)."""
        if any(s.fingerprint != fingerprint for s in sets):
            raise ModelMismatchError("pieces made by different models cannot be joined")
        emb = np.concatenate([s.embeddings for s in sets]) if sets else np.zeros((0, dim), np.float32)
        return cls(emb, [p for s in sets for p in s.paths], [i for s in sets for i in s.identities], fingerprint,
                   config, [x for s in sets for x in s.skipped],
                   np.concatenate([s.boxes for s in sets]) if sets else None,
                   np.concatenate([s.face_index for s in sets]) if sets else None)

    def check_model(self, model: Embedder, what: str = "embeddings") -> None:
        if model.fingerprint != self.fingerprint:
            made, uses = (self.config or {}).get("test_flip", "none"), model.config.test_flip
            why = f"; they were embedded with test-time flip {made}, the model uses {uses}" if made != uses else ""
            raise ModelMismatchError(f"these {what} were made by model {self.fingerprint}, not by the model given "
                                     f"({model.fingerprint}){why}")


def list_images(root: str | Path) -> tuple[list[Path], list[str]]:
    """Image files under `root`: a folder of folders (identity = folder name) or a flat folder of images."""
    root = Path(root)
    if root.is_file():
        return [root], [""]
    if not root.is_dir():
        raise MissingFileError(f"no such file or folder: {root}")
    try:
        ds = FaceDataset.from_folders(root)
        flat = sorted(p for p in root.iterdir() if is_image_file(p) and not p.is_dir())
        return ds.paths + flat, [ds.identities[i] for i in ds.labels] + [""] * len(flat)
    except ValueError:
        flat = sorted(p for p in root.iterdir() if is_image_file(p) and not p.is_dir())
        if not flat:
            raise InputError(f"{root}: no images (expected ROOT/<identity>/<image> or a folder of images)") from None
        return flat, [""] * len(flat)


def embed_paths(
    model: Embedder,
    paths: Sequence[Path],
    identities: Sequence[str] | None = None,
    flip: bool | str | None = None,
    batch_size: int = 128,
    cache_dir: Path | None = None,
    progress: bool = True,
) -> EmbeddingSet:
    """Decode (once, into the cache, for folders of 64+ images), embed in batches; unreadable images are skipped
    and listed, not fatal."""
    from faceprint.data import ImageReadError

    pre = model.preprocessing
    if len(paths) < 64:  # a handful of images: not worth a cache file
        arrays, bad, reasons = [], [], {}
        for i, p in enumerate(paths):
            try:
                arrays.append(pre.load(p))
            except ImageReadError as e:
                bad.append(i)
                reasons[i] = e.reason
        stored = np.stack(arrays) if arrays else np.zeros((0, pre.stored_size, pre.stored_size, 3), np.uint8)
    else:
        images = DecodedImages(paths, pre.load, pre.stored_size, pre.to_dict(), cache_dir, progress=progress)
        bad, reasons = images.bad, images.bad_reasons
        stored = images[np.setdiff1d(np.arange(len(paths)), bad)] if bad else images.array
    good = np.setdiff1d(np.arange(len(paths)), bad)
    emb = model.embed(stored, batch_size=batch_size, progress=progress, flip=flip)
    ids = list(identities) if identities is not None else [""] * len(paths)
    return EmbeddingSet(
        emb, [str(paths[i]) for i in good], [ids[i] for i in good], *model.embedding_identity(flip),
        [f"{paths[i]}: {reasons.get(i, 'unreadable')}" for i in bad],
    )


def embed_photos(
    model: Embedder,
    paths: Sequence[Path | tuple[str, np.ndarray]],
    identities: Sequence[str] | None = None,
    select: str = "all",
    flip: bool | str | None = None,
    progress: bool = True,
    aligner: FaceAligner | None = None,
    workers: int | None = None,
    fps: float = 1.0,
    min_face: float = 20.0,
    keep_crops: bool = False,
) -> EmbeddingSet:
    """Raw photos (files, or (name, RGB array) pairs): detect and align each face as the model expects, then embed.
    A photo without a face, or unreadable, is listed in `skipped` and the rest goes on; a photo with several faces
    gives a row per face.
    A video file gives its frames sampled at `fps` per second, each named `<file>#t=<seconds>`.
    Detection looks for faces of `min_face` pixels and up, in `workers` processes (FaceAligner.align_many: by
    default one per core for 48+ photos)."""
    from collections import deque

    from tqdm import tqdm

    from faceprint.data import ImageReadError
    from faceprint.data.video import frame_name, is_video_file, read_frames
    from faceprint.detection.pipeline import FaceAligner

    aligner = aligner or FaceAligner(model.preprocessing, select=select, min_face=min_face, keep_crops=keep_crops)
    ids = list(identities) if identities is not None else [""] * len(paths)
    stored, rows, skipped, crops = [], [], [], []
    owners: deque[str] = deque()  # the identity of each item handed to the aligner, in order

    def items():  # type: ignore[no-untyped-def]
        for path, ident in zip(paths, ids):
            if isinstance(path, tuple) or not is_video_file(path):
                owners.append(ident)
                yield path if isinstance(path, tuple) else str(path)
                continue
            try:
                for t, frame in read_frames(path, fps):
                    owners.append(ident)
                    yield frame_name(path, t), frame
            except ImageReadError as e:
                skipped.append(f"{path}: {e.reason}")

    videos = any(not isinstance(p, tuple) and is_video_file(p) for p in paths)
    source = items() if videos else list(items())
    found = aligner.align_many(source, workers)
    for name, faces in tqdm(found, total=None if videos else len(ids), desc="detecting faces",
                            unit="frame" if videos else "img", disable=not progress):
        ident = owners.popleft()
        if isinstance(faces, ImageReadError):
            skipped.append(f"{name}: {faces.reason}")
            continue
        for f in faces:
            stored.append(model.preprocessing.from_array(f.image))
            rows.append((name, ident, f.face.box, f.index))
            crops.append(f.crop)
    fp, config = model.embedding_identity(flip)
    emb = model.embed(np.stack(stored), flip=flip) if stored else np.zeros((0, config["embedding_size"]), np.float32)
    config = {**config, "detector": aligner.detector.settings()}  # which detector found these faces, on record
    return EmbeddingSet(emb, [r[0] for r in rows], [r[1] for r in rows], fp, config, skipped,
                        np.array([r[2] for r in rows], np.float32).reshape(-1, 4), np.array([r[3] for r in rows]),
                        crops=crops if aligner.keep_crops else None)


def shard_path(out: str | Path, index: int, count: int) -> Path:
    return Path(f"{out}.shard-{index}-of-{count}.npz")


def _position(name: str, pos: dict[str, int]) -> tuple[int, float]:
    """Where a row's source sits in the full input list (a video frame: its file, then its time)."""
    base, _, t = name.partition("#t=")
    return pos.get(base, len(pos)), float(t) if t else 0.0


def merge_shards(out: str | Path, count: int, order: Sequence[Path | str]) -> EmbeddingSet | None:
    """Once all `count` pieces of OUT exist: one set, rows in the order one process would have written them
    (`order` = the full input list), saved to OUT; the pieces are then removed. None while a piece is missing.
    Several shards finishing at once merge under a lock: one of them does it."""
    import fcntl

    pieces = [shard_path(out, i, count) for i in range(count)]
    with open(f"{out}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not all(p.exists() for p in pieces):
            return EmbeddingSet.load(out) if Path(out).exists() and not any(p.exists() for p in pieces) else None
        sets = [EmbeddingSet.load(p) for p in pieces]
        if len({s.fingerprint for s in sets}) != 1:
            raise InputError(f"the pieces of {out} were made by different models")
        pos = {str(p): k for k, p in enumerate(order)}
        rows = sorted(((_position(path, pos), int(s.face_index[r]), k, r) for k, s in enumerate(sets)
                       for r, path in enumerate(s.paths)))
        pick = [(sets[k], r) for _, _, k, r in rows]
        skipped = sorted((x for s in sets for x in s.skipped), key=lambda x: _position(x.split(": ")[0], pos))
        dim = sets[0].embeddings.shape[1]
        merged = EmbeddingSet(
            np.stack([s.embeddings[r] for s, r in pick]) if pick else np.zeros((0, dim), np.float32),
            [s.paths[r] for s, r in pick], [s.identities[r] for s, r in pick], sets[0].fingerprint, sets[0].config,
            skipped, np.array([s.boxes[r] for s, r in pick], np.float32).reshape(-1, 4),
            np.array([s.face_index[r] for s, r in pick], np.int64))
        merged.save(out)
        for p in pieces:
            p.unlink(missing_ok=True)
    return merged


def piece_path(out: str | Path, k: int) -> Path:
    return Path(f"{out}.part-{k:06d}.npz")


def embed_in_pieces(embed: Callable[[Sequence[Path], Sequence[str]], EmbeddingSet], model: Embedder,
                    paths: Sequence[Path], identities: Sequence[str], out: str | Path, chunk: int = 4096,
                    log: Callable[[str], None] = lambda s: None, flip: str | None = None,
                    detector: str | None = None) -> EmbeddingSet:
    """`embed` over `chunk` inputs at a time, each piece saved as OUT.part-K.npz as it is done: a killed run, run
    again, skips the pieces it finds (made by this model with this flip and, for photos, by this `detector`) and
    goes on. The pieces become OUT, then go."""
    fp, config = model.embedding_identity(flip)
    sets = []
    starts = range(0, len(paths), chunk)
    for k, s in enumerate(starts):
        piece = piece_path(out, k)
        if piece.exists():
            done = EmbeddingSet.load(piece)
            found_by = (done.config.get("detector") or {}).get("detector", "mtcnn")
            if done.fingerprint == fp and (detector is None or "detector" not in done.config or found_by == detector):
                sets.append(done)
                log(f"{piece}: done before, kept")
                continue
        es = embed(paths[s : s + chunk], identities[s : s + chunk])
        es.save(piece)
        sets.append(es)
    merged = EmbeddingSet.concat(sets, fp, sets[0].config if sets else config, config["embedding_size"])  # + detector
    merged.save(out)
    for k in range(len(starts)):
        piece_path(out, k).unlink(missing_ok=True)
    return merged
