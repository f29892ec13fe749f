"""A model's config: everything needed to rebuild its network and feed it correctly, saved inside every model file.
Torch-free: the core reads it to run a model file in onnxruntime."""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field
from typing import Any

from faceprint.data.transforms import Preprocessing
from faceprint.distances import get_distance
from faceprint.errors import InputError


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
    # A photo library's cut: the same fit over folders of hundreds of people. A library holds thousands, and the
    # more strangers a cut sees, the more of them come within it (a folder's cut over-merges a library).
    library_threshold: float | None = None
    # Provenance: data, recipe, figures measured; free-form and never needed to run the model.
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # the backbone's name is checked where a PyTorch network is built from it (FaceEmbedder): the core runs a
        # model file's own network graph and needs no registry of backbones
        if not isinstance(self.backbone, str) or not self.backbone:
            raise InputError(f"backbone must be a name, got {self.backbone!r}")
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
