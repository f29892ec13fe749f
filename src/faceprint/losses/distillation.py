"""Losses that teach a student the geometry of a teacher's embedding (teacher-guided triplet training).

- `EmbeddingDistillation`: each face's embedding should be the teacher's: mean d(s_i, t_i) (both unit vectors,
  so with squared L2 this is 2 - 2 cos). Needs the same embedding size; the strongest signal per image, and it
  needs no label, so unlabelled photos teach too.
- `RelationalDistillation`: the distances among a batch's faces should be the teacher's: mean over pairs i < j of
  (d_s(i,j) - d_t(i,j))^2 (the distance-wise term of relational distillation, Park et al. CVPR 2019, with the
  raw distance since both live on the unit sphere). Works for any embedding size.
- `TailDistillation`: only the pairs an open-set threshold decides on, and only where the student does worse than
  the teacher: each anchor's same-person pairs farther apart than the teacher has them, and its k nearest strangers
  (by the student's own distance) nearer than the teacher has them; mean of the squared shortfalls. A student may
  beat its teacher here; relational distillation would pull it back.
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


class TailDistillation(torch.nn.Module):
    def __init__(self, k: int = 5, distance: str | Distance = "squared_l2") -> None:
        super().__init__()
        if k < 1:
            raise InputError(f"k (nearest strangers per anchor) must be >= 1, got {k}")
        self.k, self.distance = k, get_distance(distance)

    def forward(self, student_dist: torch.Tensor, teacher: torch.Tensor, labels: torch.Tensor,
                mask: torch.Tensor | None = None) -> torch.Tensor:
        """`student_dist`: the (B, B) distance matrix of the student's batch; `labels`: (B,) identities."""
        t = self.distance.pairwise(teacher.to(student_dist.dtype))
        n = len(labels)
        ok = torch.ones(n, dtype=torch.bool, device=labels.device) if mask is None else mask
        valid = ok[:, None] & ok[None, :] & ~torch.eye(n, dtype=torch.bool, device=labels.device)
        same = labels[:, None] == labels[None, :]
        pos = valid & same
        neg = valid & ~same
        # each anchor's k nearest strangers in the student's space (selection without gradient)
        k = min(self.k, n)
        far = torch.where(neg, student_dist.detach(), torch.full_like(student_dist, float("inf")))
        near = torch.zeros_like(neg)
        near.scatter_(1, far.topk(k, dim=1, largest=False).indices, True)
        near &= neg
        short = torch.cat([(student_dist - t).clamp(min=0)[pos], (t - student_dist).clamp(min=0)[near]])
        return (short**2).mean() if short.numel() else student_dist.sum() * 0.0
