"""Cohort score normalisation for open-set identification, measured (not built into `identify`): each distance is
standardised by the mean/std of the k nearest distances of the gallery photo (Z-norm), of the probe (T-norm) or
both averaged (adaptive S-norm) to a cohort of people in neither set. Same draws as open_set_tail.py (10 splits,
20 galleries of 100 people, one photo each, 1% stranger FAR). Args: OPEN.npz COHORT.npz, both from `faceprint embed`
with one model (e.g. runs/data/lfw610_open and runs/data/celeba_cohort2k, one CelebA photo per identity)."""
import sys
import numpy as np
from faceprint.embeddings import EmbeddingSet
from faceprint.evaluation.identification import split_gallery
from faceprint.evaluation.verification import far_threshold


def dir_at_1pct(emb: np.ndarray, labels: np.ndarray, mu: np.ndarray, sd: np.ndarray, mode: str) -> tuple[float, float]:
    hits, near, imp = [], [], []
    for r in range(10):
        gallery, genuine, impostor = split_gallery(labels, 1, 0.2, r)
        rng = np.random.default_rng([0, r])
        g_lab = labels[gallery]; ids = np.unique(g_lab)

        def d(a, b):
            raw = np.maximum(2 - 2 * emb[a] @ emb[b].T, 0)
            z, t = (raw - mu[b][None]) / sd[b][None], (raw - mu[a][:, None]) / sd[a][:, None]
            return {"raw": raw, "z": z, "t": t, "s": (z + t) / 2}[mode]
        d_imp, d_gen = d(impostor, gallery), d(genuine, gallery)
        for _ in range(20):
            cols = np.isin(g_lab, rng.choice(ids, 100, replace=False))
            imp.append(d_imp[:, cols].min(1))
            rows = np.isin(labels[genuine], g_lab[cols])
            dg = d_gen[rows][:, cols]
            hits.append(g_lab[cols][dg.argmin(1)] == labels[genuine][rows]); near.append(dg.min(1))
    imp, hits, near = map(np.concatenate, (imp, hits, near))
    t = far_threshold(imp, 0.01)
    return 100 * (hits & (near < t)).mean(), 100 * hits.mean()


es = EmbeddingSet.load(sys.argv[1])
emb = es.embeddings.astype(np.float32)
cohort = EmbeddingSet.load(sys.argv[2]).embeddings.astype(np.float32)
labels = np.unique(np.array(es.identities), return_inverse=True)[1]
dc = np.sort(np.maximum(2 - 2 * emb @ cohort.T, 0), 1)
print(f"{sys.argv[1]}: {len(emb)} photos, cohort {len(cohort)}")
for mode, k in [("raw", 0), ("z", 0), ("s", 0), ("z", 100), ("t", 100), ("s", 100), ("s", 300)]:
    top = dc[:, :k] if k else dc
    dr, r1 = dir_at_1pct(emb, labels, top.mean(1), top.std(1) + 1e-6, mode)
    print(f"  {mode:3s} k={k or 'all':>4}  DIR {dr:.2f}  rank-1 {r1:.2f}", flush=True)
