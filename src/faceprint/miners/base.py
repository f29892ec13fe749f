"""What every miner shares: input checks, the label masks, no_grad, and the statistics that explain training."""

from __future__ import annotations

from typing import NamedTuple

import torch

from faceprint.distances import Distance, get_distance
from faceprint.errors import InputError


class Triplets(NamedTuple):
    """Index triplets: `anchor` indexes the batch, `positive` and `negative` index the reference set."""

    anchor: torch.Tensor
    positive: torch.Tensor
    negative: torch.Tensor

    def __len__(self) -> int:  # type: ignore[override]
        return int(self.anchor.numel())

    @staticmethod
    def empty(device: torch.device | str = "cpu") -> Triplets:
        e = torch.empty(0, dtype=torch.long, device=device)
        return Triplets(e, e.clone(), e.clone())


class PairMasks(NamedTuple):
    """Which (anchor, reference) entries are positives (same identity, not the anchor itself) and negatives."""

    positive: torch.Tensor
    negative: torch.Tensor


def pair_masks(labels: torch.Tensor, ref_labels: torch.Tensor, self_index: torch.Tensor | None) -> PairMasks:
    """Boolean (B, R) masks; `self_index[i]` is anchor i's own row in the reference set (or -1 if absent)."""
    same = labels[:, None] == ref_labels[None, :]
    positive = same.clone()
    if self_index is not None:
        rows = torch.arange(labels.numel(), device=labels.device)
        present = self_index >= 0
        positive[rows[present], self_index[present]] = False
    return PairMasks(positive, ~same)


class Miner:
    """Base class: subclasses implement `mine` on a precomputed (B, R) distance matrix.

    Anchors come from `embeddings`; positives and negatives from `ref_embeddings` (default: the batch itself).
    Passing embeddings gathered from every process as the reference set lets negatives come from all devices.
    """

    def __init__(self, margin: float = 0.2, distance: str | Distance = "squared_l2") -> None:
        if margin < 0:
            raise InputError(f"margin must be >= 0, got {margin}")
        self.margin = float(margin)
        self.distance = get_distance(distance)
        self.stats: dict[str, float] = {}
        self._extra: dict[str, float] = {}  # per-call figures a subclass adds to `stats`

    def __call__(
        self,
        embeddings: torch.Tensor,
        labels: torch.Tensor,
        ref_embeddings: torch.Tensor | None = None,
        ref_labels: torch.Tensor | None = None,
        self_index: torch.Tensor | None = None,
        dist: torch.Tensor | None = None,
    ) -> Triplets:
        """Mine triplets; `self_index` maps each anchor to its row in the reference set when one is given.

        `dist`, the (B, R) distances already computed for the loss, saves computing them twice.
        """
        if embeddings.ndim != 2:
            raise ValueError(f"embeddings must be (B, D), got shape {tuple(embeddings.shape)}")
        if labels.ndim != 1 or labels.numel() != embeddings.shape[0]:
            raise ValueError(f"labels must be (B,) with B={embeddings.shape[0]}, got shape {tuple(labels.shape)}")
        if ref_embeddings is None:
            if ref_labels is not None:
                raise ValueError("ref_labels given without ref_embeddings")
            ref_embeddings, ref_labels = embeddings, labels
            self_index = torch.arange(labels.numel(), device=labels.device)
        elif ref_labels is None or ref_labels.numel() != ref_embeddings.shape[0]:
            raise ValueError("ref_embeddings need ref_labels of the same length")
        self._extra = {}
        with torch.no_grad():
            if dist is None:
                dist = self.distance.pairwise(embeddings.detach().float(), ref_embeddings.detach().float())
            elif dist.shape != (embeddings.shape[0], ref_embeddings.shape[0]):
                raise ValueError(f"dist must be (B, R) = {(embeddings.shape[0], ref_embeddings.shape[0])}")
            dist = dist.detach().float()
            masks = pair_masks(labels, ref_labels, self_index)
            triplets = self.mine(dist, masks)
            self._record(dist, masks, triplets, self_index)
        return triplets

    def mine(self, dist: torch.Tensor, masks: PairMasks) -> Triplets:
        raise NotImplementedError

    def record(self, dist: torch.Tensor, labels: torch.Tensor, triplets: Triplets) -> dict[str, float]:
        """`stats` for triplets chosen elsewhere (offline mining) on a batch's (B, B) distances: the same
        figures, by the same definitions, as a call that mines them."""
        with torch.no_grad():
            self_index = torch.arange(labels.numel(), device=labels.device)
            self._extra = {}
            self._record(dist.detach().float(), pair_masks(labels, labels, self_index), triplets, self_index)
        return self.stats

    def _record(
        self, dist: torch.Tensor, masks: PairMasks, t: Triplets, self_index: torch.Tensor | None
    ) -> None:
        n_pairs = int(masks.positive.sum())
        # Mean pairwise distance of the batch (self-distances left out): falls towards 0 when the model collapses
        # to f(x) = constant.
        n_self = int((self_index >= 0).sum()) if self_index is not None else 0
        n_off = dist.numel() - n_self
        self.stats = {
            "num_triplets": float(len(t)),
            "num_pos_pairs": float(n_pairs),
            "spread": float(dist.sum()) / n_off if n_off > 0 else 0.0,
            "mean_d_ap": float(dist[t.anchor, t.positive].mean()) if len(t) else float("nan"),
            "mean_d_an": float(dist[t.anchor, t.negative].mean()) if len(t) else float("nan"),
            **self._extra,
        }
