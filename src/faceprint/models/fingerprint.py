"""A model's fingerprint: the hash that galleries, embedding files and exports record, so that embeddings of two
models are never compared. One implementation, on numpy arrays, for both runtimes: the PyTorch network hashes its
weights as a model file stores them, the core hashes the arrays it read from the file; both give the same value (and
the value files written before the core existed carry)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np

# the dtype names the hash has always spelled (PyTorch's), for the numpy dtypes a state dict holds
TORCH_DTYPE = {"float32": "torch.float32", "float16": "torch.float16", "float64": "torch.float64",
               "int64": "torch.int64", "int32": "torch.int32", "int16": "torch.int16", "int8": "torch.int8",
               "uint8": "torch.uint8", "bool": "torch.bool"}


def fingerprint(tensors: dict[str, np.ndarray], config: Any) -> str:
    """A hash of the weights and everything that changes the embedding (not the thresholds or provenance)."""
    d = config.to_dict()
    d.pop("threshold")
    d.pop("open_set_thresholds")
    d.pop("open_set_far")
    d.pop("info")
    d.pop("cluster_threshold", None)
    d.pop("library_threshold", None)
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
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name])
        h.update(f"{name}:{tuple(int(s) for s in a.shape)}:{TORCH_DTYPE[a.dtype.name]}\n".encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]
