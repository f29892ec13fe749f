"""The paper's online selection: every anchor-positive pair, with a negative d(a,p) < d(a,n) < d(a,p) + margin."""

from __future__ import annotations

import torch

from faceprint.distances import Distance
from faceprint.miners.base import Miner, PairMasks, Triplets

POLICIES = ("hardest", "random")
FALLBACKS = ("drop", "closest_farther", "hardest", "tf_addons")


class SemiHardMiner(Miner):
    """Semi-hard negatives for all anchor-positive pairs, in O(B^2) memory.

    Each anchor's negative distances are sorted once; a binary search then finds, for every positive pair, the
    run of negatives that lies strictly inside (d(a,p), d(a,p) + margin). No (B, B, B) tensor is ever built.

    policy:
        "hardest" (default): the closest semi-hard negative; "random": one drawn uniformly from the semi-hard ones.
    fallback, for a pair with no semi-hard negative:
        "drop" (default): the pair yields no triplet (the paper's rule: only semi-hard triplets train).
        "closest_farther": the closest negative farther than the positive even if beyond the margin (zero loss,
            but it counts in a mean over all triplets); dropped if no negative is farther.
        "hardest": the closest negative of the anchor, even if closer than the positive (a hard triplet).
        "tf_addons": what TF-Addons' `triplet_semihard_loss` does: the closest farther negative if one exists,
            else the *largest* negative distance of the anchor (the easiest negative, not the hardest).
    Ties between equal distances go to the lowest reference index.
    """

    def __init__(
        self,
        margin: float = 0.2,
        distance: str | Distance = "squared_l2",
        policy: str = "hardest",
        fallback: str = "drop",
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__(margin, distance)
        if policy not in POLICIES:
            raise ValueError(f"policy must be one of {POLICIES}, got {policy!r}")
        if fallback not in FALLBACKS:
            raise ValueError(f"fallback must be one of {FALLBACKS}, got {fallback!r}")
        self.policy = policy
        self.fallback = fallback
        self.generator = generator

    def mine(self, dist: torch.Tensor, masks: PairMasks) -> Triplets:
        a, p = masks.positive.nonzero(as_tuple=True)
        if a.numel() == 0:
            return Triplets.empty(dist.device)
        d_ap = dist[a, p]
        n_neg = masks.negative.sum(1)
        neg_sorted, neg_order = dist.masked_fill(~masks.negative, float("inf")).sort(dim=1, stable=True)

        # Lay each anchor's positive distances out in a padded (B, max positives) matrix so that one batched
        # searchsorted serves every pair without copying sorted rows per pair.
        counts = masks.positive.sum(1)
        starts = torch.cumsum(counts, 0) - counts
        col = torch.arange(a.numel(), device=a.device) - starts[a]
        queries = torch.full((dist.shape[0], int(counts.max())), float("inf"), dtype=dist.dtype, device=dist.device)
        queries[a, col] = d_ap
        lo = torch.searchsorted(neg_sorted, queries, right=True)[a, col]  # first negative > d(a,p)
        upper = (queries + self.margin) if self.margin > 0 else queries
        hi = torch.searchsorted(neg_sorted, upper, right=False)[a, col]  # first negative >= d(a,p) + margin
        hi = torch.minimum(hi, n_neg[a])
        found = lo < hi

        if self.policy == "hardest":
            pick = lo.clone()
        else:
            width = (hi - lo).clamp_min(1)
            u = torch.rand(a.numel(), generator=self.generator, dtype=torch.float64).to(a.device)
            pick = lo + (u * width.double()).long().clamp_max(width - 1)
        keep = found.clone()
        if self.fallback != "drop":
            farther = ~found & (lo < n_neg[a])
            if self.fallback in ("closest_farther", "tf_addons"):
                pick = torch.where(farther, lo, pick)
                keep |= farther
            if self.fallback == "hardest":
                fb = ~found & (n_neg[a] > 0)
                pick = torch.where(fb, torch.zeros_like(pick), pick)
                keep |= fb
            elif self.fallback == "tf_addons":
                inside = ~found & ~farther & (n_neg[a] > 0)
                # The first position holding the anchor's largest negative distance, so ties go to the lowest index.
                largest = neg_sorted.gather(1, (n_neg - 1).clamp_min(0)[:, None])
                first_largest = torch.searchsorted(neg_sorted, largest, right=False)[:, 0]
                pick = torch.where(inside, first_largest[a], pick)
                keep |= inside
        a, p, pick = a[keep], p[keep], pick[keep]
        self._extra["frac_semi_hard"] = float(found.float().mean())
        return Triplets(a, p, neg_order[a, pick])
