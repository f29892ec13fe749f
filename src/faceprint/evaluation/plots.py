"""ROC curve as PNG: log-scale FAR, the operating points marked."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from faceprint.evaluation.verification import VerificationReport, rates
from faceprint.utils.numeric import roc_curve


def plot_roc(dist: np.ndarray, same: np.ndarray, report: VerificationReport, out: str | Path, title: str = "") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fpr, tpr, _ = roc_curve(same, -dist)
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4.5))
    floor = 1.0 / max(1, int((~same).sum()))
    ax.plot(np.maximum(fpr, floor), tpr, lw=1.5, label=f"ROC (AUC {report.auc:.4f})")
    for t, label, marker in [(report.threshold, f"accuracy threshold {report.threshold:.3f}", "o"),
                             (float(np.median([f.far_threshold for f in report.folds])),
                              f"VAL@FAR={report.far_target:g} threshold", "s")]:
        _, val, far = rates(dist, same, t)
        ax.plot(max(far, floor), val, marker, ms=8, label=f"{label}: TAR {100 * val:.1f}% at FAR {100 * far:.2f}%")
    ax.set_xscale("log")
    ax.set_xlabel("false accept rate (log)")
    ax.set_ylabel("true accept rate")
    ax.set_title(title or "ROC")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="lower right")
    bins = np.linspace(0, max(float(dist.max()), 1e-6), 60)
    ax2.hist(dist[same], bins, alpha=0.6, label="same person")
    ax2.hist(dist[~same], bins, alpha=0.6, label="different people")
    ax2.axvline(report.threshold, color="k", ls="--", lw=1, label="threshold")
    ax2.set_xlabel("distance")
    ax2.set_title("distances")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    plt.close(fig)
