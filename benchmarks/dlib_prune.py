"""Which blocks of dlib's face ResNet a smaller student can do without, before any training (step 0).

Each variant keeps the stem, every level's down block and the fully connected layer of the shipped network (dlib's,
imported), and a subset of each level's plain residual blocks, copied as they are; nothing is retrained. Tested on
LFW View 2 (6,000 pairs, per-fold thresholds) on ready dlib chips (`faceprint align --method dlib-chip --size 150
--select central` of LFW; pairs with an image that has no chip are dropped and counted), raw and with the other
folds' mean embedding subtracted (the reference code's option: a pruned network's faces drift off-centre). The
variant that loses least is what `dlib_resnet_slim` and `train --init` start from.

    python benchmarks/dlib_prune.py --chips runs/data/lfw_chip [--limit-pairs N]
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import machine

LFW = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "lfw"
# plain blocks kept per level (indices into dlib's 3, 3, 2, 2, 0)
VARIANTS: dict[str, tuple[tuple[int, ...], ...]] = {
    "full (dlib's 14 blocks)": ((0, 1, 2), (0, 1, 2), (0, 1), (0, 1), ()),
    "drop each level's last plain block (10) = dlib_resnet_slim": ((0, 1), (0, 1), (0,), (0,), ()),
    "drop each level's middle plain block (10)": ((0, 2), (0, 2), (0,), (0,), ()),
    "drop each level's first plain block (10)": ((1, 2), (1, 2), (1,), (1,), ()),
    "keep each level's first plain block (8)": ((0,), (0,), (0,), (0,), ()),
    "keep each level's last plain block (8)": ((2,), (2,), (1,), (1,), ()),
}


def pruned(model, keep: tuple[tuple[int, ...], ...]):  # type: ignore[no-untyped-def]
    """A copy of `model` whose backbone keeps only the listed plain blocks of each level."""
    from faceprint.models.dlib_resnet import DlibResNet

    net = DlibResNet(plain=tuple(len(k) for k in keep))
    net.inherit(model.backbone, keep)
    out = copy.deepcopy(model)
    out.backbone = net.eval()
    out.fingerprint = None
    return out


def speed(model, crops: np.ndarray, repeats: int = 3) -> float:  # type: ignore[no-untyped-def]
    model.embed(crops[:64])
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        model.embed(crops)
        times.append(time.perf_counter() - t0)
    return len(crops) / float(np.median(times))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--chips", required=True, help="LFW as dlib chips (faceprint align --method dlib-chip)")
    ap.add_argument("--model", help="the dlib model file (default: the shipped model)")
    ap.add_argument("--limit-pairs", type=int, help="first N pairs of each fold (quick look)")
    args = ap.parse_args()
    import torch

    import faceprint

    from faceprint.cli.common import load_torch_model_arg  # the PyTorch network
    from faceprint.data import read_lfw_pairs
    from faceprint.evaluation import evaluate_verification
    from faceprint.evaluation.protocol import evaluate_pairs
    from faceprint.utils.runtime import tune_malloc

    tune_malloc()
    torch.set_num_threads(len(os.sched_getaffinity(0)))
    model = load_torch_model_arg(args.model)
    if model.config.backbone != "dlib_resnet_v1":
        raise SystemExit(f"needs dlib's network (faceprint import dlib), not {model.config.backbone}")
    pairs = read_lfw_pairs(LFW / "protocol" / "pairs.txt", args.chips, check=False)
    kept = [p for p in pairs if Path(p.path1).exists() and Path(p.path2).exists()]
    note = f"{len(pairs) - len(kept)} of {len(pairs)} pairs dropped (an image without a chip)"
    if args.limit_pairs:
        by_fold: dict = {}
        for p in kept:
            by_fold.setdefault((p.fold, p.same), []).append(p)
        kept = [p for v in by_fold.values() for p in v[: args.limit_pairs // 2]]
    crops = model.preprocessing.stack([p.path1 for p in kept[:256]])
    print(f"LFW View 2 on dlib chips: {len(kept)} pairs; {note}. Machine: {machine()}\n")
    print("| blocks kept | parameters | faces/s (batch 256) | accuracy | VAL@FAR=1e-3 | AUC | mean-subtracted: "
          "accuracy | VAL@FAR=1e-3 | AUC |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, keep in VARIANTS.items():
        m = pruned(model, keep)
        params = sum(p.numel() for p in m.parameters()) / 1e6
        fps = speed(m, crops)
        res = evaluate_pairs(m, kept, mean_subtraction=True, progress=False, input="crops")
        cells = [f"{100 * r.accuracy_mean:.2f}% +- {100 * r.accuracy_std:.2f} | {100 * r.val_mean:.2f}% | {r.auc:.4f}"
                 for r in (evaluate_verification(res.dist, res.same, res.folds), res.report)]
        print(f"| {name} | {params:.2f} M | {fps:.0f} | {cells[0]} | {cells[1]} |", flush=True)


if __name__ == "__main__":
    main()
