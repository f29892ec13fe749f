"""Run an exported model in onnxruntime: the same preprocessing and embeddings as the PyTorch model, no torch.

    model = faceprint.load("model.onnx")       # reads model.onnx and model.onnx.json beside it
    model.embed(["face1.jpg", "face2.jpg"])    # (2, D) unit vectors
    model.preprocess(faces)                    # the (N, 3, H, W) float32 input of the network, for your own runtime
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from faceprint.data.transforms import Preprocessing, flip_mode
from faceprint.errors import FaceprintError
from faceprint.utils.io import file_sha256
from faceprint.utils.onnx import cpu_session

FORMAT = "faceprint.onnx"
FORMAT_VERSION = 1


class ExportedModelError(FaceprintError, ValueError):
    """An ONNX file without its faceprint description, or one that does not match it."""


def sidecar(onnx_path: str | Path) -> Path:
    """Where the description of an exported network lives: beside it, `<file>.json`."""
    return Path(f"{onnx_path}.json")


def _normalize(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


class OnnxEmbedder:
    """An exported faceprint network in onnxruntime. `embed` and `preprocess` behave as FaceEmbedder's do."""

    def __init__(self, path: str | Path, threads: int | None = None) -> None:
        path = Path(path)
        meta_path = sidecar(path)
        if not path.is_file():
            raise ExportedModelError(f"{path}: no such ONNX file")
        try:
            meta: dict[str, Any] = json.loads(meta_path.read_text())
        except (OSError, ValueError) as e:
            raise ExportedModelError(f"{path}: its description {meta_path.name} is missing or unreadable ({e}); "
                                     "export the model with `faceprint export` to get both") from None
        if meta.get("format") != FORMAT or meta.get("format_version", 0) > FORMAT_VERSION:
            raise ExportedModelError(f"{meta_path}: not a faceprint ONNX description")
        if meta.get("onnx_sha256") != file_sha256(path):
            raise ExportedModelError(f"{path}: the file does not match its description {meta_path.name} "
                                     "(replaced or damaged?)")
        try:
            self.session = cpu_session(path, threads)
        except ImportError:
            raise ImportError("running an ONNX model needs onnxruntime: pip install 'faceprint[onnx]'") from None
        self.path, self.meta = path, meta
        self.info: dict[str, Any] = meta["config"]
        self.fingerprint: str = meta["fingerprint"]
        self.preprocessing = Preprocessing(**self.info["preprocessing"])
        self.embedding_size: int = int(self.info["embedding_size"])
        self.threshold: float | None = self.info.get("threshold")
        self.input_name: str = meta["input"]

    def preprocess(self, images: Sequence[str | Path | np.ndarray] | np.ndarray) -> np.ndarray:
        """Face images (files, RGB arrays, or stored crops) -> the network's (N, 3, H, W) float32 input."""
        return self.preprocessing.to_input(self.preprocessing.stack(images))

    def _run(self, x: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: x})[0]

    def embed(self, images: Sequence[str | Path | np.ndarray] | np.ndarray, batch_size: int = 128,
              progress: bool = False, flip: bool | str | None = None) -> np.ndarray:
        """(N, D) float32 unit vectors; `flip` as in FaceEmbedder.embed ("sum" or True, "concat"; None: the
        exported model's own test_flip)."""
        from tqdm import tqdm

        mode = flip_mode(flip, self.info.get("test_flip", "none"))
        out = []
        for s in tqdm(range(0, len(images), batch_size), desc="embedding", unit="batch", disable=not progress):
            x = self.preprocess(images[s : s + batch_size])
            e = self._run(x)
            if mode != "none":
                m = self._run(np.ascontiguousarray(x[..., ::-1]))
                e = _normalize(e + m if mode == "sum" else np.concatenate([e, m], 1))
            out.append(e.astype(np.float32))
        if not out:
            return np.zeros((0, self.embedding_size * (2 if mode == "concat" else 1)), np.float32)
        return np.concatenate(out)
