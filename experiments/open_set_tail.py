"""Why DIR at 100 people differs between models: misses split into rank-1 errors (a wrong person nearest) and
right-but-over-threshold (own gallery photo farther than the 1%-stranger threshold). Same draws as
`calibrate --open-set` (10 splits, 20 galleries of 100 each); squared L2 on unit vectors. Args: .npz files from
`faceprint embed` (e.g. of runs/data/lfw610_open)."""
import sys
from typing import Callable
import numpy as np
from faceprint.embeddings import EmbeddingSet
from faceprint.evaluation.identification import split_gallery
from faceprint.evaluation.verification import far_threshold


def open_set_draws(labels: np.ndarray, dist: Callable[[np.ndarray, np.ndarray], np.ndarray]):
    """Per genuine probe: right person nearest?, nearest distance, own photo's distance; per stranger: nearest."""
    hits, near, own, imp = [], [], [], []
    for r in range(10):
        gallery, genuine, impostor = split_gallery(labels, 1, 0.2, r)
        rng = np.random.default_rng([0, r])
        g_lab = labels[gallery]; ids = np.unique(g_lab)
        d_imp, d_gen = dist(impostor, gallery), dist(genuine, gallery)
        for _ in range(20):
            cols = np.isin(g_lab, rng.choice(ids, 100, replace=False))
            imp.append(d_imp[:, cols].min(1))
            rows = np.isin(labels[genuine], g_lab[cols])
            dg = d_gen[rows][:, cols]
            hits.append(g_lab[cols][dg.argmin(1)] == labels[genuine][rows]); near.append(dg.min(1))
            own.append(dg[g_lab[cols][None, :] == labels[genuine][rows][:, None]])
    return tuple(map(np.concatenate, (hits, near, own, imp)))


def load(path: str) -> tuple[np.ndarray, np.ndarray]:
    es = EmbeddingSet.load(path)
    return es.embeddings.astype(np.float32), np.unique(np.array(es.identities), return_inverse=True)[1]


if __name__ == "__main__":
    for path in sys.argv[1:]:
        emb, labels = load(path)
        hits, near, own, imp = open_set_draws(labels, lambda a, b: np.maximum(2 - 2 * emb[a] @ emb[b].T, 0))
        t = far_threshold(imp, 0.01)
        dir_ = (hits & (near < t)).mean()
        print(f"{path}: thr {t:.3f}  DIR {100*dir_:.2f}  rank-1 {100*hits.mean():.2f}  right but over thr {100*(hits & (near >= t)).mean():.2f}"
              f"  wrong nearest {100*(~hits).mean():.2f}")
        q = lambda x: " ".join(f"{v:.3f}" for v in np.quantile(x, [0.1, 0.5, 0.9]))
        print(f"   own-photo distance q10/50/90: {q(own)}   stranger nearest q1/10/50: "
              + " ".join(f"{v:.3f}" for v in np.quantile(imp, [0.01, 0.1, 0.5])))
        # a scale-free view: own distance / threshold
        print(f"   own distance over threshold: {100*(own >= t).mean():.2f}%  median own/thr {np.median(own)/t:.3f}")
