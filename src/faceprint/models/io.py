"""One file per model: weights plus the config that binds preprocessing, distance and threshold to them.

Files are read with `torch.load(weights_only=True)`: a model file from the internet cannot run code on load.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import torch

from faceprint.errors import FaceprintError
from faceprint.models.embedder import FaceEmbedder, ModelConfig
from faceprint.models.fingerprint import fingerprint, stored_weights
from faceprint.utils.io import atomic_write

FORMAT = "faceprint.model"
FORMAT_VERSION = 1


class ModelFileError(FaceprintError, ValueError):
    """A file that is not a faceprint model, is damaged, or does not match its own config."""


class NoDefaultModelError(ModelFileError):
    """No model file was given and this installation ships none."""


def model_payload(model: FaceEmbedder) -> dict[str, Any]:
    sd = stored_weights(model, model.config.weights_dtype == "float16")
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "config": model.config.to_dict(),
        "state_dict": sd,
        "fingerprint": fingerprint(sd, model.config),
    }


def save_model(model: FaceEmbedder, path: str | Path) -> str:
    """Write the model atomically; returns its fingerprint."""
    payload = model_payload(model)
    buf = io.BytesIO()
    torch.save(payload, buf)
    atomic_write(path, lambda f: f.write(buf.getbuffer()))
    if not model.training:
        model.fingerprint = payload["fingerprint"]
    return payload["fingerprint"]


def read_payload(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: no such model file")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001  any failure to parse untrusted bytes means: not a model we can read
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ModelFileError(f"{path}: not a faceprint model file (cannot be read safely: {first})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ModelFileError(f"{path}: not a faceprint model file (no '{FORMAT}' header)")
    if payload.get("format_version", 0) > FORMAT_VERSION:
        raise ModelFileError(f"{path}: model format {payload['format_version']} is newer than this faceprint reads")
    return payload


def load_model(path: str | Path) -> FaceEmbedder:
    """Rebuild a model from its file alone, in eval mode; refuses files whose weights do not match their record."""
    payload = read_payload(path)
    try:
        config = ModelConfig.from_dict(payload["config"])
        model = FaceEmbedder(config)
        model.load_state_dict(payload["state_dict"])  # float16 weights are widened to the float32 parameters
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        raise ModelFileError(f"{path}: damaged faceprint model ({str(e).splitlines()[0]})") from None
    if fingerprint(payload["state_dict"], config) != payload.get("fingerprint"):
        raise ModelFileError(f"{path}: weights do not match the fingerprint recorded in the file (damaged?)")
    model.eval()
    model.fingerprint = payload["fingerprint"]
    return model
