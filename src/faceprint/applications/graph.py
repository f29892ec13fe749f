"""Clustering without an N x N matrix: a k-nearest-neighbour graph whose edges join faces the model calls the same
person (distance under the verification threshold), split into clusters by Chinese whispers (Biemann, 2006; the
method dlib's face clustering uses). Memory is O(N k); time is one k-NN search plus a few passes over the edges.

Chinese whispers: every face starts as its own cluster; in turn, each takes the cluster that carries the most edge
weight among its neighbours. Faces update in random chunks (a twentieth of the faces at a time), each chunk seeing
the labels the previous chunks left: as sequential as the original in effect, vectorised within a chunk.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from faceprint.distances import Distance, get_distance
from faceprint.search import make_index

DEFAULT_K = 32


def knn_graph(emb: np.ndarray, k: int, distance: str | Distance = "squared_l2", index: str = "auto"
              ) -> tuple[np.ndarray, np.ndarray]:
    """(distances (N, k), neighbours (N, k)) of every face to its k nearest others (itself left out; -1 where the
    index found fewer). Searched in blocks, so memory stays O(N k)."""
    n = len(emb)
    k = min(k, n - 1)
    idx = make_index(emb, get_distance(distance), index)
    d_all, n_all = np.empty((n, k), np.float32), np.empty((n, k), np.int64)
    block = 4096
    for s in range(0, n, block):
        d, nb = idx.search(emb[s : s + block], k + 1)
        rows = np.arange(s, s + len(d))[:, None]
        own = nb == rows
        # drop each face's own row (it is not always first: duplicates tie at distance 0), keep the k others
        keep = np.argsort(own, axis=1, kind="stable")[:, :k]
        d_all[s : s + len(d)] = np.take_along_axis(d, keep, 1)
        n_all[s : s + len(d)] = np.take_along_axis(nb, keep, 1)
    return d_all, n_all


def same_person_graph(dist: np.ndarray, nbr: np.ndarray, threshold: float, distance: Distance) -> sp.csr_matrix:
    """Symmetric adjacency of the k-NN pairs under the threshold; an edge weighs more the closer its faces are
    (1 at distance 0, falling linearly to 0 at the threshold)."""
    n = len(dist)
    ok = (nbr >= 0) & distance.same(dist, threshold)
    rows = np.repeat(np.arange(n), dist.shape[1])[ok.ravel()]
    cols = nbr.ravel()[ok.ravel()]
    w = np.clip(1.0 - dist.ravel()[ok.ravel()] / threshold, 1e-6, None) if threshold > 0 else np.ones(len(rows))
    a = sp.csr_matrix((w.astype(np.float64), (rows, cols)), shape=(n, n))
    return a.maximum(a.T).tocsr()


def chinese_whispers(adj: sp.csr_matrix, iterations: int = 20, chunks: int = 20, seed: int = 0) -> np.ndarray:
    """Cluster labels (arbitrary integers) of a weighted undirected graph; a face without edges stays alone."""
    n = adj.shape[0]
    labels = np.arange(n)
    rng = np.random.default_rng(seed)
    indptr, indices, weights = adj.indptr, adj.indices, adj.data
    degree = np.diff(indptr)
    active = np.flatnonzero(degree > 0)
    for _ in range(iterations):
        changed = 0
        for part in np.array_split(rng.permutation(active), chunks):
            if not len(part):
                continue
            counts = degree[part]
            starts = indptr[part]
            # every edge (i, j) of the chunk's faces: position of i in the chunk, j's current label, the weight
            pos = np.repeat(np.arange(len(part)), counts)
            edge = np.repeat(starts - np.cumsum(np.r_[0, counts[:-1]]), counts) + np.arange(counts.sum())
            lab = labels[indices[edge]]
            key = pos.astype(np.int64) * n + lab
            uniq, inv = np.unique(key, return_inverse=True)
            score = np.bincount(inv, weights=weights[edge])
            owner = uniq // n
            # per face: the label with the largest total weight (ties: the smallest label, deterministic)
            order = np.lexsort((uniq % n, -score, owner))
            first = order[np.r_[True, owner[order][1:] != owner[order][:-1]]]
            new = uniq[first] % n
            changed += int((labels[part[owner[first]]] != new).sum())
            labels[part[owner[first]]] = new
        if changed == 0:
            break
    return labels


def graph_clusters(emb: np.ndarray, threshold: float, distance: str | Distance = "squared_l2", k: int = DEFAULT_K,
                   seed: int = 0, index: str = "auto") -> np.ndarray:
    """Labels of faces by Chinese whispers on their k-NN graph cut at the (pairwise) threshold."""
    d = get_distance(distance)
    if len(emb) < 2:
        return np.zeros(len(emb), np.int64)
    dist, nbr = knn_graph(np.ascontiguousarray(emb, np.float32), k, d, index)
    return chinese_whispers(same_person_graph(dist, nbr, threshold, d), seed=seed)
