"""A straight port of TF-Addons' `triplet_semihard_loss` to PyTorch, for benchmarks and as a test reference.

It keeps TF-Addons' algorithm (a (B*B, B) tiled distance matrix, masked minimum / maximum) so its cost and its
answers are theirs: for each positive pair, the closest negative farther than the positive, else the anchor's
largest negative distance; loss averaged over all positive pairs.
"""

from __future__ import annotations

import torch


def tfa_semihard_port(labels: torch.Tensor, emb: torch.Tensor, margin: float) -> torch.Tensor:
    """TF-Addons' algorithm as written there: the (B*B, B) tiled distance matrix, masked min / max, squared L2."""
    b = labels.numel()
    sq = (emb * emb).sum(1)
    pdist = (sq[:, None] + sq[None, :] - 2 * emb @ emb.t()).clamp_min(0)
    pdist = pdist * (1 - torch.eye(b))
    adjacency = labels[:, None] == labels[None, :]
    adjacency_not = ~adjacency
    pdist_tile = pdist.repeat(b, 1)  # (B*B, B)
    mask = adjacency_not.repeat(b, 1) & (pdist_tile > pdist.t().reshape(-1, 1))
    mask_final = (mask.float().sum(1, keepdim=True) > 0).reshape(b, b).t()

    def masked_min(data: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        axis_max = data.max(1, keepdim=True).values
        return ((data - axis_max) * m).min(1, keepdim=True).values + axis_max

    def masked_max(data: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        axis_min = data.min(1, keepdim=True).values
        return ((data - axis_min) * m).max(1, keepdim=True).values + axis_min

    negatives_outside = masked_min(pdist_tile, mask.float()).reshape(b, b).t()
    negatives_inside = masked_max(pdist, adjacency_not.float()).repeat(1, b)
    semi_hard = torch.where(mask_final, negatives_outside, negatives_inside)
    loss_mat = margin + pdist - semi_hard
    mask_positives = adjacency.float() - torch.eye(b)
    return (loss_mat.clamp_min(0) * mask_positives).sum() / mask_positives.sum()
