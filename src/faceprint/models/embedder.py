"""The FaceNet embedding: backbone -> linear to the embedding size -> batch norm -> L2 normalisation."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from faceprint.data.transforms import Preprocessing, flip_mode
from faceprint.distances import Distance, get_distance
from faceprint.errors import InputError
from faceprint.models.fingerprint import fingerprint, stored_weights
from faceprint.models.registry import backbone_spec


@dataclass
class ModelConfig:
    """Everything needed to rebuild a model and feed it correctly; saved inside every model file."""

    backbone: str = "resnet18_half"
    embedding_size: int = 128
    preprocessing: Preprocessing = field(default_factory=Preprocessing)
    distance: str = "squared_l2"
    dropout: float = 0.0
    # Batch norm after the projection (FaceNet-style training); off for imported networks whose last layer is
    # already the embedding.
    embedding_bn: bool = True
    # The linear projection to `embedding_size`; off for imported networks whose output already is the embedding
    # (then embedding_size is the backbone's own output size).
    projection: bool = True
    # The layer graph of a backbone read from another format (`openvino_ir`): which layer feeds which, with what
    # attributes; its constants are the weights. None for faceprint's own backbones.
    graph: dict[str, Any] | None = None
    # How the file stores the weights: "float16" halves it (the network still runs in float32 after loading).
    weights_dtype: str = "float32"
    # Test-time flip bound to the model: "sum" embeds each face and its mirror image and adds the two (twice the
    # network's cost). Part of the fingerprint, as it changes every embedding; thresholds are fitted with it.
    test_flip: str = "none"
    # Verification threshold in `distance` units (same person if d < threshold), once calibrated.
    threshold: float | None = None
    # Open-set identification: a probe is "unknown" unless its nearest gallery face is under a threshold for the
    # gallery's size, [[identities, threshold], ...] fitted on strangers' nearest-gallery distances. A pairwise
    # threshold lets nearly every stranger match someone in a gallery of hundreds: the nearest of many impostors is
    # much closer than a typical one, so the threshold must fall as the gallery grows.
    open_set_thresholds: list[list[float]] | None = None
    open_set_far: float | None = None  # the stranger false accept rate those thresholds were fitted for
    # Clustering: the average-linkage cut fitted on held-out identities for the best pairwise F1 over folders of
    # several sizes. Not the verification threshold: a cluster's *average* distance may exceed the pairwise rule.
    cluster_threshold: float | None = None
    # Provenance: data, recipe, figures measured; free-form and never needed to run the model.
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        backbone_spec(self.backbone)
        get_distance(self.distance)
        if self.test_flip not in ("none", "sum"):
            raise InputError(f"test_flip must be none or sum, got {self.test_flip!r}")
        if self.weights_dtype not in ("float32", "float16"):
            raise InputError(f"weights_dtype must be float32 or float16, got {self.weights_dtype!r}")
        if self.embedding_size < 2:
            raise InputError(f"embedding_size must be >= 2, got {self.embedding_size}")
        if isinstance(self.preprocessing, dict):
            self.preprocessing = Preprocessing(**self.preprocessing)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["preprocessing"] = self.preprocessing.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelConfig:
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        return cls(**copy.deepcopy(known))


class FaceEmbedder(nn.Module):
    """Maps (N, 3, H, W) standardised faces to (N, D) unit vectors."""

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
        self._bound_fingerprints: dict[tuple[str, str], str] = {}

    @property
    def fingerprint(self) -> str:
        """A hash of the weights (as a model file stores them) and of the config fields that change the embedding:
        what galleries and embedding files record, so embeddings of two models are never compared. Known from
        the file once loaded or saved; computed from the current weights otherwise (and after any training)."""
        if self._fingerprint is None:
            return fingerprint(self._stored(), self.config)
        return self._fingerprint

    @fingerprint.setter
    def fingerprint(self, value: str | None) -> None:
        self._fingerprint = value

    def embedding_identity(self, flip: bool | str | None = None) -> tuple[str, dict[str, Any]]:
        """(fingerprint, config dict) of the embeddings `embed(..., flip=flip)` makes, for the files that store them.

        With the model's own test_flip, its own. With another "none"/"sum", those of this network with that flip
        bound to it (what `calibrate --test-flip` writes): the two give the same vectors, so their files mix, and
        neither mixes with the other flip's. "concat" (2D-d vectors) gets a fingerprint no model has."""
        mode = flip_mode(flip, self.config.test_flip)
        if mode == self.config.test_flip:
            return self.fingerprint, self.config.to_dict()
        config = self.config.to_dict() | {"test_flip": mode}
        if mode == "concat":
            import hashlib

            config["embedding_size"] = 2 * self.config.embedding_size
            return hashlib.sha256(f"{self.fingerprint}:flip-concat".encode()).hexdigest()[:16], config
        key = (self.fingerprint, mode)  # hashing the weights again costs ~0.1 s: once per weights and flip
        if key not in self._bound_fingerprints:
            bound = copy.copy(self.config)
            bound.test_flip = mode
            self._bound_fingerprints[key] = fingerprint(self._stored(), bound)
        return self._bound_fingerprints[key], config

    def _stored(self) -> dict[str, torch.Tensor]:
        return stored_weights(self, self.config.weights_dtype == "float16")

    def train(self, mode: bool = True) -> FaceEmbedder:
        if mode:
            self._fingerprint = None  # the weights may change from here on
        return super().train(mode)

    def load_state_dict(self, *args: Any, **kwargs: Any) -> Any:
        self._fingerprint = None
        return super().load_state_dict(*args, **kwargs)

    @property
    def preprocessing(self) -> Preprocessing:
        return self.config.preprocessing

    @property
    def distance(self) -> Distance:
        return get_distance(self.config.distance)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The network's output before L2 normalisation (for an imported network: its own descriptor)."""
        return self.bn(self.project(self.dropout(self.backbone(x))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.normalize(self.features(x).float(), dim=1)

    def preprocess(self, images: Sequence[str | Path | np.ndarray] | np.ndarray) -> np.ndarray:
        """Face images (files, RGB arrays, or stored crops) -> the (N, 3, H, W) float32 input the network, and
        the ONNX file `faceprint export` writes from it, take."""
        return self.preprocessing.to_input(self.preprocessing.stack(images))

    @torch.no_grad()
    def embed(
        self,
        images: Sequence[str | Path | np.ndarray] | np.ndarray,
        batch_size: int = 128,
        progress: bool = False,
        flip: bool | str | None = None,
    ) -> np.ndarray:
        """(N, D) float32 embeddings of image files, RGB arrays, or already-stored (N, S, S, 3) uint8 crops.

        `flip` (test-time augmentation with the mirrored face): "sum" (or True) adds the two embeddings and
        renormalises, (N, D); "concat" joins them into one unit vector of size 2D; None: the model's own
        `test_flip` (what its thresholds were fitted with).
        """
        mode = flip_mode(flip, self.config.test_flip)
        was_training = self.training
        self.eval()
        pre = self.preprocessing
        out = []
        try:
            n = len(images)
            for s in tqdm(range(0, n, batch_size), desc="embedding", unit="batch", disable=not progress):
                x = pre.to_tensor(pre.stack(images[s : s + batch_size]))
                e = self(x)
                if mode == "sum":
                    e = nn.functional.normalize(e + self(x.flip(3)), dim=1)
                elif mode == "concat":
                    e = nn.functional.normalize(torch.cat([e, self(x.flip(3))], 1), dim=1)
                out.append(e.cpu().numpy())
        finally:
            self.train(was_training)
        if not out:
            return np.zeros((0, self.config.embedding_size * (2 if mode == "concat" else 1)), np.float32)
        return np.concatenate(out).astype(np.float32)
