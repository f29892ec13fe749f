"""Run an exported model in onnxruntime: the same preprocessing and embeddings as the model it was exported from, no
torch (faceprint.models.onnx_model, the core's runtime, reads it).

    model = faceprint.load("model.onnx")       # reads model.onnx and model.onnx.json beside it
    model.embed(["face1.jpg", "face2.jpg"])    # (2, D) unit vectors
    model.preprocess(faces)                    # the (N, 3, H, W) float32 input of the network, for your own runtime
"""

from __future__ import annotations

from pathlib import Path

from faceprint.models.onnx_model import EXPORT_FORMAT as FORMAT
from faceprint.models.onnx_model import EXPORT_FORMAT_VERSION as FORMAT_VERSION
from faceprint.models.onnx_model import ExportedModelError, OnnxModel

__all__ = ["FORMAT", "FORMAT_VERSION", "ExportedModelError", "OnnxEmbedder", "sidecar"]


def sidecar(onnx_path: str | Path) -> Path:
    """Where the description of an exported network lives: beside it, `<file>.json`."""
    return Path(f"{onnx_path}.json")


class OnnxEmbedder(OnnxModel):
    """An exported faceprint network in onnxruntime (`faceprint export`'s .onnx with its .json)."""

    def __init__(self, path: str | Path, threads: int | None = None) -> None:
        self.__dict__.update(OnnxModel.from_export(path, threads).__dict__)
