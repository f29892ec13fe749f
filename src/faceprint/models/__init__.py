"""Embedding models: registered backbones, the embedder head, and model files."""

from faceprint.models import dlib_resnet, inception_resnet_v1, openvino_net, resnet  # noqa: F401  (registers the backbones)
from faceprint.models.embedder import FaceEmbedder, ModelConfig
from faceprint.models.io import (
    ModelFileError,
    NoDefaultModelError,
    fingerprint,
    load_model,
    save_model,
)
from faceprint.models.registry import backbone_spec, list_backbones

__all__ = [
    "FaceEmbedder",
    "ModelConfig",
    "ModelFileError",
    "NoDefaultModelError",
    "backbone_spec",
    "fingerprint",
    "list_backbones",
    "load_model",
    "save_model",
]
