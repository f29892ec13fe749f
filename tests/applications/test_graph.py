"""Average linkage without the N x N matrix, against scikit-learn's on the full matrix and a brute-force k-NN."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.cluster import AgglomerativeClustering

from faceprint.applications.clustering import AGGLOMERATIVE_MAX, cluster
from faceprint.applications.graph import average_linkage, knn_graph
from faceprint.evaluation.clustering import clustering_report


def _blobs(rng, ids, per, spread, d=16):
    c = rng.normal(size=(ids, d))
    c /= np.linalg.norm(c, axis=1, keepdims=True)
    x = np.repeat(c, per, 0) + spread * rng.normal(size=(ids * per, d)) / np.sqrt(d)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32), np.repeat(np.arange(ids), per)


def _sklearn(x: np.ndarray, t: float) -> np.ndarray:
    d = ((x[:, None].astype(np.float64) - x[None]) ** 2).sum(-1)
    return AgglomerativeClustering(n_clusters=None, metric="precomputed", linkage="average",
                                   distance_threshold=t).fit_predict(d)


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


@pytest.mark.parametrize("seed, spread, t", [(0, 0.5, 0.6), (1, 0.9, 0.8), (2, 1.3, 1.2), (3, 0.7, 1.5)])
def test_with_every_pair_as_candidate_it_is_scikit_learns_average_linkage(seed, spread, t):
    """Merging reciprocal nearest pairs in rounds, with cluster distances from mean vectors, gives exactly the
    partition of one-pair-at-a-time average linkage on the full matrix."""
    rng = np.random.default_rng(seed)
    x, _ = _blobs(rng, 25, 8, spread)
    every = np.array([[j for j in range(len(x)) if j != i] for i in range(len(x))])
    ours = average_linkage(x, t, neighbours=every)
    ref = _sklearn(x, t)
    assert clustering_report(ref, ours).ari == 1.0 and len(np.unique(ours)) == len(np.unique(ref))
    assert 1 < len(np.unique(ref)) < len(x)  # a real cut, neither all merged nor all apart


def test_on_the_k_nn_graph_it_agrees_with_the_full_matrix():
    rng = np.random.default_rng(4)
    x, truth = _blobs(rng, 150, 6, 0.5)
    ref, ours = _sklearn(x, 0.7), average_linkage(x, 0.7, k=16)
    assert clustering_report(ref, ours).ari > 0.99
    assert clustering_report(truth, ours).pairwise_f1 > 0.95


def test_cluster_switches_to_the_graph_past_the_matrix_limit(monkeypatch):
    import faceprint.applications.clustering as clustering

    rng = np.random.default_rng(5)
    x, truth = _blobs(rng, 100, 5, 0.6)
    full = cluster(x, threshold=0.6)
    monkeypatch.setattr(clustering, "AGGLOMERATIVE_MAX", 100)
    big = cluster(x, threshold=0.6)  # 500 faces > 100: the k-NN graph path, the same clusters
    assert clustering_report(full.labels, big.labels).ari == 1.0 and big.method == "agglomerative"
    assert AGGLOMERATIVE_MAX == 20_000
    with pytest.raises(ValueError, match="needs the squared L2 distance"):
        cluster(x, threshold=0.6, distance="l2")


def test_near_graph_is_the_k_nn_graph_cut_at_the_radius():
    """The neighbours average linkage needs (within its cut) without ranking whole rows: the same as the k-NN table
    with every neighbour at or past the radius dropped."""
    from faceprint.applications.graph import near_graph

    rng = np.random.default_rng(3)
    x, _ = _blobs(rng, 40, 6, 0.8)
    x = np.concatenate([x, x[:5]])  # exact duplicates: at distance 0, tied
    for k, within in ((5, 0.6), (32, 0.9), (3, 2.5)):
        d, nb = knn_graph(x, k)
        want = [sorted(int(j) for j, dj in zip(nb[i], d[i]) if dj < within and j >= 0) for i in range(len(x))]
        got = near_graph(x, k, within, block=7, tile=50)
        assert [sorted(int(j) for j in row if j >= 0) for row in got] == want
        some = np.array([3, 50, 0, 241, 3])  # only these faces' lists (a library's unsorted faces)
        part = near_graph(x, k, within, rows=some, block=2, tile=64)
        assert [sorted(int(j) for j in row if j >= 0) for row in part] == [
            want[i] if i in some else [] for i in range(len(x))]
