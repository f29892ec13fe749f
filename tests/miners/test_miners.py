"""Every miner against a brute-force enumeration of triplets."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from faceprint.distances import get_distance
from faceprint.miners import BatchAllMiner, BatchHardMiner, SemiHardMiner, get_miner
from faceprint.miners.semi_hard_miner import count_below
from tests.reference import (
    brute_batch_all,
    brute_batch_hard,
    brute_semi_hard,
    semi_hard_candidates,
)


def _batch(kind: str, seed: int):
    g = torch.Generator().manual_seed(seed)
    if kind == "random":  # unit vectors, generic distances
        x = torch.nn.functional.normalize(torch.randn(24, 8, generator=g), dim=1)
        labels = torch.randint(0, 5, (24,), generator=g)
    elif kind == "ties":  # integer grid: many equal distances, and d(a,n) exactly at d(a,p) or d(a,p) + margin
        x = torch.randint(0, 3, (20, 3), generator=g).float()
        labels = torch.randint(0, 4, (20,), generator=g)
    elif kind == "singletons":  # some identities have one image: no positive for those anchors
        x = torch.nn.functional.normalize(torch.randn(15, 6, generator=g), dim=1)
        labels = torch.tensor([0, 0, 0, 1, 2, 3, 3, 4, 5, 6, 6, 6, 7, 8, 9])
    elif kind == "one_identity":  # no negative anywhere
        x = torch.randn(8, 4, generator=g)
        labels = torch.zeros(8, dtype=torch.long)
    elif kind == "no_pairs":  # every image its own identity: no valid triplet
        x = torch.randn(8, 4, generator=g)
        labels = torch.arange(8)
    else:
        raise ValueError(kind)
    return x, labels


KINDS = ["random", "ties", "singletons", "one_identity", "no_pairs"]
MARGINS = [0.0, 0.2, 1.0, 2.0]


def _as_set(t) -> list[tuple[int, int, int]]:
    return sorted(zip(t.anchor.tolist(), t.positive.tolist(), t.negative.tolist()))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("margin", MARGINS)
@pytest.mark.parametrize("distance", ["squared_l2", "l2"])
@pytest.mark.parametrize("fallback", ["drop", "closest_farther", "hardest", "tf_addons"])
def test_semi_hard_hardest_matches_brute_force(kind, margin, distance, fallback):
    for seed in range(3):
        x, labels = _batch(kind, seed)
        D = get_distance(distance).pairwise(x).numpy()
        got = _as_set(SemiHardMiner(margin, distance, fallback=fallback)(x, labels))
        assert got == brute_semi_hard(D, labels.tolist(), labels.tolist(), margin, fallback, list(range(len(x))))


@pytest.mark.parametrize("kind", ["random", "ties", "singletons"])
@pytest.mark.parametrize("margin", [0.2, 1.0, 2.0])
def test_semi_hard_random_policy_picks_only_semi_hard_negatives(kind, margin):
    x, labels = _batch(kind, 0)
    D = get_distance("squared_l2").pairwise(x).numpy()
    lab = labels.tolist()
    expected_pairs = {
        (a, p) for a, p, _ in brute_semi_hard(D, lab, lab, margin, "drop", list(range(len(x))))
    }
    chosen: set[tuple[int, int, int]] = set()
    for seed in range(20):
        miner = SemiHardMiner(margin, policy="random", generator=torch.Generator().manual_seed(seed))
        t = _as_set(miner(x, labels))
        assert {(a, p) for a, p, _ in t} == expected_pairs and len(t) == len(expected_pairs)
        for a, p, n in t:
            assert n in semi_hard_candidates(D, lab, lab, a, p, margin)
        chosen.update(t)
    # Over 20 draws the random policy must not always take the closest negative.
    hardest = set(brute_semi_hard(D, lab, lab, margin, "drop", list(range(len(x)))))
    if any(len(semi_hard_candidates(D, lab, lab, a, p, margin)) > 1 for a, p in expected_pairs):
        assert chosen - hardest


@pytest.mark.parametrize("fallback", ["closest_farther", "hardest", "tf_addons"])
def test_semi_hard_random_policy_applies_the_fallback_like_the_hardest_policy(fallback):
    """Pairs without a semi-hard negative get the same fallback triplet whatever the policy."""
    for kind in ["random", "ties", "singletons"]:
        x, labels = _batch(kind, 1)
        D = get_distance("squared_l2").pairwise(x).numpy()
        lab = labels.tolist()
        semi_pairs = {(a, p) for a, p, _ in brute_semi_hard(D, lab, lab, 0.2, "drop", list(range(len(x))))}
        expected = [t for t in brute_semi_hard(D, lab, lab, 0.2, fallback, list(range(len(x))))
                    if t[:2] not in semi_pairs]
        got = _as_set(SemiHardMiner(0.2, policy="random", fallback=fallback)(x, labels))
        assert [t for t in got if t[:2] not in semi_pairs] == expected
        assert {t[:2] for t in got} >= semi_pairs


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("distance", ["squared_l2", "l2"])
def test_batch_hard_matches_brute_force(kind, distance):
    for seed in range(3):
        x, labels = _batch(kind, seed)
        D = get_distance(distance).pairwise(x).numpy()
        got = _as_set(BatchHardMiner(0.2, distance)(x, labels))
        assert got == brute_batch_hard(D, labels.tolist(), labels.tolist(), list(range(len(x))))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("margin", MARGINS)
def test_batch_all_matches_brute_force(kind, margin):
    for seed in range(3):
        x, labels = _batch(kind, seed)
        D = get_distance("squared_l2").pairwise(x).numpy()
        got = _as_set(BatchAllMiner(margin, chunk_pairs=7)(x, labels))
        assert got == brute_batch_all(D, labels.tolist(), labels.tolist(), margin, list(range(len(x))))


def test_batch_all_cap_keeps_a_subset():
    x, labels = _batch("random", 1)
    full = set(_as_set(BatchAllMiner(1.0, max_triplets=None)(x, labels)))
    miner = BatchAllMiner(1.0, max_triplets=10, generator=torch.Generator().manual_seed(0))
    capped = _as_set(miner(x, labels))
    assert len(capped) == 10 and set(capped) <= full and miner.stats["num_valid"] == len(full)


@pytest.mark.parametrize("miner", [SemiHardMiner(0.5), BatchHardMiner(), BatchAllMiner(0.5)])
def test_reference_set_mining_equals_mining_the_concatenated_batch(miner):
    """Mining local anchors against embeddings gathered from all processes gives the same triplets as one batch."""
    x, labels = _batch("random", 2)
    whole = _as_set(miner(x, labels))
    for lo, hi in [(0, 12), (12, 24)]:
        part = miner(x[lo:hi], labels[lo:hi], x, labels, self_index=torch.arange(lo, hi))
        got = [(a + lo, p, n) for a, p, n in _as_set(part)]
        assert got == [t for t in whole if lo <= t[0] < hi]


def test_reference_without_self_rows():
    """Anchors that are not in the reference set (self_index -1): every same-label row is a positive."""
    x, labels = _batch("random", 3)
    q, ql = x[:6], labels[:6]
    ref, rl = x[6:], labels[6:]
    D = get_distance("squared_l2").pairwise(q, ref).numpy()
    got = _as_set(SemiHardMiner(0.5)(q, ql, ref, rl, self_index=torch.full((6,), -1)))
    assert got == brute_semi_hard(D, ql.tolist(), rl.tolist(), 0.5, "drop", [-1] * 6)


def test_stats_describe_the_batch():
    x, labels = _batch("random", 0)
    miner = SemiHardMiner(0.2)
    t = miner(x, labels)
    D = get_distance("squared_l2").pairwise(x).numpy()
    off = ~np.eye(len(x), dtype=bool)
    assert miner.stats["num_triplets"] == len(t)
    assert miner.stats["spread"] == pytest.approx(D[off].mean(), rel=1e-5)
    assert miner.stats["num_pos_pairs"] == sum(
        1 for a in range(len(x)) for p in range(len(x)) if a != p and labels[a] == labels[p]
    )
    if len(t):
        assert miner.stats["mean_d_ap"] == pytest.approx(D[t.anchor, t.positive].mean(), rel=1e-5)
    # A collapsed model: every embedding the same, spread 0 and no semi-hard negative (all distances equal).
    collapsed = torch.ones(10, 4) / 2
    miner(collapsed, torch.arange(10) % 3)
    assert miner.stats["spread"] == 0.0 and miner.stats["num_triplets"] == 0


def test_record_of_triplets_chosen_elsewhere_uses_the_same_definitions():
    """Offline mining picks triplets on a subset; the training step then records its batch with `record`: the same
    figures a mining call gives (one definition of spread: self-distances left out)."""
    x, labels = _batch("random", 1)
    miner = SemiHardMiner(0.2)
    t = miner(x, labels)
    mined = dict(miner.stats)
    D = get_distance("squared_l2").pairwise(x)
    recorded = BatchHardMiner(0.2).record(D, labels, t)
    for k in ("num_triplets", "num_pos_pairs", "spread", "mean_d_ap", "mean_d_an"):
        assert recorded[k] == pytest.approx(mined[k], rel=1e-6), k
    off = ~np.eye(len(x), dtype=bool)
    assert recorded["spread"] == pytest.approx(D.numpy()[off].mean(), rel=1e-5)


def test_large_batch_is_mined_in_quadratic_memory():
    """B = 1,800 (the paper's 45 x 40): a B^3 mask would need 5.8 GB; this must run and agree with spot checks."""
    g = torch.Generator().manual_seed(0)
    x = torch.nn.functional.normalize(torch.randn(1800, 128, generator=g), dim=1)
    labels = torch.arange(45).repeat_interleave(40)
    t = SemiHardMiner(0.2)(x, labels)
    D = get_distance("squared_l2").pairwise(x).numpy()
    lab = labels.numpy()
    for i in torch.randperm(len(t), generator=g)[:50].tolist():
        a, p, n = t.anchor[i].item(), t.positive[i].item(), t.negative[i].item()
        assert lab[a] == lab[p] != lab[n] and a != p
        semi = (lab != lab[a]) & (D[a] > D[a, p]) & (D[a] < np.float32(D[a, p] + np.float32(0.2)))
        assert D[a, n] == D[a][semi].min()


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="policy"):
        SemiHardMiner(policy="closest")
    with pytest.raises(ValueError, match="fallback"):
        SemiHardMiner(fallback="nope")
    with pytest.raises(ValueError, match="margin"):
        BatchHardMiner(margin=-1)
    with pytest.raises(ValueError, match="unknown miner"):
        get_miner("hard")
    with pytest.raises(ValueError, match="labels"):
        SemiHardMiner()(torch.randn(4, 3), torch.zeros(5))


@pytest.mark.parametrize("m", [1, 5, 64, 65, 200])
def test_count_below_both_paths_agree_with_searchsorted(m):
    g = torch.Generator().manual_seed(m)
    rows = torch.randint(0, 10, (30, m), generator=g).float().sort(1).values  # ties in rows and values
    rows[:, -1] = float("inf")
    values = torch.randint(0, 11, (30, 50), generator=g).float()
    expected = torch.searchsorted(rows, values, right=False)
    assert torch.equal(count_below(rows, values), expected)
    assert torch.equal(count_below(rows, values, max_passes=0), expected)
