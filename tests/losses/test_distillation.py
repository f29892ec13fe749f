"""Teacher-guided losses against plain numpy, and the per-triplet margin of the triplet loss."""

import numpy as np
import pytest
import torch

from faceprint.losses import EmbeddingDistillation, RelationalDistillation, TripletLoss
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
