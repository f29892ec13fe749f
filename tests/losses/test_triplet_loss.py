"""The triplet loss against a numpy version written out by hand: values and gradients."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from faceprint.losses import TripletLoss
from faceprint.miners import SemiHardMiner, Triplets
from tests.reference import numpy_triplet_loss


def _triplets(n: int, b: int, r: int, seed: int) -> Triplets:
    g = torch.Generator().manual_seed(seed)
    a = torch.randint(0, b, (n,), generator=g)
    p = torch.randint(0, r, (n,), generator=g)
    neg = torch.randint(0, r, (n,), generator=g)
    keep = (p != a) & (neg != a) & (neg != p)
    return Triplets(a[keep], p[keep], neg[keep])


@pytest.mark.parametrize("distance", ["squared_l2", "l2"])
@pytest.mark.parametrize("reduction", ["mean", "mean_active", "sum"])
@pytest.mark.parametrize("margin", [0.0, 0.2, 1.0])
def test_value_and_gradient_match_numpy(distance, reduction, margin):
    g = torch.Generator().manual_seed(1)
    x = torch.nn.functional.normalize(torch.randn(16, 8, generator=g, dtype=torch.float64), dim=1)
    x.requires_grad_(True)
    t = _triplets(60, 16, 16, 0)
    loss = TripletLoss(margin, distance, reduction)(x, t)
    loss.backward()
    trip = list(zip(t.anchor.tolist(), t.positive.tolist(), t.negative.tolist()))
    xn = x.detach().numpy()
    value, gx, gy = numpy_triplet_loss(xn, xn, trip, margin, distance, reduction)
    assert loss.item() == pytest.approx(value, rel=1e-9, abs=1e-12)
    np.testing.assert_allclose(x.grad.numpy(), gx + gy, rtol=1e-7, atol=1e-10)


def test_reference_embeddings_get_their_own_gradient():
    g = torch.Generator().manual_seed(2)
    x = torch.randn(5, 4, generator=g, dtype=torch.float64, requires_grad=True)
    y = torch.randn(9, 4, generator=g, dtype=torch.float64, requires_grad=True)
    t = Triplets(torch.tensor([0, 1, 4]), torch.tensor([2, 3, 8]), torch.tensor([7, 0, 1]))
    TripletLoss(1.5, "l2", "sum")(x, t, y).backward()
    value, gx, gy = numpy_triplet_loss(x.detach().numpy(), y.detach().numpy(), [(0, 2, 7), (1, 3, 0), (4, 8, 1)],
                                       1.5, "l2", "sum")
    np.testing.assert_allclose(x.grad.numpy(), gx, rtol=1e-7)
    np.testing.assert_allclose(y.grad.numpy(), gy, rtol=1e-7)


def test_stats_and_reductions():
    x = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0], [0.0, 0.1]])
    # d_ap = 1, d_an = 4 -> loss 0 (margin 0.2); d_ap = 1, d_an = 0.01 -> loss 1.19
    t = Triplets(torch.tensor([0, 0]), torch.tensor([1, 1]), torch.tensor([2, 3]))
    for reduction, expected in [("mean", 1.19 / 2), ("mean_active", 1.19), ("sum", 1.19)]:
        loss_fn = TripletLoss(0.2, reduction=reduction)
        assert loss_fn(x, t).item() == pytest.approx(expected, rel=1e-6)
        assert loss_fn.stats["frac_active"] == 0.5 and loss_fn.stats["num_triplets"] == 2


def test_no_triplets_gives_zero_with_a_graph():
    x = torch.randn(4, 3, requires_grad=True)
    loss = TripletLoss()(x, Triplets.empty())
    loss.backward()
    assert loss.item() == 0.0 and torch.all(x.grad == 0)


def test_identical_images_give_finite_l2_gradients():
    """Sampling with replacement puts the same image twice in a batch: d(a,p) = 0 must not produce NaN."""
    x = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]], requires_grad=True)
    TripletLoss(0.5, "l2")(x, Triplets(torch.tensor([0]), torch.tensor([1]), torch.tensor([2]))).backward()
    assert torch.isfinite(x.grad).all()


def test_semi_hard_triplets_are_all_active():
    g = torch.Generator().manual_seed(0)
    x = torch.nn.functional.normalize(torch.randn(64, 16, generator=g), dim=1)
    labels = torch.arange(8).repeat_interleave(8)
    t = SemiHardMiner(0.2)(x, labels)
    loss_fn = TripletLoss(0.2)
    loss_fn(x, t)
    assert len(t) > 0 and loss_fn.stats["frac_active"] == 1.0


def test_shared_distance_matrix_gives_the_same_loss_and_triplets():
    g = torch.Generator().manual_seed(3)
    x = torch.nn.functional.normalize(torch.randn(40, 8, generator=g), dim=1).requires_grad_(True)
    labels = torch.arange(5).repeat_interleave(8)
    miner, loss_fn = SemiHardMiner(0.3), TripletLoss(0.3)
    t1 = miner(x, labels)
    l1 = loss_fn(x, t1)
    dist = loss_fn.distance.pairwise(x)
    t2 = miner(x, labels, dist=dist)
    l2 = loss_fn(x, t2, dist=dist)
    assert all(torch.equal(u, v) for u, v in zip(t1, t2)) and l1.item() == pytest.approx(l2.item())


def test_tf_addons_fallback_reproduces_tf_addons_loss():
    """The semi-hard miner's "tf_addons" fallback + a sum over pairs gives TF-Addons' own loss value."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    from tfa_semihard_port import tfa_semihard_port

    for seed in range(3):
        g = torch.Generator().manual_seed(seed)
        x = torch.nn.functional.normalize(torch.randn(48, 8, generator=g, dtype=torch.float64), dim=1)
        labels = torch.randint(0, 6, (48,), generator=g)
        miner = SemiHardMiner(0.3, fallback="tf_addons")
        t = miner(x, labels)
        ours = TripletLoss(0.3, reduction="sum")(x, t) / miner.stats["num_pos_pairs"]
        assert len(t) == miner.stats["num_pos_pairs"]  # one triplet for every positive pair
        assert ours.item() == pytest.approx(tfa_semihard_port(labels, x, 0.3).item(), rel=1e-6)
