"""`faceprint export --format onnx`: the embedding network as an ONNX file (dynamic batch), its description beside it.

The file takes what `model.preprocess(images)` returns, (N, 3, H, W) float32, and gives (N, D) unit vectors. The
description (`<out>.json`) holds the model's whole config (preprocessing, distance, thresholds), its fingerprint
and the ONNX file's SHA-256, so a runtime feeds it exactly as it was trained and never pairs it with another file.
"""

from __future__ import annotations

import contextlib
import json
import logging
import warnings
from pathlib import Path

import numpy as np
import torch

from faceprint.deploy.runtime import FORMAT, FORMAT_VERSION, sidecar
from faceprint.models import FaceEmbedder
from faceprint.utils.io import atomic_write, atomic_write_text, file_sha256

INPUT, OUTPUT = "faces", "embeddings"


def export_onnx(model: FaceEmbedder, out: str | Path, opset: int = 18) -> Path:
    """Write OUT (ONNX) and OUT.json; returns OUT. Needs the `onnx` and `onnxscript` packages (faceprint[onnx])."""
    out = Path(out)
    model = model.eval()
    size = model.preprocessing.input_size
    example = torch.zeros(2, 3, size, size)
    batch = torch.export.Dim("batch", min=1, max=65536)
    for name in ("torch.onnx", "onnxscript", "onnx_ir"):
        logging.getLogger(name).setLevel(logging.ERROR)
    # a network may trace better than it runs eagerly (OpenVinoNet: one-slope PReLU as LeakyRelu, which onnxruntime
    # fuses into the convolution before it)
    constants = getattr(model.backbone, "constant_slopes", contextlib.nullcontext)
    try:
        with warnings.catch_warnings(), torch.no_grad(), constants():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(model, (example,), None, input_names=[INPUT], output_names=[OUTPUT],
                                        dynamic_shapes={"x": {0: batch}}, opset_version=opset, dynamo=True,
                                        verbose=False)
    except ImportError as e:
        raise ImportError(f"exporting to ONNX needs the onnx and onnxscript packages: pip install "
                          f"'faceprint[onnx]' ({e})") from None
    atomic_write(out, lambda f: f.write(program.model_proto.SerializeToString()))
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "fingerprint": model.fingerprint,
            "input": INPUT, "output": OUTPUT, "input_layout": "N,3,H,W float32 (model.preprocess)",
            "opset": opset, "onnx_sha256": file_sha256(out), "config": model.config.to_dict()}
    atomic_write_text(sidecar(out), json.dumps(meta, indent=1, default=str))
    return out


def check_export(model: FaceEmbedder, out: str | Path, images: list | np.ndarray) -> float:
    """Largest difference between onnxruntime's and PyTorch's embeddings of `images` (face images or crops)."""
    from faceprint.deploy.runtime import OnnxEmbedder

    return float(np.abs(OnnxEmbedder(out).embed(images) - model.embed(images)).max())
