"""Clustering and the calibration of its threshold."""

from __future__ import annotations

import numpy as np
import pytest

from faceprint.applications.clustering import (
    cluster,
    write_clusters,
)
from faceprint.embeddings import embed_paths, list_images
from faceprint.evaluation.clustering import clustering_report


def test_clustering_recovers_identities(synthetic, tmp_path):
    model = synthetic["model"]
    paths, ids = list_images(synthetic["unseen"])
    es = embed_paths(model, paths, ids, cache_dir=synthetic["cache"], progress=False)
    truth = np.unique(es.identities, return_inverse=True)[1]
    res = cluster(es.embeddings, "agglomerative", threshold=model.config.threshold)
    rep = clustering_report(truth, res.labels)
    assert rep.nmi > 0.7 and rep.pairwise_f1 > 0.5
    km = cluster(es.embeddings, "kmeans", k=10)
    assert km.n_clusters == 10
    assert 2 <= cluster(es.embeddings, "kmeans").n_clusters <= 20  # k chosen by silhouette
    out = write_clusters(res, es.paths, tmp_path / "clusters")
    assert (out / "clusters.csv").exists() and (out / "cluster_0000.png").exists()
    assert len(list((out / "cluster_0000").iterdir())) == int((res.labels == 0).sum())


def test_clustering_report_by_hand():
    truth = np.array([0, 0, 0, 1, 1, 2])
    pred = np.array([0, 0, 1, 1, 1, -1])
    rep = clustering_report(truth, pred)
    # pairs together: {0,1} (right), {2,3},{2,4},{3,4} (one right) -> precision 2/4; same-identity pairs: 3 + 1 = 4,
    # of them together: {0,1} and {3,4} -> recall 2/4
    assert rep.pairwise_precision == 0.5 and rep.pairwise_recall == 0.5 and rep.n_unclustered == 1
    assert rep.purity == pytest.approx(5 / 6)  # cluster 0: 2 of id 0; cluster 1: 2 of id 1; singleton: 1
    small = cluster(np.eye(4, dtype=np.float32)[[0, 0, 0, 1]], "agglomerative", threshold=0.5, min_size=2)
    assert small.labels.tolist() == [0, 0, 0, -1]


def test_pairwise_scores_against_every_pair():
    """The contingency-table counts against a loop over all pairs, with unclustered (-1) items as singletons and
    labels that are names, not numbers."""
    from itertools import combinations

    from faceprint.evaluation.clustering import pairwise_scores

    rng = np.random.default_rng(5)
    for n, people, clusters in [(2, 1, 1), (30, 4, 6), (80, 20, 9), (60, 60, 3)]:
        truth = np.array([f"p{i}" for i in rng.integers(0, people, n)])
        pred = rng.integers(-1, clusters, n)
        own = np.where(pred < 0, 1000 + np.arange(n), pred)
        together = [(i, j) for i, j in combinations(range(n), 2) if own[i] == own[j]]
        same = [(i, j) for i, j in combinations(range(n), 2) if truth[i] == truth[j]]
        both = len(set(together) & set(same))
        p = both / len(together) if together else 1.0
        r = both / len(same) if same else 1.0
        f = 2 * p * r / (p + r) if p + r else 0.0
        assert pairwise_scores(truth, pred) == pytest.approx((p, r, f), abs=1e-12), (n, people, clusters)
        assert clustering_report(truth, pred).pairwise_f1 == pytest.approx(f, abs=1e-12)


def _blobs(rng, identities, per, spread, d=16):
    centres = rng.normal(size=(identities, d))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    x = np.repeat(centres, per, 0) + spread * rng.normal(size=(identities * per, d))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32), np.repeat(np.arange(identities), per)


def test_clustering_calibration_against_a_grid_search():
    """The fitted cut has the best mean pairwise F1 over its folders, checked by clustering each folder with the
    library's own `cluster` (scikit-learn) at every candidate of a coarse grid."""
    from faceprint.applications.clustering import calibrate_clustering

    rng = np.random.default_rng(0)
    emb, labels = _blobs(rng, 40, 5, 0.12)
    cal = calibrate_clustering(emb, labels, sizes=(5, 20), draws=4, seed=1)
    assert set(cal.f1_by_size) == {5, 20} and all(0.9 <= f <= 1 for f in cal.f1_by_size.values())
    assert all(0.8 <= r <= 1.2 for r in cal.cluster_ratio_by_size.values())
    # Re-draw the same folders and score the fitted cut and a grid with the library's clustering.
    draw = np.random.default_rng(1)
    folders = [np.isin(labels, draw.choice(40, n, replace=False)) for n in (5, 20) for _ in range(4)]

    def mean_f1(t: float) -> float:
        return float(np.mean([clustering_report(labels[m], cluster(emb[m], threshold=t).labels).pairwise_f1
                              for m in folders]))

    best_grid = max(mean_f1(t) for t in np.linspace(0.05, 2.0, 40))
    assert mean_f1(cal.threshold) >= best_grid - 0.01
    # The verification-style cut (half the typical impostor distance) is worse here: too strict merges nothing.
    assert mean_f1(cal.threshold) > mean_f1(0.01)
