"""`faceprint export --format onnx`: the embedding network as an ONNX file (dynamic batch), its description beside it.

The file takes what `model.preprocess(images)` returns, (N, 3, H, W) float32, and gives (N, D) unit vectors. The
description (`<out>.json`) holds the model's whole config (preprocessing, distance, thresholds), its fingerprint
and the ONNX file's SHA-256, so a runtime feeds it exactly as it was trained and never pairs it with another file.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from faceprint.deploy.runtime import FORMAT, FORMAT_VERSION, sidecar
from faceprint.models.embedder import FaceEmbedder
from faceprint.models.onnx_graph import INPUT, OPSET, OUTPUT, onnx_model
from faceprint.utils.io import atomic_write, atomic_write_text, file_sha256

def export_onnx(model: FaceEmbedder, out: str | Path, opset: int = OPSET) -> Path:
    """Write OUT (ONNX) and OUT.json; returns OUT. Needs the `onnx` and `onnxscript` packages (faceprint[train])."""
    out = Path(out)
    proto = onnx_model(model, opset)
    atomic_write(out, lambda f: f.write(proto.SerializeToString()))
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "fingerprint": model.fingerprint,
            "input": INPUT, "output": OUTPUT, "input_layout": "N,3,H,W float32 (model.preprocess)",
            "opset": opset, "onnx_sha256": file_sha256(out), "config": model.config.to_dict()}
    atomic_write_text(sidecar(out), json.dumps(meta, indent=1, default=str))
    return out


def check_export(model: FaceEmbedder, out: str | Path, images: list | np.ndarray) -> float:
    """Largest difference between onnxruntime's and PyTorch's embeddings of `images` (face images or crops)."""
    from faceprint.deploy.runtime import OnnxEmbedder

    return float(np.abs(OnnxEmbedder(out).embed(images) - model.embed(images)).max())
