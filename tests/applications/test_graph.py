"""Graph clustering (k-NN graph + Chinese whispers) against brute-force and plain-loop references."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from faceprint.applications.clustering import cluster
from faceprint.applications.graph import chinese_whispers, knn_graph, same_person_graph
from faceprint.distances import get_distance
from faceprint.evaluation.clustering import clustering_report


def _blobs(rng, ids, per, spread, d=32):
    c = rng.normal(size=(ids, d))
    c /= np.linalg.norm(c, axis=1, keepdims=True)
    x = np.repeat(c, per, 0) + spread * rng.normal(size=(ids * per, d)) / np.sqrt(d)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32), np.repeat(np.arange(ids), per)


@pytest.mark.parametrize("distance", ["squared_l2", "l2"])
def test_knn_graph_matches_brute_force(distance):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 8)).astype(np.float32)
    x[7] = x[3]  # a duplicate: its twin at distance 0 must be kept, its own row dropped
    d, n = knn_graph(x, 5, distance)
    full = ((x[:, None].astype(np.float64) - x[None]) ** 2).sum(-1)
    full = full if distance == "squared_l2" else np.sqrt(full)
    np.fill_diagonal(full, np.inf)
    assert not (n == np.arange(300)[:, None]).any()
    np.testing.assert_allclose(d, np.sort(full, 1)[:, :5], atol=1e-4)
    assert n[3, 0] == 7 and n[7, 0] == 3


def _reference_whispers(adj: sp.csr_matrix, iterations: int, seed: int) -> np.ndarray:
    """Plain loops, one face at a time, in the order the library draws (one face per chunk)."""
    n = adj.shape[0]
    labels = np.arange(n)
    rng = np.random.default_rng(seed)
    active = np.flatnonzero(np.diff(adj.indptr) > 0)
    dense = adj.toarray()
    for _ in range(iterations):
        changed = 0
        for i in rng.permutation(active):
            score: dict[int, float] = {}
            for j in np.flatnonzero(dense[i]):
                score[labels[j]] = score.get(labels[j], 0.0) + dense[i, j]
            best = min(score, key=lambda lab: (-score[lab], lab))
            changed += best != labels[i]
            labels[i] = best
        if changed == 0:
            break
    return labels


def test_chinese_whispers_equals_the_one_face_at_a_time_loop():
    rng = np.random.default_rng(1)
    n = 60
    w = np.triu(rng.random((n, n)) * (rng.random((n, n)) < 0.08), 1)
    adj = sp.csr_matrix(w + w.T)
    active = int((np.diff(adj.indptr) > 0).sum())
    for seed in range(3):
        got = chinese_whispers(adj, iterations=10, chunks=active, seed=seed)
        np.testing.assert_array_equal(got, _reference_whispers(adj, 10, seed))


def test_chinese_whispers_finds_components_and_keeps_loners_alone():
    blocks = [np.ones((5, 5)) - np.eye(5)] * 3 + [np.zeros((1, 1))] * 2
    adj = sp.csr_matrix(sp.block_diag(blocks))
    labels = chinese_whispers(adj)
    truth = np.repeat(np.arange(5), [5, 5, 5, 1, 1])
    assert clustering_report(truth, labels).ari == 1.0
    # two cliques joined by one weak edge stay two clusters
    a = sp.lil_matrix(sp.block_diag([np.ones((6, 6)) - np.eye(6)] * 2))
    a[0, 6] = a[6, 0] = 0.05
    assert len(np.unique(chinese_whispers(a.tocsr()))) == 2


def test_same_person_graph_keeps_pairs_under_the_threshold_both_ways():
    dist = np.array([[0.1, 0.5], [0.1, 0.3], [0.2, 0.9]], np.float32)
    nbr = np.array([[1, 2], [0, 2], [0, 1]])
    a = same_person_graph(dist, nbr, 0.4, get_distance("squared_l2")).toarray()
    assert (a == a.T).all() and a[0, 1] == pytest.approx(0.75) and a[1, 2] == pytest.approx(0.25)
    assert a[0, 2] == pytest.approx(0.5) and a[2, 1] == a[1, 2]  # 2 -> 1 at 0.9 is cut, 1 -> 2 at 0.3 kept


def test_graph_method_recovers_identities_like_agglomerative():
    """On separable identities both find the truth; the graph method without the N x N matrix."""
    rng = np.random.default_rng(2)
    x, truth = _blobs(rng, 300, 6, 0.35)
    g = cluster(x, "graph", threshold=0.6)
    ag = cluster(x, "agglomerative", threshold=0.6)
    assert clustering_report(truth, g.labels).pairwise_f1 > 0.98
    assert clustering_report(truth, ag.labels).pairwise_f1 > 0.98
    assert g.method == "graph" and g.parameter == 0.6
    with pytest.raises(ValueError, match="graph method"):
        cluster(np.repeat(x, 70, 0)[:20_001], "agglomerative", threshold=0.6)
