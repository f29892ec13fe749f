"""Where a distance becomes a decision: the threshold each job uses, taken from the caller or from the model file.

Verification compares one pair (`threshold`); identification compares a probe with its *nearest* gallery face, so
its threshold depends on the gallery's size (`open_set_thresholds`, fitted on strangers: the nearest of many
impostors is much closer than a typical one); clustering cuts average linkage (`cluster_threshold`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from faceprint.errors import InputError, NotCalibratedError

if TYPE_CHECKING:
    from faceprint.models.interface import Embedder


def verification_threshold(model: Embedder, threshold: float | None = None) -> float:
    """The given threshold, else the one calibrated for this model and stored in its file."""
    if threshold is not None:
        return float(threshold)
    if model.config.threshold is None:
        raise NotCalibratedError("this model has no calibrated verification threshold: give one, or calibrate "
                                 "the model on pairs of faces first")
    return float(model.config.threshold)


def open_set_threshold(table: list[list[float]], n_identities: int) -> tuple[float, str]:
    """The threshold for a gallery of `n_identities`, from a calibration table, and a warning ("" if none).

    Takes the smallest calibrated size >= n (its threshold is <= the one for n itself); a gallery larger than any
    calibrated size gets the largest size's threshold, with a warning that strangers may then pass more often.
    """
    if not table:
        raise InputError("empty open-set calibration table")
    rows = sorted(table)
    for n, t in rows:
        if n >= n_identities:
            return float(t), ""
    n, t = rows[-1]
    return float(t), (f"the gallery holds {n_identities} identities but the open-set threshold was calibrated up to "
                      f"{int(n)}: strangers will match someone more often than calibrated; calibrate the open-set "
                      f"thresholds on a folder with more identities")


def identification_threshold(model: Embedder, threshold: float | None, n_identities: int
                             ) -> tuple[float, str]:
    """The given threshold, else the model's open-set one for a gallery of `n_identities`, else its verification one.

    Returns (threshold, warning for the user or "").
    """
    if threshold is not None:
        return float(threshold), ""
    if model.config.open_set_thresholds:
        return open_set_threshold(model.config.open_set_thresholds, n_identities)
    if model.config.threshold is None:
        raise NotCalibratedError("this model has no calibrated threshold for identification: give one, or "
                                 "calibrate the model first")
    return float(model.config.threshold), (
        "this model has no open-set threshold, so its pairwise verification threshold is used: in a gallery of many "
        "people most strangers will match someone. Calibrate open-set thresholds on a folder per identity.")


def cluster_threshold(model: Embedder, threshold: float | None = None) -> tuple[float, str]:
    """Agglomerative clustering's cut: the given one, else the model's clustering threshold, else its verification
    threshold (with a warning: it tends to merge people). Returns (threshold, warning or "")."""
    if threshold is not None:
        return float(threshold), ""
    if model.config.cluster_threshold is not None:
        return float(model.config.cluster_threshold), ""
    if model.config.threshold is None:
        raise NotCalibratedError("this model has no calibrated threshold for clustering: give one, or use k-means")
    return float(model.config.threshold), (
        f"this model has no clustering threshold: using its verification threshold {model.config.threshold:.4f}, "
        "which tends to merge people (calibrate a clustering threshold on a folder per identity)")


def library_threshold(model: Embedder, threshold: float | None = None) -> tuple[float, str]:
    """A photo library's cut: the given one, else the model's library threshold, else its clustering threshold (with
    a warning: fitted on small folders, it merges more strangers in a library of thousands of people)."""
    if threshold is not None:
        return float(threshold), ""
    if model.config.library_threshold is not None:
        return float(model.config.library_threshold), ""
    t, warning = cluster_threshold(model)
    return t, warning or ("this model has no library threshold: using its clustering threshold, fitted on small "
                          "folders, which merges more strangers in a library of thousands (calibrate one with "
                          "`faceprint calibrate --clustering --library`)")
