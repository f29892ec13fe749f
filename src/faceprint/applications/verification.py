"""Verification: two faces, one distance, one threshold."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from faceprint.models import FaceEmbedder


@dataclass
class VerifyResult:
    distance: float
    threshold: float
    same: bool
    distance_name: str

    def to_dict(self) -> dict:
        return asdict(self)


def resolve_threshold(model: FaceEmbedder, threshold: float | None) -> float:
    """The given threshold, else the one calibrated for this model and stored in its file."""
    if threshold is not None:
        return float(threshold)
    if model.config.threshold is None:
        raise ValueError("this model has no calibrated threshold: pass --threshold, or run `faceprint calibrate`")
    return float(model.config.threshold)


def distance(model: FaceEmbedder, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distances between rows of a and b in the model's own distance."""
    return model.distance.paired(torch.from_numpy(np.atleast_2d(a)), torch.from_numpy(np.atleast_2d(b))).numpy()


def verify(
    model: FaceEmbedder, a: str | Path | np.ndarray, b: str | Path | np.ndarray, threshold: float | None = None
) -> VerifyResult:
    """Same person if the distance between the two faces is strictly below the threshold."""
    t = resolve_threshold(model, threshold)
    e = model.embed([a, b])
    d = float(distance(model, e[0], e[1])[0])
    return VerifyResult(d, t, d < t, model.config.distance)
