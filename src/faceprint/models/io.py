"""Model files on the PyTorch side: save a network (format 2, faceprint.models.modelfile: weights, config and the
network's ONNX graph, so the core runs it too) and load one into a PyTorch network for training, fine-tuning or
export. Format 1 files (`torch.save`, before the core) are still read, with `torch.load(weights_only=True)`: a model
file from the internet cannot run code on load.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

from faceprint.models.embedder import FaceEmbedder, ModelConfig, stored_weights
from faceprint.models.fingerprint import fingerprint
from faceprint.models.modelfile import (
    FORMAT,
    LegacyModelFileError,
    ModelFile,
    ModelFileError,
    NoDefaultModelError,
    read_model_file,
    write_model_file,
)

__all__ = ["ModelFileError", "NoDefaultModelError", "fingerprint", "load_model", "model_file", "save_model"]
log = logging.getLogger(__name__)


def model_file(model: FaceEmbedder, network: bool = True) -> ModelFile:
    """What a model file holds for this network; `network`: with its ONNX graph (needs onnx and onnxscript; without
    them the file is written without one, and only PyTorch can run it)."""
    tensors = stored_weights(model, model.config.weights_dtype == "float16")
    mf = ModelFile(model.config.to_dict(), fingerprint(tensors, model.config), tensors)
    if network:
        try:
            from faceprint.models.onnx_graph import INPUT, OPSET, OUTPUT, onnx_model, weightless_graph

            net = model
            if model.config.weights_dtype != "float32":  # the graph runs the weights as stored, as PyTorch will
                net = FaceEmbedder(model.config)
                net.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in tensors.items()})
            mf.network, mf.network_weights = weightless_graph(onnx_model(net), tensors)
            mf.network_io = {"input": INPUT, "output": OUTPUT, "opset": OPSET}
        except ImportError as e:
            log.warning("model file written without its network graph (%s): the core cannot run it", e)
    return mf


def save_model(model: FaceEmbedder, path: str | Path, network: bool = True) -> str:
    """Write the model atomically; returns its fingerprint."""
    mf = model_file(model, network)
    write_model_file(path, mf)
    if not model.training:
        model.fingerprint = mf.fingerprint
    return mf.fingerprint


def _legacy_payload(path: Path) -> dict[str, Any]:
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001  any failure to parse untrusted bytes means: not a model we can read
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ModelFileError(f"{path}: not a faceprint model file (cannot be read safely: {first})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ModelFileError(f"{path}: not a faceprint model file (no '{FORMAT}' header)")
    if payload.get("format_version", 0) > 1:
        raise ModelFileError(f"{path}: model format {payload['format_version']} is newer than this faceprint reads")
    return payload


def load_model(path: str | Path) -> FaceEmbedder:
    """Rebuild a model from its file alone, in eval mode; refuses files whose weights do not match their record."""
    path = Path(path)
    try:
        mf = read_model_file(path)
        config_dict, recorded = mf.config, mf.fingerprint
        state = {k: torch.from_numpy(np.array(v)) for k, v in mf.tensors.items()}
    except LegacyModelFileError:
        payload = _legacy_payload(path)
        config_dict, recorded, state = payload.get("config"), payload.get("fingerprint"), payload.get("state_dict")
    except ModelFileError:
        if path.is_file():
            _legacy_payload(path)  # not a zip at all: say what torch.load makes of it
        raise
    try:
        config = ModelConfig.from_dict(config_dict)
        model = FaceEmbedder(config)
        model.load_state_dict(state)  # float16 weights are widened to the float32 parameters
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as e:
        raise ModelFileError(f"{path}: damaged faceprint model ({str(e).splitlines()[0]})") from None
    if fingerprint({k: v.numpy() for k, v in state.items()}, config) != recorded:
        raise ModelFileError(f"{path}: weights do not match the fingerprint recorded in the file (damaged?)")
    model.eval()
    model.fingerprint = recorded
    return model
