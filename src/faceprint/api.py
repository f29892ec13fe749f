"""The short Python API: `model = faceprint.load(path)`, `model.embed(images)`, `faceprint.verify(model, a, b)`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from faceprint.deploy.runtime import OnnxEmbedder
    from faceprint.models import FaceEmbedder

DEFAULT_MODEL = Path(__file__).resolve().parent / "weights" / "default.pt"


def load(path: str | Path | None = None) -> "FaceEmbedder | OnnxEmbedder":
    """A model file, or the default model shipped inside the package. A `.onnx` file written by `faceprint export`
    runs in onnxruntime (embedding only; PyTorch is not imported)."""
    if path is not None and str(path).endswith(".onnx"):
        from faceprint.deploy.runtime import OnnxEmbedder

        return OnnxEmbedder(path)
    from faceprint.models import ModelFileError, load_model

    if path is None:
        if not DEFAULT_MODEL.exists():
            raise ModelFileError("no default model is shipped with this version of faceprint yet: pass --model "
                                 "(a file written by `faceprint train`)")
        path = DEFAULT_MODEL
    return load_model(path)
