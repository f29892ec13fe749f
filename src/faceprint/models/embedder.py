"""The FaceNet embedding: backbone -> linear to the embedding size -> batch norm -> L2 normalisation."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from faceprint.errors import InputError
from faceprint.models.config import ModelConfig
from faceprint.models.fingerprint import fingerprint
from faceprint.models.interface import Embedder
from faceprint.models import dlib_resnet, inception_resnet_v1, openvino_net, resnet  # noqa: F401  (registers them)
from faceprint.models.registry import backbone_spec


class FaceEmbedder(nn.Module, Embedder):
    """Maps (N, 3, H, W) standardised faces to (N, D) unit vectors: the PyTorch network, for training (inference
    methods from faceprint.models.interface.Embedder)."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        build = backbone_spec(config.backbone).build
        size = config.preprocessing.input_size
        self.backbone = build(size) if config.graph is None else build(size, graph=config.graph)
        self.dropout = nn.Dropout(config.dropout)
        if config.projection:
            self.project: nn.Module = nn.Linear(self.backbone.out_features, config.embedding_size, bias=False)
        elif self.backbone.out_features == config.embedding_size:
            self.project = nn.Identity()
        else:
            raise InputError(f"without a projection the embedding is the backbone's {self.backbone.out_features}-d "
                             f"output, not {config.embedding_size}-d")
        self.bn = nn.BatchNorm1d(config.embedding_size) if config.embedding_bn else nn.Identity()
        self._fingerprint: str | None = None

    @property
    def fingerprint(self) -> str:
        """A hash of the weights (as a model file stores them) and of the config fields that change the embedding:
        what galleries and embedding files record, so embeddings of two models are never compared. Known from
        the file once loaded or saved; computed from the current weights otherwise (and after any training)."""
        if self._fingerprint is None:
            return fingerprint(self._weights(), self.config)
        return self._fingerprint

    @fingerprint.setter
    def fingerprint(self, value: str | None) -> None:
        self._fingerprint = value

    def train(self, mode: bool = True) -> FaceEmbedder:
        if mode:
            self._fingerprint = None  # the weights may change from here on
        return super().train(mode)

    def load_state_dict(self, *args: Any, **kwargs: Any) -> Any:
        self._fingerprint = None
        return super().load_state_dict(*args, **kwargs)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The network's output before L2 normalisation (for an imported network: its own descriptor)."""
        return self.bn(self.project(self.dropout(self.backbone(x))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.normalize(self.features(x).float(), dim=1)

    @torch.no_grad()
    def _forward(self, x: np.ndarray) -> np.ndarray:
        """The network on a preprocessed batch, in eval mode (restored after), as the core runs it."""
        was_training = self.training
        self.eval()
        try:
            t = torch.from_numpy(x).contiguous(memory_format=torch.channels_last)
            return self(t).cpu().numpy()
        finally:
            self.train(was_training)

    def _weights(self) -> dict[str, np.ndarray]:
        return stored_weights(self, self.config.weights_dtype == "float16")


def stored_weights(model: nn.Module, half: bool) -> dict[str, np.ndarray]:
    """The weights as a model file stores them (float16 where the config says so), as numpy arrays: what the
    fingerprint hashes and the file holds."""
    out = {}
    for k, v in model.state_dict().items():
        v = v.detach().cpu()
        if v.is_floating_point():
            v = v.half() if half else (v.float() if v.dtype == torch.bfloat16 else v)
        out[k] = v.numpy().copy()
    return out
