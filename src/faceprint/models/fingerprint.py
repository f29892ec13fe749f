"""A model's fingerprint: the hash that galleries, embedding files and exports record, so that embeddings of two
models are never compared. Its own module (below the embedder and the model files, importing neither): the embedder
computes it for its live weights, and model files check it on load."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import torch
from torch import nn


def fingerprint(state_dict: dict[str, torch.Tensor], config: Any) -> str:
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


def stored_weights(model: nn.Module, half: bool) -> dict[str, torch.Tensor]:
    """The weights as a model file stores them (float16 where the config says so): what the fingerprint hashes."""
    return {k: (v.detach().cpu().half() if half and v.is_floating_point() else v.detach().cpu().clone())
            for k, v in model.state_dict().items()}
