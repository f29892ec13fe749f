"""Two faces of one photo are never put in one cluster: every clustering path against brute-force references."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from faceprint.applications.clustering import assign_apart, cannot_link_pairs, cluster
from faceprint.applications.graph import average_linkage
from faceprint.evaluation.clustering import clustering_report


def _blobs(rng, ids, per, spread, d=16):
    c = rng.normal(size=(ids, d))
    c /= np.linalg.norm(c, axis=1, keepdims=True)
    x = np.repeat(c, per, 0) + spread * rng.normal(size=(ids * per, d)) / np.sqrt(d)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32), np.repeat(np.arange(ids), per)


def _constrained_average_linkage(x: np.ndarray, t: float, groups: np.ndarray) -> np.ndarray:
    """The definition, one merge at a time: join the two closest clusters (mean of all their pairwise squared L2
    distances) among those that hold no two faces of one group, while that distance is below t."""
    return _continued(x, t, groups, np.full(len(x), -1), np.zeros(len(x), bool))


def _apart(labels: np.ndarray, groups: np.ndarray) -> bool:
    return all(len(set(labels[groups == g])) == (groups == g).sum() for g in np.unique(groups))


def test_cannot_link_pairs_enumerates_every_pair_within_a_group():
    pairs = cannot_link_pairs(["a.jpg", "b.jpg", "a.jpg", "c.jpg", "a.jpg", "b.jpg"])
    assert sorted(map(tuple, pairs.tolist())) == [(0, 2), (0, 4), (1, 5), (2, 4)]
    assert cannot_link_pairs(["x", "y"]).shape == (0, 2)


@pytest.mark.parametrize("seed, spread, t", [(0, 0.6, 0.7), (1, 0.9, 0.9), (2, 1.2, 1.2)])
def test_agglomerative_with_cannot_link_is_the_definition(seed, spread, t):
    """Both paths (scikit-learn on the matrix, and reciprocal nearest pairs on a graph of every pair) give the
    partition of the one-merge-at-a-time definition, and never join two faces of a group."""
    rng = np.random.default_rng(seed)
    x, truth = _blobs(rng, 12, 5, spread)
    groups = rng.integers(0, 25, len(x))  # random "photos" of 1-6 faces, often of one person: the hard case
    ref = _constrained_average_linkage(x, t, groups)
    assert _apart(ref, groups) and 1 < len(np.unique(ref)) < len(x)
    full = cluster(x, threshold=t, groups=groups).labels
    every = np.array([[j for j in range(len(x)) if j != i] for i in range(len(x))])
    graph = average_linkage(x, t, neighbours=every, cannot_link=cannot_link_pairs(groups))
    assert clustering_report(ref, full).ari == 1.0 and len(np.unique(full)) == len(np.unique(ref))
    assert clustering_report(ref, graph).ari == 1.0 and len(np.unique(graph)) == len(np.unique(ref))
    free = cluster(x, threshold=t).labels
    assert not _apart(free, groups)  # without the constraint these faces would share clusters: the test bites


def test_graph_path_past_the_matrix_limit_keeps_faces_of_a_photo_apart(monkeypatch):
    import faceprint.applications.clustering as clustering

    rng = np.random.default_rng(7)
    x, truth = _blobs(rng, 60, 5, 0.6)
    groups = np.arange(len(x)) // 3  # photos of three faces, mostly of one person
    monkeypatch.setattr(clustering, "AGGLOMERATIVE_MAX", 50)
    res = cluster(x, threshold=0.7, groups=groups)
    assert _apart(res.labels, groups)


def _best_assignment(cost: np.ndarray) -> float:
    m, k = cost.shape
    return min(sum(cost[i, c] for i, c in enumerate(p)) for p in itertools.permutations(range(k), m))


def test_kmeans_assignment_is_the_least_total_distance_among_distinct_clusters():
    rng = np.random.default_rng(3)
    x, _ = _blobs(rng, 5, 8, 1.0)
    labels = rng.integers(0, 5, len(x))
    groups = np.arange(len(x)) // 4
    out = assign_apart(x, labels, groups)
    assert _apart(out, groups)
    centroids = np.stack([x[labels == c].mean(0) for c in range(5)])
    cost = ((x[:, None].astype(np.float64) - centroids[None]) ** 2).sum(-1)
    for g in np.unique(groups):
        m = np.flatnonzero(groups == g)
        if len(set(labels[m])) == len(m):
            assert (out[m] == labels[m]).all()  # already apart: untouched
        else:
            assert cost[m, out[m]].sum() == pytest.approx(_best_assignment(cost[m]), abs=1e-5)
    # more faces in a photo than clusters: the extra ones get clusters of their own
    few = assign_apart(x[:4], np.zeros(4, np.int64), np.zeros(4))
    assert sorted(few.tolist()) == [0, 1, 2, 3]


def test_kmeans_through_cluster_keeps_faces_of_a_photo_apart():
    rng = np.random.default_rng(5)
    x, _ = _blobs(rng, 6, 10, 0.9)
    groups = np.arange(len(x)) % 20
    res = cluster(x, "kmeans", k=6, groups=groups)
    assert _apart(res.labels, groups) and res.n_clusters >= 6


def _continued(x: np.ndarray, t: float, groups: np.ndarray, start: np.ndarray, locked: np.ndarray) -> np.ndarray:
    """_constrained_average_linkage going on from `start`'s clusters (-1: alone), never merging two clusters that
    each hold a locked face."""
    d = ((x[:, None].astype(np.float64) - x[None]) ** 2).sum(-1)
    clusters = [list(np.flatnonzero(start == s)) for s in np.unique(start[start >= 0])]
    clusters += [[i] for i in np.flatnonzero(start < 0)]
    while True:
        best, pair = np.inf, None
        for a, b in itertools.combinations(range(len(clusters)), 2):
            if set(groups[clusters[a]]) & set(groups[clusters[b]]):
                continue
            if locked[clusters[a]].any() and locked[clusters[b]].any():
                continue
            m = d[np.ix_(clusters[a], clusters[b])].mean()
            if m < best:
                best, pair = m, (a, b)
        if pair is None or best >= t:
            break
        a, b = pair
        clusters[a] += clusters.pop(b)
    labels = np.empty(len(x), np.int64)
    for c, members in enumerate(clusters):
        labels[members] = c
    return labels


@pytest.mark.parametrize("seed, spread, t", [(0, 0.6, 0.7), (3, 0.9, 0.9), (4, 1.2, 1.2)])
def test_going_on_from_earlier_clusters_with_locked_ones_is_the_definition(seed, spread, t):
    """A library's grouping: earlier clusters (some of them named, i.e. locked) plus new faces, on a graph of every
    pair, gives the one-merge-at-a-time partition that starts from those clusters."""
    rng = np.random.default_rng(seed)
    x, truth = _blobs(rng, 10, 5, spread)
    groups = rng.integers(0, 30, len(x))
    start = np.where(rng.random(len(x)) < 0.6, truth, -1)  # 60% of faces already sorted (by their person)
    start[(start == 1) | (start == 2)] = 1  # one earlier cluster wrongly holds two people: never split again
    locked = np.isin(start, [0, 3, 4])  # three named people
    # an earlier cluster may hold two faces of one photo (a person the user merged): keep that in the reference
    ref = _continued(x, t, groups, start, locked)
    every = np.array([[j for j in range(len(x)) if j != i] for i in range(len(x))])
    got = average_linkage(x, t, neighbours=every, cannot_link=cannot_link_pairs(groups), start=start, locked=locked)
    assert clustering_report(ref, got).ari == 1.0 and len(np.unique(got)) == len(np.unique(ref))
    for s in np.unique(start[start >= 0]):  # earlier clusters stay whole
        assert len(np.unique(got[start == s])) == 1
    named = [np.unique(got[start == s])[0] for s in (0, 3, 4)]
    assert len(set(named)) == 3  # named people never merge
    free = average_linkage(x, t, neighbours=every)
    assert clustering_report(ref, free).ari < 1.0  # starting clusters and locks change the answer: the test bites


def test_only_active_faces_bring_clusters_together():
    """A library's incremental grouping: with `active`, nothing happens without new faces (two earlier clusters
    that are close stay apart until a new face links them), and new faces join the earlier cluster they belong to."""
    rng = np.random.default_rng(5)
    x, truth = _blobs(rng, 6, 6, 0.5)
    start = truth.copy()
    start[(truth == 1) & (np.arange(len(x)) % 2 == 0)] = 6  # one person in two earlier clusters: 1 and 6
    every = np.array([[j for j in range(len(x)) if j != i] for i in range(len(x))])
    same = average_linkage(x, 0.9, neighbours=every, start=start, active=np.zeros(len(x), bool))
    assert clustering_report(start, same).ari == 1.0  # nothing new: nothing moves
    merged = average_linkage(x, 0.9, neighbours=every, start=start)
    assert len(np.unique(merged)) < len(np.unique(start))  # whereas going on over every pair merges 0 and 6
    start[[0, 7, 13]] = -1  # three faces new again
    grown = average_linkage(x, 0.9, start=start, active=start < 0)
    for s in np.unique(start[start >= 0]):
        assert len(np.unique(grown[start == s])) == 1  # earlier clusters stay whole
    for i in (0, 7, 13):  # each new face joins the earlier cluster of its person
        assert grown[i] in {grown[j] for j in np.flatnonzero((truth == truth[i]) & (start >= 0))}
