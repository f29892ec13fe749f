"""Teacher-guided losses against plain numpy, and the per-triplet margin of the triplet loss."""

import numpy as np
import pytest
import torch

from faceprint.losses import EmbeddingDistillation, RelationalDistillation, TailDistillation, TripletLoss
from faceprint.miners.base import Triplets


def _unit(rng, n, d=8):
    x = rng.normal(size=(n, d))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.mark.parametrize("distance", ["squared_l2", "l2"])
def test_embedding_distillation_matches_numpy(distance):
    rng = np.random.default_rng(0)
    s, t = _unit(rng, 6), _unit(rng, 6)
    mask = np.array([1, 1, 0, 1, 0, 1], bool)
    d = ((s - t) ** 2).sum(1)
    d = d if distance == "squared_l2" else np.sqrt(d)
    got = EmbeddingDistillation(distance)(torch.tensor(s), torch.tensor(t), torch.tensor(mask))
    assert float(got) == pytest.approx(d[mask].mean(), rel=1e-9)
    assert float(EmbeddingDistillation(distance)(torch.tensor(s), torch.tensor(s))) == pytest.approx(0, abs=1e-6)
    with pytest.raises(ValueError, match="same size"):
        EmbeddingDistillation()(torch.tensor(s), torch.tensor(t[:, :4]))


def test_relational_distillation_matches_numpy():
    rng = np.random.default_rng(1)
    s, t = _unit(rng, 5, 8), _unit(rng, 5, 16)  # any sizes: only distances are compared
    mask = np.array([1, 0, 1, 1, 1], bool)
    ds = ((s[:, None] - s[None]) ** 2).sum(-1)
    dt = ((t[:, None] - t[None]) ** 2).sum(-1)
    ref = [(ds[i, j] - dt[i, j]) ** 2 for i in range(5) for j in range(i + 1, 5) if mask[i] and mask[j]]
    got = RelationalDistillation()(torch.tensor(ds), torch.tensor(t), torch.tensor(mask))
    assert float(got) == pytest.approx(np.mean(ref), rel=1e-6)


@pytest.mark.parametrize("k", [1, 2, 3, 50])
def test_tail_distillation_matches_a_loop_over_anchors(k):
    rng = np.random.default_rng(3)
    n = 9
    s, t = _unit(rng, n, 8), _unit(rng, n, 16)
    labels = np.array([0, 0, 0, 1, 1, 2, 2, 2, 3])
    mask = np.array([1, 1, 1, 1, 0, 1, 1, 1, 1], bool)
    ds = ((s[:, None] - s[None]) ** 2).sum(-1)
    dt = ((t[:, None] - t[None]) ** 2).sum(-1)
    terms = []
    for a in range(n):
        if not mask[a]:
            continue
        for p in range(n):  # same person, not itself: only where the student has them farther apart
            if p != a and mask[p] and labels[p] == labels[a]:
                terms.append(max(ds[a, p] - dt[a, p], 0) ** 2)
        strangers = sorted((ds[a, j], j) for j in range(n) if mask[j] and labels[j] != labels[a])
        for _, j in strangers[:k]:  # the student's k nearest strangers: only where it has them nearer
            terms.append(max(dt[a, j] - ds[a, j], 0) ** 2)
    got = TailDistillation(k)(torch.tensor(ds), torch.tensor(t), torch.tensor(labels), torch.tensor(mask))
    assert float(got) == pytest.approx(np.mean(terms), rel=1e-6)
    assert any(x > 0 for x in terms) and any(x == 0 for x in terms)  # both sides of the hinge are exercised


def test_tail_distillation_is_zero_where_the_student_beats_the_teacher():
    rng = np.random.default_rng(4)
    t = _unit(rng, 6, 8)
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    dt = ((t[:, None] - t[None]) ** 2).sum(-1)
    same = (labels[:, None] == labels[None, :]).numpy()
    better = np.where(same, dt * 0.5, np.minimum(dt * 1.5, 4.0))  # pairs closer, strangers farther
    dist = torch.tensor(better, requires_grad=True)
    loss = TailDistillation(2)(dist, torch.tensor(t), labels)
    assert float(loss.detach()) == 0.0
    loss.backward()
    assert float(dist.grad.abs().sum()) == 0.0
    with pytest.raises(ValueError, match=">= 1"):
        TailDistillation(0)


def test_triplet_loss_with_per_triplet_margins():
    rng = np.random.default_rng(2)
    e = _unit(rng, 6)
    tri = Triplets(torch.tensor([0, 1, 2]), torch.tensor([3, 4, 5]), torch.tensor([4, 5, 3]))
    m = np.array([0.0, 0.5, 1.5])
    d = ((e[:, None] - e[None]) ** 2).sum(-1)
    ref = np.maximum(d[[0, 1, 2], [3, 4, 5]] - d[[0, 1, 2], [4, 5, 3]] + m, 0).mean()
    got = TripletLoss(0.2)(torch.tensor(e), tri, margins=torch.tensor(m))
    assert float(got) == pytest.approx(ref, rel=1e-6)
    with pytest.raises(ValueError, match="one per triplet"):
        TripletLoss(0.2)(torch.tensor(e), tri, margins=torch.tensor(m[:2]))
