"""Losses that teach a student the geometry of a teacher's embedding (teacher-guided triplet training).

- `EmbeddingDistillation`: each face's embedding should be the teacher's: mean d(s_i, t_i) (both unit vectors,
  so with squared L2 this is 2 - 2 cos). Needs the same embedding size; the strongest signal per image, and it
  needs no label, so unlabelled photos teach too.
- `RelationalDistillation`: the distances among a batch's faces should be the teacher's: mean over pairs i < j of
  (d_s(i,j) - d_t(i,j))^2 (the distance-wise term of relational distillation, Park et al. CVPR 2019, with the
  raw distance since both live on the unit sphere). Works for any embedding size.
Rows without a teacher target (no face found by the teacher's detector) are masked out.
"""

from __future__ import annotations

import torch

from faceprint.distances import Distance, get_distance
from faceprint.errors import InputError


class EmbeddingDistillation(torch.nn.Module):
    def __init__(self, distance: str | Distance = "squared_l2") -> None:
        super().__init__()
        self.distance = get_distance(distance)

    def forward(self, student: torch.Tensor, teacher: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if student.shape != teacher.shape:
            raise InputError(f"student {tuple(student.shape)} and teacher {tuple(teacher.shape)} embeddings differ "
                             "in shape; embedding distillation needs the same size (relational works for any)")
        d = self.distance.paired(student, teacher.to(student.dtype))
        if mask is not None:
            d = d[mask]
        return d.mean() if d.numel() else student.sum() * 0.0


class RelationalDistillation(torch.nn.Module):
    def __init__(self, distance: str | Distance = "squared_l2") -> None:
        super().__init__()
        self.distance = get_distance(distance)

    def forward(self, student_dist: torch.Tensor, teacher: torch.Tensor, mask: torch.Tensor | None = None
                ) -> torch.Tensor:
        """`student_dist`: the (B, B) distance matrix of the student's batch (shared with mining and the loss)."""
        t = self.distance.pairwise(teacher.to(student_dist.dtype))
        keep = torch.triu(torch.ones_like(t, dtype=torch.bool), diagonal=1)
        if mask is not None:
            keep &= mask[:, None] & mask[None, :]
        diff = (student_dist - t)[keep]
        return (diff**2).mean() if diff.numel() else student_dist.sum() * 0.0
