"""Losses on mined triplets, and the teacher-guided ones beside them."""

from faceprint.losses.distillation import EmbeddingDistillation, RelationalDistillation, TailDistillation
from faceprint.losses.triplet_loss import REDUCTIONS, TripletLoss

__all__ = ["REDUCTIONS", "EmbeddingDistillation", "RelationalDistillation", "TailDistillation", "TripletLoss"]
