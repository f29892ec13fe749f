"""Embeddings in bulk, and the file format every command reuses so that a folder is embedded once.

Format (`.npz`, numpy's zip of arrays; read it with `numpy.load(path)` or `EmbeddingSet.load`):
    embeddings   (N, D) float32, unit vectors
    paths        (N,) str, the image files
    identities   (N,) str, the folder name of each image ("" where the layout has none)
    fingerprint  () str, the model's fingerprint: sets from different models are never compared
    config       () str, the model's config as JSON (backbone, preprocessing, distance, threshold)
    skipped      (M,) str, "path: reason" for each image that could not be read
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from faceprint.data import DecodedImages, FaceDataset
from faceprint.data.images import is_image_file
from faceprint.models import FaceEmbedder
from faceprint.utils.io import atomic_write


@dataclass
class EmbeddingSet:
    embeddings: np.ndarray
    paths: list[str]
    identities: list[str]
    fingerprint: str
    config: dict
    skipped: list[str] = field(default_factory=list)

    def save(self, path: str | Path) -> None:
        buf = io.BytesIO()
        np.savez(buf, embeddings=self.embeddings.astype(np.float32), paths=np.array(self.paths, dtype=str),
                 identities=np.array(self.identities, dtype=str), fingerprint=np.array(self.fingerprint),
                 config=np.array(json.dumps(self.config)), skipped=np.array(self.skipped, dtype=str))
        atomic_write(path, lambda f: f.write(buf.getbuffer()))

    @classmethod
    def load(cls, path: str | Path) -> "EmbeddingSet":
        try:
            z = np.load(path, allow_pickle=False)
            return cls(z["embeddings"], [str(p) for p in z["paths"]], [str(i) for i in z["identities"]],
                       str(z["fingerprint"]), json.loads(str(z["config"])), [str(s) for s in z["skipped"]])
        except (OSError, KeyError, ValueError) as e:
            raise ValueError(f"{path}: not a faceprint embeddings file ({e})") from None

    def check_model(self, model: FaceEmbedder, what: str = "embeddings") -> None:
        fp = getattr(model, "fingerprint", None)
        if fp is not None and fp != self.fingerprint:
            raise ValueError(f"these {what} were made by model {self.fingerprint}, not by the model given ({fp})")


def list_images(root: str | Path) -> tuple[list[Path], list[str]]:
    """Image files under `root`: a folder of folders (identity = folder name) or a flat folder of images."""
    root = Path(root)
    if root.is_file():
        return [root], [""]
    if not root.is_dir():
        raise FileNotFoundError(f"no such file or folder: {root}")
    try:
        ds = FaceDataset.from_folders(root)
        flat = sorted(p for p in root.iterdir() if p.is_file() and is_image_file(p))
        return ds.paths + flat, [ds.identities[i] for i in ds.labels] + [""] * len(flat)
    except ValueError:
        flat = sorted(p for p in root.iterdir() if p.is_file() and is_image_file(p))
        if not flat:
            raise ValueError(f"{root}: no images (expected ROOT/<identity>/<image> or a folder of images)") from None
        return flat, [""] * len(flat)


def embed_paths(
    model: FaceEmbedder,
    paths: Sequence[Path],
    identities: Sequence[str] | None = None,
    flip: bool = False,
    batch_size: int = 128,
    cache_dir: Path | None = None,
    progress: bool = True,
) -> EmbeddingSet:
    """Decode (once, into the cache), embed in batches; unreadable images are skipped and listed, not fatal."""
    pre = model.preprocessing
    images = DecodedImages(paths, pre.load, pre.stored_size, pre.to_dict(), cache_dir, progress=progress)
    good = np.setdiff1d(np.arange(len(paths)), images.bad)
    emb = model.embed(images[good] if len(good) < len(paths) else images.array, batch_size=batch_size,
                      progress=progress, flip=flip)
    ids = list(identities) if identities is not None else [""] * len(paths)
    return EmbeddingSet(
        emb, [str(paths[i]) for i in good], [ids[i] for i in good], getattr(model, "fingerprint", ""),
        model.config.to_dict(), [f"{paths[i]}: {images.bad_reasons.get(i, 'unreadable')}" for i in images.bad],
    )
