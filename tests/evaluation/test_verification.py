"""Verification metrics on hand-computed cases."""

import numpy as np
import pytest

from faceprint.evaluation import (
    accuracy_threshold,
    auc_eer,
    evaluate_verification,
    far_threshold,
    rates,
)


def test_accuracy_threshold_by_hand():
    # same: 0.1 0.2 0.5 | different: 0.4 0.8 0.9. Accepting d < t:
    # t in (0.2, 0.4): 2 same accepted + 3 different rejected = 5/6; t in (0.5, 0.8): 3 + 2 = 5/6 -> tie,
    # candidates are midpoints 0.3 and 0.65; the lower median of the tied ones is 0.3.
    d = np.array([0.1, 0.2, 0.5, 0.4, 0.8, 0.9])
    s = np.array([1, 1, 1, 0, 0, 0], bool)
    t, acc = accuracy_threshold(d, s)
    assert acc == pytest.approx(5 / 6) and t == pytest.approx(0.3)
    # perfectly separable: threshold between the groups
    t, acc = accuracy_threshold(np.array([0.1, 0.2, 0.7, 0.9]), np.array([1, 1, 0, 0], bool))
    assert acc == 1.0 and t == pytest.approx(0.45)


def test_far_threshold_is_the_largest_allowed():
    imp = np.array([0.5, 0.3, 0.9, 0.7, 0.1, 1.1, 1.3, 1.5, 1.7, 1.9])
    # FAR 0: no impostor may be accepted -> t = smallest impostor distance (d < 0.1 accepts none)
    assert far_threshold(imp, 0.0) == 0.1
    # FAR 0.1 of 10 pairs: one accept allowed -> the 2nd smallest, 0.3
    assert far_threshold(imp, 0.1) == 0.3
    assert far_threshold(imp, 0.25) == 0.5  # floor(2.5) = 2 accepts allowed
    assert far_threshold(imp, 1.0) == np.inf
    # ties: two impostors at 0.2; allowing 1 accept cannot split them, so t = 0.2 accepts none of them
    assert far_threshold(np.array([0.2, 0.2, 0.6]), 0.34) == 0.2
    for far in [0.0, 0.1, 0.25, 0.5]:
        t = far_threshold(imp, far)
        assert (imp < t).mean() <= far
        assert (imp <= t).mean() > far  # any larger threshold exceeds the target


def test_rates():
    acc, val, far = rates(np.array([0.1, 0.6, 0.2, 0.9]), np.array([1, 1, 0, 0], bool), 0.5)
    assert (acc, val, far) == (0.5, 0.5, 0.5)


def test_auc_and_eer():
    auc, eer = auc_eer(np.array([0.1, 0.2, 0.8, 0.9]), np.array([1, 1, 0, 0], bool))
    assert auc == 1.0 and eer == 0.0
    # same 0.1 0.6 | different 0.4 0.9: half the (same, different) orderings are right -> AUC 0.75; EER 0.5
    auc, eer = auc_eer(np.array([0.1, 0.6, 0.4, 0.9]), np.array([1, 1, 0, 0], bool))
    assert auc == pytest.approx(0.75) and eer == pytest.approx(0.5)


def test_folds_use_thresholds_from_the_other_folds():
    # Fold 0: same 0.1, 0.35; different 0.5, 0.7. Fold 1: same 0.2, 0.6; different 0.4, 0.8.
    d = np.array([0.1, 0.35, 0.5, 0.7, 0.2, 0.6, 0.4, 0.8])
    s = np.array([1, 1, 0, 0, 1, 1, 0, 0], bool)
    folds = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    rep = evaluate_verification(d, s, folds, far_target=0.0)
    f0, f1 = rep.folds
    # Fold 0 gets fold 1's threshold: fold 1 alone is best split at 0.3 or 0.7 (3/4 each), lower median 0.3;
    # on fold 0, d < 0.3 accepts 0.1 (right), rejects 0.35 (wrong), 0.5 and 0.7 (right) -> 3/4.
    assert f0.threshold == pytest.approx(0.3) and f0.accuracy == 0.75
    # Fold 1 gets fold 0's threshold 0.425 (between 0.35 and 0.5): 0.2 right, 0.6 wrong, 0.4 wrong, 0.8 right.
    assert f1.threshold == pytest.approx(0.425) and f1.accuracy == 0.5
    # VAL@FAR=0: the smallest impostor distance of the other fold, 0.4 for fold 0 and 0.5 for fold 1.
    assert (f0.far_threshold, f1.far_threshold) == (0.4, 0.5)
    assert (f0.val, f0.far) == (1.0, 0.0)
    assert (f1.val, f1.far) == (0.5, 0.5)  # a test fold can exceed the target: the threshold came from elsewhere
    assert rep.accuracy_mean == pytest.approx(0.625) and rep.accuracy_std == pytest.approx(0.125)
    assert rep.val_mean == 0.75 and rep.cross_validated


def test_single_fold_is_reported_as_such():
    rep = evaluate_verification(np.array([0.1, 0.2, 0.8, 0.9]), np.array([1, 1, 0, 0], bool))
    assert not rep.cross_validated and rep.accuracy_mean == 1.0 and "no cross-validation" in rep.summary()


def test_bad_input():
    with pytest.raises(ValueError):
        evaluate_verification(np.array([0.1, np.nan]), np.array([1, 0], bool))
    with pytest.raises(ValueError):
        accuracy_threshold(np.array([0.1, 0.2]), np.array([1], bool))
