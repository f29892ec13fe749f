import numpy as np
import pytest

from faceprint.data import PKSampler

LABELS = np.repeat(np.arange(12), [5, 5, 5, 5, 3, 3, 8, 8, 1, 2, 6, 6])


@pytest.mark.parametrize("policy", ["replacement", "skip"])
def test_exactly_p_identities_of_k_images(policy):
    s = PKSampler(LABELS, p=4, k=4, small_identities=policy, seed=3)
    for step in range(30):
        b = s.batch(step)
        assert len(b) == 16 == s.batch_size
        blocks = LABELS[b].reshape(4, 4)
        assert all(len(set(row)) == 1 for row in blocks)  # K images of one identity per block
        assert len(set(blocks[:, 0])) == 4  # P distinct identities
        for row_idx, row in zip(b.reshape(4, 4), blocks):
            if np.sum(LABELS == row[0]) >= 4:
                assert len(set(row_idx)) == 4  # no repeats when the identity has enough images
            else:
                assert policy == "replacement" and set(row_idx) == set(np.flatnonzero(LABELS == row[0]))
        if policy == "skip":
            assert all(np.sum(LABELS == i) >= 4 for i in blocks[:, 0])
    assert 8 not in np.unique(LABELS[np.concatenate([s.batch(i) for i in range(30)])])  # one image: never an anchor


def test_deterministic_by_step_and_covers_identities():
    a, b = PKSampler(LABELS, 3, 2, seed=1), PKSampler(LABELS, 3, 2, seed=1)
    assert all(np.array_equal(a.batch(i), b.batch(i)) for i in [0, 5, 17])
    seen = np.concatenate([LABELS[a.batch(i)] for i in range(a.steps_per_epoch)])
    assert set(seen) == set(a.eligible.tolist())  # one pass visits every eligible identity
    assert not np.array_equal(a.batch(0), PKSampler(LABELS, 3, 2, seed=2).batch(0))


def test_extra_negatives_come_from_other_identities():
    s = PKSampler(LABELS, 3, 2, extra_negatives=5, seed=0)
    for step in range(10):
        b = s.batch(step)
        assert len(b) == 11
        assert not set(LABELS[b[6:]]) & set(LABELS[b[:6]])


def test_too_few_identities():
    with pytest.raises(ValueError, match="P = 20"):
        PKSampler(LABELS, 20, 2)
    with pytest.raises(ValueError, match="small_identities"):
        PKSampler(LABELS, 2, 2, small_identities="pad")
