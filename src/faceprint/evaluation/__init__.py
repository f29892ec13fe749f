"""Evaluation: verification metrics and protocols."""

from faceprint.evaluation.verification import (
    FoldResult,
    VerificationReport,
    accuracy_threshold,
    auc_eer,
    evaluate_verification,
    far_threshold,
    rates,
)

__all__ = [
    "FoldResult",
    "VerificationReport",
    "accuracy_threshold",
    "auc_eer",
    "evaluate_verification",
    "far_threshold",
    "rates",
]
