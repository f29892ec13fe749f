"""Batch-hard (Hermans et al. 2017): per anchor, its farthest positive and its closest negative."""

from __future__ import annotations

import torch

from faceprint.miners.base import Miner, PairMasks, Triplets


class BatchHardMiner(Miner):
    """One triplet per anchor that has both a positive and a negative; ties go to the lowest index.

    The paper warns that the hardest negatives early in training can collapse the model to f(x) = 0; this miner
    is here for comparison and for fine-tuning a model that already separates identities.
    """

    def mine(self, dist: torch.Tensor, masks: PairMasks) -> Triplets:
        valid = masks.positive.any(1) & masks.negative.any(1)
        p = dist.masked_fill(~masks.positive, float("-inf")).argmax(1)
        n = dist.masked_fill(~masks.negative, float("inf")).argmin(1)
        a = valid.nonzero(as_tuple=True)[0]
        return Triplets(a, p[a], n[a])
