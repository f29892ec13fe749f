"""One file per model: weights plus the config that binds preprocessing, distance and threshold to them.

Files are read with `torch.load(weights_only=True)`: a model file from the internet cannot run code on load.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any

import torch

from faceprint.errors import FaceprintError
from faceprint.models.embedder import FaceEmbedder, ModelConfig
from faceprint.utils.io import atomic_write

FORMAT = "faceprint.model"
FORMAT_VERSION = 1


class ModelFileError(FaceprintError, ValueError):
    """A file that is not a faceprint model, is damaged, or does not match its own config."""


class NoDefaultModelError(ModelFileError):
    """No model file was given and this installation ships none."""


def fingerprint(state_dict: dict[str, torch.Tensor], config: ModelConfig) -> str:
    """A hash of the weights and everything that changes the embedding (not the threshold or provenance).

    Galleries and embedding files record it, so embeddings from two different models are never compared.
    """
    d = config.to_dict()
    d.pop("threshold")
    d.pop("open_set_thresholds")
    d.pop("open_set_far")
    d.pop("info")
    d.pop("cluster_threshold", None)
    # Fields added after format 1 files were made are absent there, so they are hashed only when not the default.
    if d.get("embedding_bn", True):
        d.pop("embedding_bn", None)
    if d.get("weights_dtype", "float32") == "float32":
        d.pop("weights_dtype", None)
    if d.get("test_flip", "none") == "none":
        d.pop("test_flip", None)
    if d.get("projection", True):
        d.pop("projection", None)
    if d.get("graph") is None:
        d.pop("graph", None)
    if d["preprocessing"].get("channels", "rgb") == "rgb":
        d["preprocessing"].pop("channels", None)
    h = hashlib.sha256(json.dumps(d, sort_keys=True).encode())
    for name in sorted(state_dict):
        t = state_dict[name].detach().cpu().contiguous()
        h.update(f"{name}:{tuple(t.shape)}:{t.dtype}\n".encode())
        h.update(t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.float().numpy().tobytes())
    return h.hexdigest()[:16]


def model_payload(model: FaceEmbedder) -> dict[str, Any]:
    half = model.config.weights_dtype == "float16"
    sd = {k: (v.detach().cpu().half() if half and v.is_floating_point() else v.detach().cpu().clone())
          for k, v in model.state_dict().items()}
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
