"""Training-step images/s for each backbone on this machine, fp32 and bf16 autocast, channels-last or not.

A step is what `faceprint train` does per batch: augment, forward, semi-hard mining, loss, backward, AdaGrad.
GFLOPs per image are counted by PyTorch's FLOP counter (forward; a training step costs about 3x that), so the
table also says how close to the CPU's peak each configuration gets.

    python benchmarks/train_throughput.py [--batch 64] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np  # noqa: E402
import torch  # noqa: E402
from _measure import machine, run_isolated  # noqa: E402

CASES = [
    ("resnet10_quarter", 64),
    ("resnet18_half", 96),
    ("resnet18_half", 112),
    ("inception_resnet_v1", 160),
]
VARIANTS = [("fp32", False, False), ("fp32 channels-last", False, True), ("bf16 channels-last", True, True)]


def forward_gflops(backbone: str, size: int) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    from faceprint.data import Preprocessing
    from faceprint.models import FaceEmbedder, ModelConfig

    m = FaceEmbedder(ModelConfig(backbone=backbone, preprocessing=Preprocessing(input_size=size))).eval()
    with FlopCounterMode(display=False) as fc, torch.no_grad():
        m(torch.randn(1, 3, size, size))
    return fc.get_total_flops() / 1e9


def case(backbone: str, size: int, bf16: bool, channels_last: bool, batch: int, repeats: int) -> dict:
    from faceprint.data import Preprocessing
    from faceprint.losses import TripletLoss
    from faceprint.miners import SemiHardMiner
    from faceprint.models import FaceEmbedder, ModelConfig
    from faceprint.utils.runtime import tune_malloc

    tune_malloc()
    torch.manual_seed(0)
    pre = Preprocessing(input_size=size)
    model = FaceEmbedder(ModelConfig(backbone=backbone, preprocessing=pre)).train()
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.Adagrad(model.parameters(), lr=0.05)
    miner, loss_fn = SemiHardMiner(0.2), TripletLoss(0.2)
    stored = np.random.default_rng(0).integers(0, 255, (batch, pre.stored_size, pre.stored_size, 3), dtype=np.uint8)
    labels = torch.arange(batch // 8).repeat_interleave(8)[:batch]
    times = []
    for i in range(repeats + 1):
        t0 = time.perf_counter()
        x = pre.to_tensor(stored, train=True)
        x = x.contiguous(memory_format=torch.channels_last) if channels_last else x.contiguous()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            emb = model(x)
        dist = loss_fn.distance.pairwise(emb)
        loss = loss_fn(emb, miner(emb, labels, dist=dist), dist=dist)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if i:
            times.append(time.perf_counter() - t0)
    return {"img_s": batch / statistics.median(times)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--case", nargs=6)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json")
    args = ap.parse_args()
    if args.case:
        b, s, bf, cl, batch, rep = args.case
        print(json.dumps(case(b, int(s), bf == "1", cl == "1", int(batch), int(rep))))
        return
    rows = []
    for backbone, size in CASES:
        gf = forward_gflops(backbone, size)
        params = None
        cells = {}
        for name, bf16, cl in VARIANTS:
            reps = max(2, args.repeats // 2) if backbone == "inception_resnet_v1" else args.repeats
            r = run_isolated(Path(__file__), [backbone, str(size), str(int(bf16)), str(int(cl)), str(args.batch),
                                              str(reps)], timeout=900)
            cells[name] = r
            print(f"  {backbone}@{size} {name}: {r}", file=sys.stderr)
        from faceprint.data import Preprocessing
        from faceprint.models import FaceEmbedder, ModelConfig

        params = sum(p.numel() for p in FaceEmbedder(ModelConfig(backbone=backbone,
                                                                 preprocessing=Preprocessing(input_size=size))).parameters())
        rows.append((backbone, size, params, gf, cells))
    print(f"\nTraining step (augment + forward + semi-hard mining + loss + backward + AdaGrad), batch {args.batch}")
    print(f"Machine: {machine()}\n")
    print("| backbone | input | params | GFLOP/img (fwd) | " + " | ".join(f"{n} img/s" for n, _, _ in VARIANTS)
          + " | best GFLOP/s (3x fwd) |")
    print("|---|---|---|---|" + "---|" * len(VARIANTS) + "---|")
    for backbone, size, params, gf, cells in rows:
        vals = [c.get("img_s") for c in cells.values()]
        best = max((v for v in vals if v), default=0)
        print(f"| {backbone} | {size} | {params / 1e6:.2f} M | {gf:.3f} | "
              + " | ".join(f"{v:.0f}" if v else cells[n]["error"] for v, n in zip(vals, cells))
              + f" | {3 * gf * best:.0f} |")
    if args.json:
        Path(args.json).write_text(json.dumps([{"backbone": b, "input": s, "params": p, "gflops": g, "cells": c}
                                               for b, s, p, g, c in rows]))


if __name__ == "__main__":
    main()
