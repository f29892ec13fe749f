"""Losses on mined triplets."""

from faceprint.losses.triplet_loss import REDUCTIONS, TripletLoss

__all__ = ["REDUCTIONS", "TripletLoss"]
