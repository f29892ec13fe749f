"""Embedding models: the config and the model file both runtimes read, the core's onnxruntime model, and (with
PyTorch, faceprint[train]) the registered backbones, the embedder network and saving/loading it.

The PyTorch names are imported on first use, so `import faceprint.models` (and everything the core runs) never
imports torch."""

from typing import Any

from faceprint.models.config import ModelConfig
from faceprint.models.fingerprint import fingerprint
from faceprint.models.interface import Embedder
from faceprint.models.modelfile import LegacyModelFileError, ModelFileError, NoDefaultModelError

_TORCH = {"FaceEmbedder": "faceprint.models.embedder", "load_model": "faceprint.models.io",
          "save_model": "faceprint.models.io", "backbone_spec": "faceprint.models.registry",
          "list_backbones": "faceprint.models.registry"}

__all__ = ["Embedder", "FaceEmbedder", "LegacyModelFileError", "ModelConfig", "ModelFileError",
           "NoDefaultModelError", "backbone_spec", "fingerprint", "list_backbones", "load_model", "save_model"]


def __getattr__(name: str) -> Any:
    if name not in _TORCH:
        raise AttributeError(f"module 'faceprint.models' has no attribute {name!r}")
    import importlib

    importlib.import_module("faceprint.models.embedder")  # registers the backbones
    return getattr(importlib.import_module(_TORCH[name]), name)
