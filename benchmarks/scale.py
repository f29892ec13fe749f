"""Search and clustering from real face embeddings up to 10^6 faces: time, peak memory, recall and cluster quality.

Real embeddings: LFW (13,233 photos, 5,749 people) and the CelebA subset (6,277 photos, 299 people) through the
shipped model and its photo pipeline (`faceprint embed`; computed once into runs/scale/ if absent).

Beyond them (10^5, 10^6 faces) the set is grown from the real one, not drawn at random: copy c of the real set is
the real set with the signs of a random half of its principal components flipped about the mean. Inside a copy
every distance is a real one (the same people, the same spread), the copies keep the real mean and covariance, and a
copy's people are new people, as far from the others as real strangers are (the script prints how the distances
compare). The truth of a face is (copy, person).

    python benchmarks/scale.py [--sizes 19497 100000 1000000] [--skip-matrix]

Each case runs in a fresh process: "extra memory" is the peak resident memory above what the embeddings themselves
take (N x 128 float32 = 512 MB at 10^6).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _measure import current_rss_mb, machine, peak_rss_mb, run_isolated  # noqa: E402

ROOT = HERE.parent
SHARED = ROOT.parent / "shared" / "data"
WORK = ROOT / "runs" / "scale"
SOURCES = {"lfw.npz": (SHARED / "lfw" / "lfw-deepfunneled", "central"),
           "celeba.npz": (SHARED / "celeba-subset" / "images", "best")}


def real_set() -> tuple[np.ndarray, np.ndarray]:
    """The real embeddings (computed with `faceprint embed` if absent) and an integer person label per face."""
    emb, names = [], []
    for file, (folder, select) in SOURCES.items():
        path = WORK / file
        if not path.exists():
            WORK.mkdir(parents=True, exist_ok=True)
            subprocess.run([sys.executable, "-m", "faceprint", "embed", str(folder), "--out", str(path), "--select",
                            select, "--no-progress"], check=True)
        z = np.load(path)
        emb.append(z["embeddings"])
        names += [f"{file}:{i}" for i in z["identities"]]
    return np.concatenate(emb).astype(np.float32), np.unique(names, return_inverse=True)[1]


def grown_set(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """n faces: the real set, then copies of it with the signs of random halves of its principal components
    flipped (see the module's text), filled in place."""
    real, labels = real_set()
    return grow(real, labels, n, seed)


def grow(real: np.ndarray, labels: np.ndarray, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """grown_set from any real embeddings and their integer person labels."""
    rng = np.random.default_rng(seed)
    mean = real.mean(0)
    _, _, comps = np.linalg.svd(real - mean, full_matrices=False)  # principal directions, rows
    coords = (real - mean) @ comps.T
    out = np.empty((n, real.shape[1]), np.float32)
    truth = np.empty(n, np.int64)
    for c, s in enumerate(range(0, n, len(real))):
        m = min(len(real), n - s)
        flip = np.where(rng.random(len(comps)) < 0.5, -1.0, 1.0) if c else np.ones(len(comps))
        out[s : s + m] = (mean + (coords[:m] * flip) @ comps).astype(np.float32)
        truth[s : s + m] = labels[:m] + c * (labels.max() + 1)
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return out, truth


def _queries(truth: np.ndarray, n: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(gallery rows, query rows): one face of each of n people with 2+ faces is held out as the query."""
    rng = np.random.default_rng(seed)
    ids, first, counts = np.unique(truth, return_index=True, return_counts=True)
    held = rng.choice(first[counts >= 2], min(n, int((counts >= 2).sum())), replace=False)
    mask = np.ones(len(truth), bool)
    mask[held] = False
    return np.flatnonzero(mask), held


def case(kind: str, n: int) -> dict:
    import torch

    from faceprint.evaluation.clustering import clustering_report
    from faceprint.search import ExactIndex

    torch.set_num_threads(len(__import__("os").sched_getaffinity(0)))
    emb, truth = grown_set(n)
    base = current_rss_mb()
    out: dict = {"n": n}
    t0 = time.perf_counter()
    if kind in ("exact", "faiss"):
        g_rows, q_rows = _queries(truth, 1000)
        gallery, queries = emb[g_rows], emb[q_rows]
        exact = ExactIndex(gallery)
        t1 = time.perf_counter()
        d_ex, n_ex = exact.search(queries, 1)
        out["exact_1000_s"] = time.perf_counter() - t1
        out["exact_rank1"] = float((truth[g_rows][n_ex[:, 0]] == truth[q_rows]).mean())
        if kind == "faiss":
            from faceprint.search import FaissIndex

            del exact
            base = current_rss_mb()
            t1 = time.perf_counter()
            ivf = FaissIndex(gallery)
            out["build_s"] = time.perf_counter() - t1
            t1 = time.perf_counter()
            _, n_ivf = ivf.search(queries, 1)
            out["faiss_1000_s"] = time.perf_counter() - t1
            out["recall1"] = float((n_ivf[:, 0] == n_ex[:, 0]).mean())
            out["faiss_rank1"] = float((truth[g_rows][n_ivf[:, 0]] == truth[q_rows]).mean())
        else:
            t1 = time.perf_counter()
            exact.search(queries[:1], 5)
            out["exact_1_s"] = time.perf_counter() - t1
    else:
        import faceprint
        from faceprint.applications.clustering import AGGLOMERATIVE_MAX, cluster
        from faceprint.applications.graph import average_linkage

        model = faceprint.load()
        t = model.config.cluster_threshold
        base = current_rss_mb()  # the model and the libraries loaded: what is left is the clustering's
        t0 = time.perf_counter()
        if kind == "matrix":  # scikit-learn's average linkage on the N x N matrix (faceprint's path up to 20,000)
            assert n <= AGGLOMERATIVE_MAX
            labels = cluster(emb, "agglomerative", threshold=t, distance=model.distance).labels
        else:  # the k-NN graph with exact cluster distances (faceprint's path above 20,000)
            labels = average_linkage(emb, t, model.distance)
        rep = clustering_report(truth, labels)
        out.update(threshold=t, clusters=int(len(np.unique(labels))), people=int(len(np.unique(truth))),
                   nmi=rep.nmi, ari=rep.ari, f1=rep.pairwise_f1, precision=rep.pairwise_precision,
                   recall=rep.pairwise_recall)
    out["seconds"] = time.perf_counter() - t0
    out["extra_mb"] = max(0.0, peak_rss_mb() - base)
    out["data_mb"] = emb.nbytes / 2**20
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--case", nargs=2, metavar=("KIND", "N"))
    ap.add_argument("--sizes", type=int, nargs="+", default=[19_497, 100_000, 1_000_000])
    ap.add_argument("--skip-matrix", action="store_true", help="leave out scikit-learn's N x N average linkage")
    ap.add_argument("--only", choices=["search", "clustering"], help="one of the two tables")
    args = ap.parse_args()
    if args.case:
        print(json.dumps(case(args.case[0], int(args.case[1]))))
        return
    real, labels = real_set()
    print(f"Machine: {machine()}")
    print(f"Real embeddings: {len(real)} faces of {labels.max() + 1} people (LFW + CelebA subset, shipped model)")
    grown, truth = grown_set(2 * len(real))
    rng = np.random.default_rng(0)
    a = rng.choice(len(real), 3000, replace=False)
    # 2 - 2 x.y on unit vectors: no (3000, 3000, 128) difference array (this process's peak memory is inherited
    # by the cases it starts, and would count in their figures)
    d_real = (2 - 2 * grown[a] @ grown[a].T)[truth[a][:, None] != truth[a][None]]
    d_copy = (2 - 2 * grown[a] @ grown[len(real) + a].T).ravel()
    qs = (0.001, 0.01, 0.1, 0.5)
    print("Squared distances between different people, quantiles " + ", ".join(f"{q:g}" for q in qs) + ": real "
          + " / ".join(f"{v:.3f}" for v in np.quantile(d_real, qs)) + "; real vs copy "
          + " / ".join(f"{v:.3f}" for v in np.quantile(d_copy, qs)))
    del grown
    if args.only != "clustering":
        search_table(args.sizes)
    if args.only != "search":
        clustering_table(args.sizes, args.skip_matrix)


def search_table(sizes: list[int]) -> None:
    print("\n## Search: 1,000 held-out faces against the rest\n")
    print("| gallery | exact: 1,000 queries | exact rank-1 | FAISS IVF build | FAISS 1,000 queries | recall@1 vs exact "
          "| FAISS rank-1 | extra memory (IVF) |")
    print("|---|---|---|---|---|---|---|---|")
    for n in sizes:
        r = run_isolated(Path(__file__), ["faiss", str(n)], timeout=3600)
        if "error" in r:
            print(f"| {n:,} | {r['error']} |")
            continue
        print(f"| {n:,} | {r['exact_1000_s']:.2f} s | {100 * r['exact_rank1']:.1f}% | {r['build_s']:.1f} s | "
              f"{r['faiss_1000_s']:.3f} s | {100 * r['recall1']:.1f}% | {100 * r['faiss_rank1']:.1f}% | "
              f"{r['extra_mb']:.0f} MB |", flush=True)


def clustering_table(sizes: list[int], skip_matrix: bool) -> None:
    print("\n## Clustering: average linkage at the model's clustering threshold (truth: the person)\n")
    print("| faces | how | time | extra memory | clusters / people | NMI | ARI | pairwise P / R / F1 |")
    print("|---|---|---|---|---|---|---|---|")
    for n in sizes:
        for kind in ("matrix", "graph"):
            if kind == "matrix" and (skip_matrix or n > 20_000):
                continue
            r = run_isolated(Path(__file__), [kind, str(n)], timeout=5400)
            if "error" in r:
                print(f"| {n:,} | {kind} | {r['error']} |")
                continue
            how = "N x N matrix (scikit-learn)" if kind == "matrix" else "k-NN graph, k = 32"
            print(f"| {n:,} | {how} | {r['seconds']:.1f} s | {r['extra_mb']:.0f} MB | "
                  f"{r['clusters']:,} / {r['people']:,} | {r['nmi']:.4f} | {r['ari']:.4f} | "
                  f"{r['precision']:.3f} / {r['recall']:.3f} / {r['f1']:.3f} |", flush=True)


if __name__ == "__main__":
    main()
