"""Verification metrics: the accuracy threshold, VAL@FAR, ROC, AUC, EER, and the k-fold protocol of LFW.

Decision rule everywhere in faceprint: a pair is the same person when its distance is strictly below the
threshold. Thresholds are computed exactly from the sorted distances, not read off a grid or interpolated.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from faceprint.errors import InputError
from faceprint.utils.numeric import roc_auc, roc_curve


def _check(dist: np.ndarray, same: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    dist, same = np.asarray(dist, dtype=np.float64), np.asarray(same, dtype=bool)
    if dist.shape != same.shape or dist.ndim != 1:
        raise InputError(f"dist and same must be 1-D of one length, got {dist.shape} and {same.shape}")
    if not np.isfinite(dist).all():
        raise InputError("distances must be finite")
    return dist, same


def accuracy_threshold(dist: np.ndarray, same: np.ndarray) -> tuple[float, float]:
    """(threshold, accuracy) maximising accuracy of `same = dist < threshold`.

    Candidates are the midpoints between consecutive distinct distances plus one below and one above all of them,
    i.e. every distinct decision; among equally good ones the middle candidate is taken (lower median).
    """
    dist, same = _check(dist, same)
    u = np.unique(dist)
    cands = np.concatenate([[u[0] - 1.0], (u[:-1] + u[1:]) / 2, [u[-1] + 1.0]])
    order = np.sort(dist[same]), np.sort(dist[~same])
    true_accepts = np.searchsorted(order[0], cands, side="left")  # same pairs with d < t
    true_rejects = len(order[1]) - np.searchsorted(order[1], cands, side="left")  # different pairs with d >= t
    acc = (true_accepts + true_rejects) / len(dist)
    best = np.flatnonzero(acc == acc.max())
    i = best[(len(best) - 1) // 2]
    return float(cands[i]), float(acc[i])


def far_threshold(impostor_dist: np.ndarray, far: float) -> float:
    """The largest threshold whose false accept rate on these impostor pairs is <= `far`.

    With k = floor(far * n) false accepts allowed, that is the (k+1)-th smallest impostor distance itself (the rule
    `d < t` accepts exactly the k below it, ties included); +inf when every pair may be accepted.
    """
    d = np.sort(np.asarray(impostor_dist, dtype=np.float64))
    if len(d) == 0:
        raise InputError("no impostor pairs to set a FAR threshold on")
    if not 0 <= far <= 1:
        raise InputError(f"far must be in [0, 1], got {far}")
    k = int(np.floor(far * len(d) + 1e-9))
    return float(d[k]) if k < len(d) else float("inf")


def rates(dist: np.ndarray, same: np.ndarray, threshold: float) -> tuple[float, float, float]:
    """(accuracy, VAL = true accept rate, FAR) of `same = dist < threshold`."""
    dist, same = _check(dist, same)
    accept = dist < threshold
    val = float(accept[same].mean()) if same.any() else float("nan")
    far = float(accept[~same].mean()) if (~same).any() else float("nan")
    return float((accept == same).mean()), val, far


def auc_eer(dist: np.ndarray, same: np.ndarray) -> tuple[float, float]:
    """Area under the ROC curve and the equal error rate (FAR = FRR, linearly interpolated on the ROC)."""
    dist, same = _check(dist, same)
    if same.all() or (~same).all():
        return float("nan"), float("nan")
    auc = roc_auc(same, -dist)
    fpr, tpr, _ = roc_curve(same, -dist)
    fnr = 1 - tpr
    i = int(np.flatnonzero(fnr <= fpr)[0])  # first ROC point past the crossing
    if i == 0:
        return auc, float(fpr[0])
    # Crossing of the two straight segments between ROC points i-1 and i.
    d0, d1 = fpr[i - 1] - fnr[i - 1], fpr[i] - fnr[i]
    w = d0 / (d0 - d1) if d0 != d1 else 0.0
    return auc, float(fpr[i - 1] + w * (fpr[i] - fpr[i - 1]))


@dataclass
class FoldResult:
    fold: int
    threshold: float  # accuracy threshold fitted on the other folds
    accuracy: float
    far_threshold: float  # VAL@FAR threshold fitted on the other folds
    val: float
    far: float


@dataclass
class VerificationReport:
    far_target: float
    cross_validated: bool
    folds: list[FoldResult] = field(default_factory=list)
    accuracy_mean: float = float("nan")
    accuracy_std: float = float("nan")
    val_mean: float = float("nan")
    val_std: float = float("nan")
    far_mean: float = float("nan")
    auc: float = float("nan")
    eer: float = float("nan")
    threshold: float = float("nan")  # accuracy threshold fitted on all pairs (what a user would deploy)
    n_pairs: int = 0

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        cv = f"{len(self.folds)}-fold cross-validated" if self.cross_validated else "single fold: fitted and " \
             "tested on the same pairs (no cross-validation)"
        return (
            f"accuracy {100 * self.accuracy_mean:.2f}% +- {100 * self.accuracy_std:.2f}  "
            f"VAL@FAR={self.far_target:g} {100 * self.val_mean:.2f}% +- {100 * self.val_std:.2f} "
            f"(FAR {100 * self.far_mean:.3f}%)  AUC {self.auc:.4f}  EER {100 * self.eer:.2f}%  "
            f"threshold {self.threshold:.4f}  [{self.n_pairs} pairs, {cv}]"
        )


def evaluate_verification(
    dist: np.ndarray,
    same: np.ndarray,
    folds: np.ndarray | None = None,
    far_target: float = 1e-3,
    fold_dist: dict[int, np.ndarray] | None = None,
) -> VerificationReport:
    """The LFW protocol: for each fold, thresholds fitted on the other folds are applied to it.

    Accuracy and VAL/FAR are reported as mean +- std over folds (std with ddof=0, as the reference code). With a
    single fold the thresholds are fitted and applied on the same pairs, and the report says so. `fold_dist`
    gives fold f its own distances for all pairs (e.g. after subtracting a mean fitted on the other folds).
    """
    dist, same = _check(dist, same)
    folds = np.zeros(len(dist), dtype=np.int64) if folds is None else np.asarray(folds)
    ids = np.unique(folds)
    rep = VerificationReport(far_target=far_target, cross_validated=len(ids) > 1, n_pairs=len(dist))
    for f in ids:
        test = folds == f
        train = ~test if len(ids) > 1 else test
        d = dist if fold_dist is None else np.asarray(fold_dist[int(f)], dtype=np.float64)
        t_acc, _ = accuracy_threshold(d[train], same[train])
        t_far = far_threshold(d[train & ~same], far_target)
        acc, _, _ = rates(d[test], same[test], t_acc)
        _, val, far = rates(d[test], same[test], t_far)
        rep.folds.append(FoldResult(int(f), t_acc, acc, t_far, val, far))
    accs = np.array([r.accuracy for r in rep.folds])
    vals = np.array([r.val for r in rep.folds])
    rep.accuracy_mean, rep.accuracy_std = float(accs.mean()), float(accs.std())
    rep.val_mean, rep.val_std = float(np.nanmean(vals)), float(np.nanstd(vals))
    rep.far_mean = float(np.nanmean([r.far for r in rep.folds]))
    rep.auc, rep.eer = auc_eer(dist, same)
    rep.threshold = accuracy_threshold(dist, same)[0]
    return rep
