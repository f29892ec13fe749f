"""The model file: one file per model that both runtimes read, written by training, import and calibration.

Format 2 is a zip archive (stored, not compressed) of three members:
- `faceprint.json`: format, config (preprocessing, distance, thresholds: faceprint.models.config), fingerprint,
  and where each weight lies in `tensors.bin`;
- `tensors.bin`: the weights (the network's state dict as the config's `weights_dtype` stores it), raw little-endian,
  each at a 64-byte aligned offset;
- `network.onnx`: the embedding network as an ONNX graph *without* the initializers that are weights in
  `tensors.bin` (`network.weights` in the JSON names which weight fills which initializer): the weights are stored
  once, and the core (onnxruntime, no PyTorch) puts them back into the graph when it loads the file.
PyTorch builds its network from the config and loads the same weights; the fingerprint hashes the config and the
weights (faceprint.models.fingerprint), so it is the same whichever runtime reads the file.

Format 1 (before the core) was `torch.save` of {format, config, state_dict, fingerprint}; PyTorch still reads it
(faceprint.models.io); the core asks for PyTorch or a conversion. Nothing here imports torch or unpickles anything.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from faceprint.errors import FaceprintError
from faceprint.utils.io import atomic_write

FORMAT = "faceprint.model"
FORMAT_VERSION = 2
MANIFEST, TENSORS, NETWORK = "faceprint.json", "tensors.bin", "network.onnx"
ALIGN = 64
DTYPES = ("float32", "float16", "float64", "int64", "int32", "int16", "int8", "uint8", "bool")


class ModelFileError(FaceprintError, ValueError):
    """A file that is not a faceprint model, is damaged, or does not match its own config."""


class NoDefaultModelError(ModelFileError):
    """No model file was given and this installation ships none."""


class LegacyModelFileError(ModelFileError):
    """A format 1 model file (torch.save): only PyTorch reads it."""


@dataclass
class ModelFile:
    config: dict[str, Any]
    fingerprint: str
    tensors: dict[str, np.ndarray]
    network: bytes | None = None  # ONNX ModelProto bytes without the initializers in network_weights
    network_weights: dict[str, list[str]] = field(default_factory=dict)  # initializer -> [tensor name, dtype]
    network_io: dict[str, Any] = field(default_factory=dict)  # {"input": ..., "output": ..., "opset": ...}


def is_model_file(path: str | Path) -> bool:
    """A format 2 model file (a zip holding faceprint.json)."""
    try:
        with zipfile.ZipFile(path) as z:
            return MANIFEST in z.namelist()
    except (OSError, zipfile.BadZipFile):
        return False


def write_model_file(path: str | Path, model: ModelFile) -> None:
    """Write atomically (a killed write leaves the old file or none)."""
    index, offset, chunks = {}, 0, []
    for name in sorted(model.tensors):
        a = np.ascontiguousarray(model.tensors[name])
        if a.dtype.name not in DTYPES:
            raise ModelFileError(f"weight {name!r} has dtype {a.dtype}, which a model file does not store")
        pad = (-offset) % ALIGN
        chunks.append(b"\0" * pad)
        offset += pad
        index[name] = {"dtype": a.dtype.name, "shape": list(a.shape), "offset": offset}
        data = a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes()
        chunks.append(data)
        offset += len(data)
    manifest = {"format": FORMAT, "format_version": FORMAT_VERSION, "fingerprint": model.fingerprint,
                "config": model.config, "tensors": index}
    if model.network is not None:
        manifest["network"] = {**model.network_io, "file": NETWORK, "weights": model.network_weights}

    def write(f: Any) -> None:
        with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED) as z:
            z.writestr(MANIFEST, json.dumps(manifest, indent=1, default=str))
            z.writestr(TENSORS, b"".join(chunks))
            if model.network is not None:
                z.writestr(NETWORK, model.network)

    atomic_write(path, write)


def read_model_file(path: str | Path) -> ModelFile:
    """Read a format 2 file; LegacyModelFileError for a format 1 file, ModelFileError for anything else."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: no such model file")
    names: list[str] = []
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
            if MANIFEST in names:
                manifest = json.loads(z.read(MANIFEST))
                blob = z.read(TENSORS)
                network = z.read(NETWORK) if "network" in manifest else None
    except (zipfile.BadZipFile, OSError, ValueError, KeyError) as e:
        raise ModelFileError(f"{path}: not a faceprint model file, or damaged ({e})") from None
    if MANIFEST not in names:
        if any(n.endswith("/data.pkl") or n == "data.pkl" for n in names):
            raise LegacyModelFileError(f"{path}: a model file of faceprint's first format (PyTorch's): read it "
                                       "with PyTorch (pip install 'faceprint[train]'), or convert it once with "
                                       "`faceprint convert`")
        raise ModelFileError(f"{path}: not a faceprint model file (no {MANIFEST})")
    if manifest.get("format") != FORMAT:
        raise ModelFileError(f"{path}: not a faceprint model file (no '{FORMAT}' header)")
    if manifest.get("format_version", 0) > FORMAT_VERSION:
        raise ModelFileError(f"{path}: model format {manifest['format_version']} is newer than this faceprint reads")
    tensors = {}
    try:
        for name, t in manifest["tensors"].items():
            if t["dtype"] not in DTYPES:
                raise ValueError(f"dtype {t['dtype']}")
            dtype = np.dtype(t["dtype"]).newbyteorder("<")
            count = int(np.prod(t["shape"], dtype=np.int64))
            if t["offset"] < 0 or t["offset"] + count * dtype.itemsize > len(blob):
                raise ValueError(f"weight {name!r} lies outside {TENSORS}")
            a = np.frombuffer(blob, dtype, count, t["offset"]).reshape(t["shape"])
            tensors[name] = a.astype(a.dtype.newbyteorder("="), copy=False)
        net = manifest.get("network") or {}
        return ModelFile(manifest["config"], manifest["fingerprint"], tensors, network,
                         {k: list(v) for k, v in net.get("weights", {}).items()},
                         {k: v for k, v in net.items() if k not in ("weights", "file")})
    except (KeyError, TypeError, ValueError) as e:
        raise ModelFileError(f"{path}: damaged faceprint model ({e})") from None
