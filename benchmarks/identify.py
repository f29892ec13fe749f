"""Identification latency for galleries of 10^4, 10^5 and 10^6 faces: exact search (one matrix product) and, when
faiss-cpu is installed, an approximate index with its recall@1 against exact search.

Embeddings are simulated as identities: 10 faces per identity scattered about a random centre on the unit sphere
(mean squared distance ~0.4 within an identity, ~2 between), queries are new faces of enrolled identities. Recall@1
is the fraction of queries whose approximate nearest face is the exact nearest face.

    python benchmarks/identify.py [--sizes 10000 100000 1000000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import machine  # noqa: E402

from faceprint.search import ExactIndex, FaissIndex  # noqa: E402


def timed(f, repeats: int = 5) -> float:  # type: ignore[no-untyped-def]
    f()
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t0)
    return 1000 * statistics.median(ts)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    args = ap.parse_args()
    try:
        import faiss
    except ImportError:
        faiss = None
    rng = np.random.default_rng(0)
    print(f"Machine: {machine()}\n")
    print("| gallery | exact: 1 query | exact: 1,000 queries | " +
          ("FAISS IVF-Flat: build | 1,000 queries | recall@1 |" if faiss else "FAISS: not installed |"))
    print("|---|---|---|" + ("---|---|---|" if faiss else "---|"))
    def faces(centres: np.ndarray) -> np.ndarray:
        x = centres + 0.045 * rng.normal(size=centres.shape).astype(np.float32)
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    for n in args.sizes:
        centres = rng.normal(size=(n // 10, 128)).astype(np.float32)
        centres /= np.linalg.norm(centres, axis=1, keepdims=True)
        g = faces(np.repeat(centres, 10, axis=0))
        q = faces(centres[rng.integers(0, len(centres), 1000)])
        exact = ExactIndex(g)
        one = timed(lambda: exact.search(q[:1], 5))
        many = timed(lambda: exact.search(q, 5), repeats=3)
        row = f"| {n:,} | {one:.1f} ms | {many:.0f} ms |"
        if faiss:
            t0 = time.perf_counter()
            ivf = FaissIndex(g)
            build = time.perf_counter() - t0
            nlist = ivf.index.nlist
            approx = timed(lambda: ivf.search(q, 5), repeats=3)
            _, nn_exact = exact.search(q, 1)
            _, nn_approx = ivf.search(q, 1)
            recall = float((nn_exact[:, 0] == nn_approx[:, 0]).mean())
            row += f" {build:.1f} s | {approx:.0f} ms | {100 * recall:.1f}% (nprobe 16 of {nlist}) |"
        print(row, flush=True)


if __name__ == "__main__":
    main()
