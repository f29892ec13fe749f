"""Cohort score normalisation for open-set identification, measured (not built into `identify`): each distance is
standardised by the mean/std of the k nearest distances of the gallery photo (Z-norm), of the probe (T-norm) or
both averaged (adaptive S-norm) to a cohort of people in neither set. Same draws as open_set_tail.py (10 splits,
20 galleries of 100 people, one photo each, 1% stranger FAR). Args: OPEN.npz COHORT.npz, both from `faceprint embed`
with one model (e.g. runs/data/lfw610_open and runs/data/celeba_cohort2k, one CelebA photo per identity)."""
import sys
from pathlib import Path
import numpy as np
from faceprint.embeddings import EmbeddingSet
from faceprint.evaluation.verification import far_threshold
sys.path.insert(0, str(Path(__file__).parent))
from open_set_tail import load, open_set_draws  # noqa: E402

emb, labels = load(sys.argv[1])
cohort = EmbeddingSet.load(sys.argv[2]).embeddings.astype(np.float32)
dc = np.sort(np.maximum(2 - 2 * emb @ cohort.T, 0), 1)
print(f"{sys.argv[1]}: {len(emb)} photos, cohort {len(cohort)}")
for mode, k in [("raw", 0), ("z", 0), ("s", 0), ("z", 100), ("t", 100), ("s", 100), ("s", 300)]:
    top = dc[:, :k] if k else dc
    mu, sd = top.mean(1), top.std(1) + 1e-6

    def dist(a, b):
        raw = np.maximum(2 - 2 * emb[a] @ emb[b].T, 0)
        z, t = (raw - mu[b][None]) / sd[b][None], (raw - mu[a][:, None]) / sd[a][:, None]
        return {"raw": raw, "z": z, "t": t, "s": (z + t) / 2}[mode]
    hits, near, _, imp = open_set_draws(labels, dist)
    thr = far_threshold(imp, 0.01)
    print(f"  {mode:3s} k={k or 'all':>4}  DIR {100 * (hits & (near < thr)).mean():.2f}  rank-1 {100 * hits.mean():.2f}",
          flush=True)
