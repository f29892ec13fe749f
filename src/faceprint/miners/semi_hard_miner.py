"""The paper's online selection: every anchor-positive pair, with a negative d(a,p) < d(a,n) < d(a,p) + margin."""

from __future__ import annotations

import torch

from faceprint.distances import Distance
from faceprint.errors import InputError
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
            raise InputError(f"policy must be one of {POLICIES}, got {policy!r}")
        if fallback not in FALLBACKS:
            raise InputError(f"fallback must be one of {FALLBACKS}, got {fallback!r}")
        self.policy = policy
        self.fallback = fallback
        self.generator = generator

    def mine(self, dist: torch.Tensor, masks: PairMasks) -> Triplets:
        a, p = masks.positive.nonzero(as_tuple=True)
        if a.numel() == 0:
            return Triplets.empty(dist.device)
        d_ap = dist[a, p]
        # Lay each anchor's positive distances out in a padded (B, max positives) query matrix, so that one batched
        # operation serves every pair without copying a distance row per pair.
        counts = masks.positive.sum(1)
        starts = torch.cumsum(counts, 0) - counts
        col = torch.arange(a.numel(), device=a.device) - starts[a]
        queries = torch.full((dist.shape[0], int(counts.max())), float("inf"), dtype=dist.dtype, device=dist.device)
        queries[a, col] = d_ap
        n, farther = self._closest_farther(dist, masks.negative, queries, a, col)
        found = farther & (dist[a, n] < d_ap + self.margin)
        if self.policy == "random":
            drawn, found = self._random_semi_hard(dist, masks.negative, queries, a, col)
            n = torch.where(found, drawn, n)
        keep = found.clone()
        if self.fallback in ("closest_farther", "tf_addons"):
            keep |= farther
        has_neg = masks.negative.any(1)[a]
        if self.fallback == "hardest":
            hardest = dist.masked_fill(~masks.negative, float("inf")).argmin(1)
            n = torch.where(found, n, hardest[a])
            keep |= has_neg
        elif self.fallback == "tf_addons":
            # No negative farther than the positive: TF-Addons takes the anchor's largest negative distance.
            largest = dist.masked_fill(~masks.negative, float("-inf")).argmax(1)
            n = torch.where(farther, n, largest[a])
            keep |= has_neg
        self._extra["frac_semi_hard"] = float(found.float().mean())
        return Triplets(a[keep], p[keep], n[keep])

    @staticmethod
    def _closest_farther(
        dist: torch.Tensor, negative: torch.Tensor, queries: torch.Tensor, a: torch.Tensor, col: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """For each pair, the closest negative with d(a,n) > d(a,p) (lowest index among ties), and whether one exists.

        Without sorting the (B, R) matrix: each negative falls into a bucket by how many of the anchor's positive
        distances it exceeds; a scatter-min per bucket and a suffix minimum over buckets give every pair its
        answer. Buckets cover disjoint distance ranges, so ties can only occur inside one bucket, where a second
        scatter-min over column indices picks the lowest.
        """
        rows, m = queries.shape
        q_sorted, q_order = queries.sort(dim=1)
        bucket = count_below(q_sorted, dist)  # how many of the anchor's positives are closer than each entry
        values = dist.masked_fill(~negative, float("inf"))
        best = torch.full((rows, m + 1), float("inf"), dtype=dist.dtype, device=dist.device)
        best.scatter_reduce_(1, bucket, values, reduce="amin")
        is_best = (values == best.gather(1, bucket)) & negative
        cols = torch.arange(dist.shape[1], device=dist.device, dtype=torch.int32)
        best_col = torch.full((rows, m + 1), dist.shape[1], dtype=torch.int32, device=dist.device)
        best_col.scatter_reduce_(1, bucket, torch.where(is_best, cols, dist.shape[1]), reduce="amin")
        # Suffix minimum over buckets j+1..m: the negatives farther than the j-th smallest positive distance.
        suffix_val, where = best[:, 1:].flip(1).cummin(1)
        suffix_val, suffix_bucket = suffix_val.flip(1), m - where.flip(1)
        rank = torch.empty_like(q_order)
        rank.scatter_(1, q_order, torch.arange(m, device=dist.device).expand_as(q_order).contiguous())
        j = rank[a, col]
        farther = torch.isfinite(suffix_val[a, j])
        n = best_col[a, suffix_bucket[a, j]].long()
        return torch.where(farther, n, torch.zeros_like(n)), farther

    def _random_semi_hard(
        self, dist: torch.Tensor, negative: torch.Tensor, queries: torch.Tensor, a: torch.Tensor, col: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """A uniformly drawn semi-hard negative per pair, and whether one exists.

        Needs each anchor's negatives sorted (O(B^2 log B)), so it is slower than the "hardest" policy.
        """
        n_neg = negative.sum(1)
        neg_sorted, neg_order = dist.masked_fill(~negative, float("inf")).sort(dim=1, stable=True)
        lo = torch.searchsorted(neg_sorted, queries, right=True)[a, col]  # first negative > d(a,p)
        hi = torch.searchsorted(neg_sorted, queries + self.margin, right=False)[a, col]  # first >= d(a,p) + margin
        hi = torch.minimum(hi, n_neg[a])
        width = (hi - lo).clamp_min(1)
        u = torch.rand(a.numel(), generator=self.generator, dtype=torch.float64).to(a.device)
        pick = (lo + (u * width.double()).long().clamp_max(width - 1)).clamp_max(dist.shape[1] - 1)
        return neg_order[a, pick], lo < hi


def count_below(sorted_rows: torch.Tensor, values: torch.Tensor, max_passes: int = 64) -> torch.Tensor:
    """For each entry of `values` (B, R), how many entries of its row of `sorted_rows` (B, m) are smaller.

    This is `searchsorted(..., right=False)`; with few columns (an anchor's positives: K - 1) m branch-free
    comparison passes beat the binary search, whose branches mispredict on real distances (35 vs 50 ms at
    B = 1,800, K = 40 on this machine's 2 cores).
    """
    m = sorted_rows.shape[1]
    if m > max_passes:
        return torch.searchsorted(sorted_rows, values, right=False)
    count = torch.zeros(values.shape, dtype=torch.uint8, device=values.device)
    above = torch.empty(values.shape, dtype=torch.bool, device=values.device)
    for j in range(m):
        torch.gt(values, sorted_rows[:, j : j + 1], out=above)
        count.add_(above)
    return count.long()
