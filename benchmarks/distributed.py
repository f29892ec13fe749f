"""Training on torch.distributed, measured: 1 process x 2 threads against 2 processes x 1 thread (gloo) on this machine,
and how closely 2 processes reproduce 1 (largest parameter difference after a few steps, per miner).

    python benchmarks/distributed.py [--steps 20]

Synthetic faces (the project's generator: 60 identities x 12 images, 112 px) so that the run needs nothing else;
resnet18_half at 96 px, P x K = 16 x 8 = 128 images per step, AdaGrad. Images/s over the steps after the first two.
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import machine  # noqa: E402


def _train(faces: Path, out: Path, cache: Path, nproc: int, threads: int, extra: list[str]) -> float:
    cmd = [sys.executable, "-m", "faceprint", "train", "--data", str(faces), "--out", str(out), "--cache-dir",
           str(cache), "--val-split", "0", "--no-progress", "--threads", str(threads), *extra]
    if nproc > 1:
        cmd += ["--nproc-per-node", str(nproc)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        raise SystemExit(r.stderr[-3000:])
    with open(out / "metrics.csv") as f:
        rates = [float(row["images_per_s"]) for row in csv.DictReader(f)]
    return float(np.median(rates[2:]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=20)
    args = ap.parse_args()
    from faceprint.data.synthetic import make_synthetic_faces
    from faceprint.models import load_model

    work = Path(tempfile.mkdtemp(prefix="distributed_"))
    faces = make_synthetic_faces(work / "faces", identities=60, images_per_identity=12, size=112, seed=0)
    cache = work / "cache"
    speed = ["--backbone", "resnet18_half", "--input-size", "96", "--p", "16", "--k", "8", "--steps", str(args.steps)]
    print(f"Machine: {machine()}\n")
    print("| processes x threads | images/s (median of steps 3..n) |")
    print("|---|---|")
    for nproc, threads in [(1, 2), (2, 1)]:
        rate = _train(faces, work / f"speed_{nproc}", cache, nproc, threads, speed)
        print(f"| {nproc} x {threads} | {rate:.1f} |", flush=True)
    print("\nEquivalence: 3 steps of SGD (lr 0.01, momentum 0.9), resnet10_quarter @ 48 px, P x K = 4 x 3:\n")
    print("| miner | largest parameter difference, 2 processes vs 1 | largest change from the initial weights |")
    print("|---|---|---|")
    small = ["--backbone", "resnet10_quarter", "--input-size", "48", "--p", "4", "--k", "3", "--optimizer", "sgd",
             "--lr", "0.01", "--momentum", "0.9", "--steps", "3"]
    for miner in ("semi_hard", "batch_hard", "batch_all"):
        runs = {}
        for nproc in (1, 2):
            out = work / f"eq_{miner}_{nproc}"
            _train(faces, out, cache, nproc, 1, [*small, "--miner", miner])
            runs[nproc] = load_model(out / "last.pt").state_dict()
        init = work / f"eq_{miner}_init"
        _train(faces, init, cache, 1, 1, [*small[:-2], "--steps", "1", "--lr", "0", "--miner", miner])
        s0 = load_model(init / "last.pt").state_dict()
        keys = [k for k in runs[1] if runs[1][k].is_floating_point() and "running" not in k]
        diff = max(float((runs[1][k] - runs[2][k]).abs().max()) for k in keys)
        moved = max(float((runs[1][k] - s0[k]).abs().max()) for k in keys)
        print(f"| {miner} | {diff:.2e} | {moved:.2e} |", flush=True)


if __name__ == "__main__":
    main()
