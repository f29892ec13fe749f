"""The short Python API: `model = faceprint.load(path)`, `model.embed(images)`, `faceprint.verify(model, a, b)`."""

from __future__ import annotations

from pathlib import Path

from faceprint.models import FaceEmbedder, ModelFileError, load_model

DEFAULT_MODEL = Path(__file__).resolve().parent / "weights" / "default.pt"


def load(path: str | Path | None = None) -> FaceEmbedder:
    """A model file, or the default model shipped inside the package."""
    if path is None:
        if not DEFAULT_MODEL.exists():
            raise ModelFileError("no default model is shipped with this version of faceprint yet: pass --model "
                                 "(a file written by `faceprint train`)")
        path = DEFAULT_MODEL
    return load_model(path)
