"""A teacher's embeddings of the training images: targets for a student (teacher-guided triplet training).

The teacher sees each image as it was made to (its own detector alignment and crop, from the image file), the
student as it is trained to; the pairing is by file. Embeddings are kept in a store per teacher (keyed by its
fingerprint) with one row per file content (a hash of its bytes), so a run computes only the files it trains on, a
second run on other people never uses the first run's rows (an LFW split's training touches only its own images),
and a dataset copied, moved or given new timestamps (a fresh checkout, a re-mounted share) is not embedded again.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from faceprint.data.cache import default_cache_dir
from faceprint.errors import InputError
from faceprint.models import FaceEmbedder, load_model
from faceprint.utils.io import atomic_write

log = logging.getLogger(__name__)


def _file_key(path: Path) -> str:
    """What the teacher's target depends on: the file's bytes (the same photo anywhere is the same target)."""
    try:
        data = path.read_bytes()
    except (OSError, RuntimeError):  # unreadable, a dangling link or a loop: no target to remember
        return f"{path.absolute()}|missing"
    return f"{hashlib.blake2b(data, digest_size=16).hexdigest()}|{len(data)}"


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _read_store(path: Path) -> dict[str, tuple[np.ndarray, bool]]:
    if not path.exists():
        return {}
    with np.load(path) as z:
        return {str(k): (e, bool(ok)) for k, e, ok in zip(z["keys"], z["embeddings"], z["ok"])}


def _write_store(path: Path, rows: dict[str, tuple[np.ndarray, bool]]) -> None:
    keys = sorted(rows)
    buf = io.BytesIO()
    np.savez(buf, keys=np.array(keys), embeddings=np.stack([rows[k][0] for k in keys]).astype(np.float32),
             ok=np.array([rows[k][1] for k in keys]))
    atomic_write(path, lambda f: f.write(buf.getbuffer()))


def teacher_embeddings(
    teacher: FaceEmbedder | str | Path,
    paths: Sequence[Path],
    cache_dir: Path | None = None,
    progress: bool = True,
    input: str = "photos",
    select: str = "central",
    chunk: int = 2000,
) -> tuple[np.ndarray, np.ndarray]:
    """((N, D) float32 teacher embeddings, (N,) bool: a face was found) for the image files, computed once each.

    The teacher embeds each photo through its own photo path (detect, align, embed the face and its mirror image,
    summed: the student is trained with random flips), or with input="crops" takes the files as its own crops.
    `select` picks the face of an image with several: "central" suits face sets cut around their subject (LFW,
    the CelebA crops, `faceprint align` output).
    A file where no face is found, or that cannot be read, gets no target (ok False).
    """
    from faceprint.embeddings import embed_paths, embed_photos

    if input not in ("photos", "crops"):
        raise InputError(f"teacher input must be photos or crops, got {input!r}")
    model = load_model(teacher) if isinstance(teacher, (str, Path)) else teacher
    fp = model.fingerprint
    store = (cache_dir or default_cache_dir()) / f"teacher-{fp}-{input}{'' if input == 'crops' else '-' + select}.npz"
    keys = [_file_key(Path(p)) for p in paths]
    with _locked(store):
        rows = _read_store(store)
    missing = [i for i, k in enumerate(keys) if k not in rows]
    if missing:
        log.info("teacher %s: embedding %d of %d training images", fp, len(missing), len(keys))
    for s in range(0, len(missing), chunk):  # saved as it goes: a killed run keeps what it computed
        part = missing[s : s + chunk]
        files = [Path(paths[i]) for i in part]
        es = (embed_photos(model, files, select=select, flip="sum", progress=progress) if input == "photos"
              else embed_paths(model, files, flip="sum", cache_dir=cache_dir, progress=progress))
        found = {p: e for p, e in zip(es.paths, es.embeddings)}
        new = {}
        for i in part:
            e = found.get(str(paths[i]))
            new[keys[i]] = (e, True) if e is not None else (np.zeros(model.config.embedding_size, np.float32), False)
        with _locked(store):
            rows = _read_store(store) | new
            _write_store(store, rows)
    emb = np.stack([rows[k][0] for k in keys]).astype(np.float32) if keys else np.zeros((0, 0), np.float32)
    ok = np.array([rows[k][1] for k in keys], dtype=bool)
    return emb, ok
