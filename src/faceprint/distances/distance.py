"""Squared L2 (the paper's choice, 0..4 on the unit sphere) and plain L2.

One implementation for numpy arrays (search, identification, clustering: the core, no PyTorch) and torch tensors
(miners and losses, with gradients): the formulas use only what both share, and the few calls that differ go
through `_is_torch` / `_clamp_min`. torch is never imported here: a tensor brings its own module."""

from __future__ import annotations

from typing import Any

import numpy as np

from faceprint.errors import InputError

# sqrt has an infinite slope at 0: two identical images in a batch (sampling with replacement) would give NaN
# gradients. Below this the clamp cuts the gradient instead.
_SQRT_EPS = 1e-12


class Distance:
    """A distance between embeddings; `name` is what model files and reports record.

    Every distance here is a monotone function of squared L2, so it also knows how to search (indexes rank by
    squared L2, the fast form, and report in this unit) and how to decide: smaller is closer, and two faces are
    the same person when their distance is strictly below the threshold.
    """

    name: str = ""
    diameter: float = 0.0  # the largest distance between two unit vectors (antipodes)
    # whether the mean distance between two sets of unit vectors follows from their mean vectors alone (squared L2:
    # mean |a - b|^2 = 2 - 2 mean(a) . mean(b)), which lets average linkage run without the N x N matrix
    averages_through_means: bool = False

    def same(self, d: Any, threshold: float) -> Any:
        """The decision: same person iff d < threshold (works on floats, arrays and tensors)."""
        return d < threshold

    def from_squared_l2(self, sq: Any) -> Any:
        """Squared L2 distances (arrays or tensors, >= 0) in this distance's unit."""
        raise NotImplementedError

    def pairwise(self, x: Any, y: Any = None) -> Any:
        """(N, D) x (M, D) -> (N, M) distances, O(N*M) memory (arrays or tensors, as given)."""
        raise NotImplementedError

    def paired(self, x: Any, y: Any) -> Any:
        """Row i of x against row i of y -> (N,)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def _is_torch(x: Any) -> bool:
    return type(x).__module__.startswith("torch")


def _clamp_min(d: Any, low: float) -> Any:
    if _is_torch(d):
        return d.clamp_min(low)
    return np.maximum(d, np.asarray(low, d.dtype))


def _squared_pairwise(x: Any, y: Any) -> Any:
    same = y is None
    y = x if y is None else y
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"pairwise distance needs (N, D) and (M, D) tensors, got {tuple(x.shape)} and {tuple(y.shape)}")
    # |x|^2 + |y|^2 - 2 x.y: one matrix product instead of an (N, M, D) difference tensor
    xx = (x * x).sum(1)
    yy = xx if same else (y * y).sum(1)
    if _is_torch(x):  # the additions in place on the product's output (its backward does not need it)
        d = yy[None].addmm(x, y.T, alpha=-2.0).add_(xx[:, None])
        d = d.clamp_min(0.0) if d.requires_grad else d.clamp_min_(0.0)
    else:
        d = x @ y.T
        d *= -2
        d += xx[:, None]
        d += yy[None]
        np.maximum(d, 0, out=d)
    if same:
        # Rounding leaves ~1e-7 on the diagonal; it is exactly zero by definition.
        d.fill_diagonal_(0.0) if _is_torch(d) else np.fill_diagonal(d, 0.0)
    return d


class SquaredL2Distance(Distance):
    """|x - y|^2; on the unit sphere it ranges over 0..4 and the paper's margin 0.2 is in these units."""

    name = "squared_l2"
    diameter = 4.0
    averages_through_means = True

    def from_squared_l2(self, sq: Any) -> Any:
        return sq

    def pairwise(self, x: Any, y: Any = None) -> Any:
        return _squared_pairwise(x, y)

    def paired(self, x: Any, y: Any) -> Any:
        return ((x - y) ** 2).sum(-1)


class L2Distance(Distance):
    """|x - y|; 0..2 on the unit sphere."""

    name = "l2"
    diameter = 2.0

    def from_squared_l2(self, sq: Any) -> Any:
        return _clamp_min(sq, 0).sqrt() if _is_torch(sq) else np.sqrt(np.maximum(sq, 0))

    def pairwise(self, x: Any, y: Any = None) -> Any:
        d = _clamp_min(_squared_pairwise(x, y), _SQRT_EPS)
        return d.sqrt() if _is_torch(d) else np.sqrt(d)

    def paired(self, x: Any, y: Any) -> Any:
        d = _clamp_min(((x - y) ** 2).sum(-1), _SQRT_EPS)
        return d.sqrt() if _is_torch(d) else np.sqrt(d)


DISTANCES: dict[str, type[Distance]] = {"squared_l2": SquaredL2Distance, "l2": L2Distance}


def get_distance(name: str | Distance) -> Distance:
    """Look a distance up by the name stored in model files and configs."""
    if isinstance(name, Distance):
        return name
    try:
        return DISTANCES[name]()
    except KeyError:
        raise InputError(f"unknown distance {name!r}; choose one of {sorted(DISTANCES)}") from None
