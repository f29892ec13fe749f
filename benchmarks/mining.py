"""Semi-hard / batch-hard mining + triplet loss, forward and backward, at B in {128, 512, 1800}, D = 128.

faceprint's miners against pytorch-metric-learning (PML) and a straight port of TF-Addons' triplet_semihard_loss,
on the same unit-norm embeddings and P x K labels (40 images per identity, the paper's layout). Each case runs in
its own process: median wall time over repeats and the peak memory above the process's baseline.

    python benchmarks/mining.py            # the full table (a few minutes: PML's semi-hard miner is slow)
    python benchmarks/mining.py --quick    # B = 128 and 512 only
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import torch  # noqa: E402
from _measure import current_rss_mb, machine, peak_rss_mb, run_isolated  # noqa: E402
from tfa_semihard_port import tfa_semihard_port  # noqa: E402

MARGIN = 0.2
METHODS = {
    "faceprint_semi_hard": "faceprint SemiHardMiner + TripletLoss",
    "faceprint_batch_hard": "faceprint BatchHardMiner + TripletLoss",
    "pml_semi_hard": "PML TripletMarginMiner('semihard') + TripletMarginLoss",
    "pml_batch_hard": "PML BatchHardMiner + TripletMarginLoss",
    "tfa_port": "TF-Addons triplet_semihard_loss, straight port (B^3 tiles)",
}


def make_step(method: str):  # type: ignore[no-untyped-def]
    if method.startswith("faceprint"):
        from faceprint.losses import TripletLoss
        from faceprint.miners import BatchHardMiner, SemiHardMiner

        miner = SemiHardMiner(MARGIN) if method == "faceprint_semi_hard" else BatchHardMiner(MARGIN)
        loss_fn = TripletLoss(MARGIN)

        def step(x, labels):  # type: ignore[no-untyped-def]
            dist = loss_fn.distance.pairwise(x)
            return loss_fn(x, miner(x, labels, dist=dist), dist=dist)

        return step
    if method.startswith("pml"):
        from pytorch_metric_learning import distances, losses, miners

        dist = distances.LpDistance(power=2)  # squared L2, as in the paper
        loss_fn = losses.TripletMarginLoss(margin=MARGIN, distance=dist)
        miner = (miners.TripletMarginMiner(margin=MARGIN, type_of_triplets="semihard", distance=dist)
                 if method == "pml_semi_hard" else miners.BatchHardMiner(distance=dist))
        return lambda x, labels: loss_fn(x, labels, miner(x, labels))
    return lambda x, labels: tfa_semihard_port(labels, x, MARGIN)


def case(method: str, b: int, repeats: int) -> dict:
    g = torch.Generator().manual_seed(b)
    x0 = torch.nn.functional.normalize(torch.randn(b, 128, generator=g), dim=1)
    labels = torch.arange(b // 40 + 1).repeat_interleave(40)[:b]
    step = make_step(method)
    base = current_rss_mb()
    times = []
    for i in range(repeats + 1):
        x = x0.clone().requires_grad_(True)
        t0 = time.perf_counter()
        step(x, labels).backward()
        if i:  # the first run warms up allocators and kernels
            times.append(1000 * (time.perf_counter() - t0))
    return {"ms": statistics.median(times), "peak_mb": max(0.0, peak_rss_mb() - base)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--case", nargs=3, metavar=("METHOD", "B", "REPEATS"))
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()
    if args.case:
        print(json.dumps(case(args.case[0], int(args.case[1]), int(args.case[2]))))
        return
    sizes = [128, 512] if args.quick else [128, 512, 1800]
    results: dict[str, dict[int, dict]] = {}
    for b in sizes:
        for m in METHODS:
            if m == "tfa_port" and b > 512:
                # (B*B, B) float tiles plus masks: ~5.8 G elements per tensor at B = 1,800.
                results.setdefault(m, {})[b] = {"error": f"not run: needs ~{5 * 4 * b**3 / 2**30:.0f} GB"}
                continue
            slow = m in ("pml_semi_hard", "tfa_port") and b >= 512
            results.setdefault(m, {})[b] = run_isolated(Path(__file__), [m, str(b), "3" if slow else "9"])
            print(f"  {m} B={b}: {results[m][b]}", file=sys.stderr)
    print(f"\nMining + triplet loss, forward + backward, D = 128, margin {MARGIN}, squared L2, 40 images per identity")
    print(f"Machine: {machine()}\n")
    print("| method | " + " | ".join(f"B = {b}: median ms (peak MB)" for b in sizes) + " |")
    print("|---|" + "---|" * len(sizes))
    for m, label in METHODS.items():
        cells = []
        for b in sizes:
            r = results[m][b]
            cells.append(r["error"] if "error" in r else f"{r['ms']:.1f} ({r['peak_mb']:.0f})")
        print(f"| {label} | " + " | ".join(cells) + " |")
    ref = results["faceprint_semi_hard"]
    print("\nSpeed-up of faceprint's semi-hard miner (same run):")
    for m in ("pml_semi_hard", "tfa_port"):
        ratios = [f"B={b}: {results[m][b]['ms'] / ref[b]['ms']:.0f}x" for b in sizes
                  if "ms" in results[m][b] and "ms" in ref[b]]
        print(f"  vs {METHODS[m]}: " + (", ".join(ratios) or "n/a"))
    print("\nNote: PML's semi-hard miner returns every semi-hard (a, p, n), faceprint one negative per pair (the paper's"
          " rule), TF-Addons one per pair with its own fallback; the work each does differs, the job is the same.")
    if args.json:
        Path(args.json).write_text(json.dumps({m: {str(b): r for b, r in v.items()} for m, v in results.items()}))


if __name__ == "__main__":
    main()
