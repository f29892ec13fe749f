"""Training curves as a PNG: a person reads a collapse or a plateau faster from a plot than from a CSV."""

from __future__ import annotations

import csv
import math
from pathlib import Path


def _series(rows: list[dict[str, str]], key: str) -> tuple[list[float], list[float]]:
    xs, ys = [], []
    for r in rows:
        try:
            v = float(r.get(key, "") or "nan")
        except ValueError:
            continue
        if not math.isnan(v):
            xs.append(float(r["step"]))
            ys.append(v)
    return xs, ys


def plot_curves(metrics_csv: str | Path, out_png: str | Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(metrics_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return
    fig, axes = plt.subplots(2, 2, figsize=(11, 7))
    panels = [
        ("loss and active triplets", [("loss", "loss"), ("frac_active", "fraction active"),
                                      ("frac_semi_hard", "pairs with a semi-hard negative")]),
        ("distances (squared L2 unless set otherwise)", [("mean_d_ap", "mean d(a,p)"), ("mean_d_an", "mean d(a,n)"),
                                                         ("spread", "spread (mean pairwise)")]),
        ("validation", [("val_accuracy", "accuracy"), ("val_val", "VAL@FAR"), ("val_auc", "AUC")]),
        ("speed", [("images_per_s", "images/s")]),
    ]
    for ax, (title, keys) in zip(axes.flat, panels):
        for key, label in keys:
            xs, ys = _series(rows, key)
            if xs:
                ax.plot(xs, ys, label=label, marker="o" if key.startswith("val_") else None, ms=3)
        ax.set_title(title)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out_png, dpi=90)
    plt.close(fig)
