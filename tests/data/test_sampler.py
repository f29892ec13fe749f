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


def test_identity_power_draws_identities_by_their_images():
    labels = np.repeat(np.arange(4), [2, 4, 8, 16])
    for power in (1.0, 0.5):
        s = PKSampler(labels, 1, 2, identity_power=power, seed=5)
        freq = np.bincount([labels[s.batch(i)[0]] for i in range(4000)], minlength=4) / 4000
        # One identity per batch: drawn exactly in proportion to (images)^power.
        expected = np.array([2, 4, 8, 16]) ** power / np.sum(np.array([2, 4, 8, 16]) ** power)
        assert np.allclose(freq, expected, atol=0.025), (power, freq)


def test_identity_power_keeps_p_distinct_identities_and_is_deterministic():
    a = PKSampler(LABELS, 4, 3, identity_power=1.0, seed=2)
    for step in range(50):
        blocks = LABELS[a.batch(step)].reshape(4, 3)
        assert len(set(blocks[:, 0])) == 4 and all(len(set(r)) == 1 for r in blocks)
        assert 8 not in blocks  # one image: still never a batch identity
    b = PKSampler(LABELS, 4, 3, identity_power=1.0, seed=2)
    assert all(np.array_equal(a.batch(i), b.batch(i)) for i in [0, 9, 33])
    with pytest.raises(ValueError, match="identity_power"):
        PKSampler(LABELS, 2, 2, identity_power=-1)
