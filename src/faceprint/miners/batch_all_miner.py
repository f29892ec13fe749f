"""Batch-all: every valid triplet whose loss is positive."""

from __future__ import annotations

import torch

from faceprint.distances import Distance
from faceprint.errors import InputError
from faceprint.miners.base import Miner, PairMasks, Triplets


class BatchAllMiner(Miner):
    """All (a, p, n) with d(a,p) - d(a,n) + margin > 0, enumerated in chunks of anchor-positive pairs.

    The count grows as pairs x B (about 10^8 at B = 1,800 with random embeddings), so `max_triplets` caps it: above
    the cap a uniform random subset is kept and `stats["num_valid"]` reports how many there were.
    """

    def __init__(
        self,
        margin: float = 0.2,
        distance: str | Distance = "squared_l2",
        max_triplets: int | None = 5_000_000,
        chunk_pairs: int = 4096,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__(margin, distance)
        if max_triplets is not None and max_triplets <= 0:
            raise InputError(f"max_triplets must be positive or None, got {max_triplets}")
        self.max_triplets = max_triplets
        self.chunk_pairs = chunk_pairs
        self.generator = generator

    def mine(self, dist: torch.Tensor, masks: PairMasks) -> Triplets:
        a, p = masks.positive.nonzero(as_tuple=True)
        parts: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
        for s in range(0, a.numel(), self.chunk_pairs):
            ca, cp = a[s : s + self.chunk_pairs], p[s : s + self.chunk_pairs]
            d_ap = dist[ca, cp]
            active = masks.negative[ca] & (d_ap[:, None] - dist[ca] + self.margin > 0)
            i, n = active.nonzero(as_tuple=True)
            parts.append((ca[i], cp[i], n))
        if not parts:
            return Triplets.empty(dist.device)
        t = Triplets(*(torch.cat(x) for x in zip(*parts)))
        self._extra["num_valid"] = float(len(t))
        if self.max_triplets is not None and len(t) > self.max_triplets:
            keep = torch.randperm(len(t), generator=self.generator)[: self.max_triplets].sort().values.to(dist.device)
            t = Triplets(t.anchor[keep], t.positive[keep], t.negative[keep])
        return t
