"""The FaceNet triplet loss [d(a,p) - d(a,n) + margin]_+ on triplets chosen by a miner."""

from __future__ import annotations

import torch

from faceprint.distances import Distance, get_distance
from faceprint.errors import InputError
from faceprint.miners.base import Triplets

REDUCTIONS = ("mean", "mean_active", "sum")


class TripletLoss(torch.nn.Module):
    """Triplet loss; the margin is in the units of `distance` (0.2 for squared L2 in the paper).

    reduction:
        "mean" (default): average over all given triplets, so easy triplets dilute the gradient.
        "mean_active": average over triplets with a positive loss only (0 when none), so the gradient keeps its
            size as training makes most triplets easy; with semi-hard triplets under the "drop" fallback every
            triplet is active and both means agree.
        "sum": the paper's sum.
    """

    def __init__(self, margin: float = 0.2, distance: str | Distance = "squared_l2", reduction: str = "mean") -> None:
        super().__init__()
        if margin < 0:
            raise InputError(f"margin must be >= 0, got {margin}")
        if reduction not in REDUCTIONS:
            raise InputError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
        self.margin = float(margin)
        self.distance = get_distance(distance)
        self.reduction = reduction
        self.stats: dict[str, float] = {}

    def forward(
        self,
        embeddings: torch.Tensor,
        triplets: Triplets,
        ref_embeddings: torch.Tensor | None = None,
        dist: torch.Tensor | None = None,
        margins: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Loss over `triplets`; anchors index `embeddings`, positives/negatives index `ref_embeddings`.

        `dist` may pass the (B, R) distance matrix (with its graph) when the miner used the same one.
        `margins` (T,) replaces the fixed margin per triplet (e.g. set by a teacher's distances).
        """
        ref = embeddings if ref_embeddings is None else ref_embeddings
        if len(triplets) == 0:
            self.stats = {"loss": 0.0, "num_triplets": 0.0, "frac_active": 0.0}
            # Zero that still belongs to the graph, so backward() works on a batch without triplets.
            return embeddings.sum() * 0.0
        # Gathering from the (B, R) matrix costs one matrix product and its backward, whatever the number of
        # triplets (70,200 at B = 1,800), instead of three (T, D) copies of embeddings.
        if dist is None:
            dist = self.distance.pairwise(embeddings, None if ref_embeddings is None else ref)
        d_ap = dist[triplets.anchor, triplets.positive]
        d_an = dist[triplets.anchor, triplets.negative]
        if margins is not None and margins.shape != d_ap.shape:
            raise InputError(f"margins must be one per triplet ({tuple(d_ap.shape)}), got {tuple(margins.shape)}")
        losses = torch.relu(d_ap - d_an + (self.margin if margins is None else margins))
        active = losses > 0
        n_active = int(active.sum())
        if self.reduction == "sum":
            loss = losses.sum()
        elif self.reduction == "mean":
            loss = losses.mean()
        else:
            loss = losses.sum() / max(n_active, 1)
        self.stats = {
            "loss": float(loss.detach()),
            "num_triplets": float(losses.numel()),
            "frac_active": n_active / losses.numel(),
        }
        return loss
