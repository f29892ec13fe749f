"""Average-linkage clustering without an N x N matrix, for 10^5-10^6 faces.

For unit vectors the average squared L2 distance between two sets is exact from their mean vectors:
mean |a - b|^2 = 2 - 2 mean(a) . mean(b). So a cluster is kept as (sum vector, size), and the distance of any two
clusters costs one dot product. Candidate pairs come from the k-nearest-neighbour graph of the faces (two clusters
are candidates when a face of one is among the k nearest of a face of the other); each round merges every pair of
clusters that are each other's nearest candidate and closer than the threshold (reciprocal nearest neighbours:
for average linkage, merging them in any order gives the same clusters as merging one pair at a time). Rounds repeat
until no such pair is left. With a complete graph this is exactly scikit-learn's average linkage cut at the
threshold (tested); with k neighbours the only approximation is which pairs are looked at. Memory is O(N k).
"""

from __future__ import annotations

import numpy as np

from faceprint.distances import Distance, get_distance
from faceprint.errors import InputError
from faceprint.search import make_index

DEFAULT_K = 32
EXACT_UP_TO = 200_000  # "auto": an exact k-NN graph up to here (N^2 d work), FAISS IVF above when installed
GRAPH_NPROBE = 48


def knn_graph(emb: np.ndarray, k: int, distance: str | Distance = "squared_l2", index: str = "auto"
              ) -> tuple[np.ndarray, np.ndarray]:
    """(distances (N, k), neighbours (N, k)) of every face to its k nearest others (itself left out; -1 where the
    index found fewer). Searched in blocks, so memory stays O(N k)."""
    from faceprint.search.index import faiss_available

    n = len(emb)
    k = min(k, n - 1)
    if index == "auto":
        index = "faiss" if n > EXACT_UP_TO and faiss_available() else "exact"
    if index == "faiss":  # more lists probed than for a gallery query: a missed neighbour is a missed merge
        from faceprint.search import FaissIndex

        idx = FaissIndex(emb, get_distance(distance), nprobe=GRAPH_NPROBE)
    else:
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


def _edges(nbr: np.ndarray) -> np.ndarray:
    """Undirected candidate pairs (E, 2), each once, from a k-NN table (-1 entries dropped)."""
    n, k = nbr.shape
    a = np.repeat(np.arange(n, dtype=np.int64), k)
    b = nbr.ravel()
    ok = b >= 0
    lo, hi = np.minimum(a[ok], b[ok]), np.maximum(a[ok], b[ok])
    key = np.unique(lo[lo != hi] * n + hi[lo != hi])
    return np.stack([key // n, key % n], 1)


def average_linkage(emb: np.ndarray, threshold: float, distance: str | Distance = "squared_l2",
                    k: int = DEFAULT_K, index: str = "auto", neighbours: np.ndarray | None = None,
                    cannot_link: np.ndarray | None = None) -> np.ndarray:
    """Cluster labels (arbitrary integers): average linkage cut at `threshold`, candidates from the k-NN graph
    (or from `neighbours`, an (N, k) table). The model's distance must average exactly through mean vectors.

    `cannot_link` (P, 2): pairs of faces never put in one cluster; two clusters holding such a pair between them are
    never merged. Treating such a pair of clusters as infinitely far keeps average linkage reducible, so merging
    reciprocal nearest pairs still gives the one-pair-at-a-time result."""
    dist = get_distance(distance)
    if not dist.averages_through_means:
        raise InputError(f"average linkage beyond the N x N matrix needs the squared L2 distance, not {dist.name}")
    n = len(emb)
    if n < 2:
        return np.zeros(n, np.int64)
    x = np.ascontiguousarray(emb, np.float32)
    if neighbours is None:
        neighbours = knn_graph(x, k, dist, index)[1]
    sums = x.astype(np.float64)
    sizes = np.ones(n)
    limit = 2.0 - threshold  # same cluster when 2 - 2 m_a.m_b < threshold, i.e. 2 m_a.m_b > 2 - threshold

    def scores(ca: np.ndarray, cb: np.ndarray) -> np.ndarray:
        out = np.empty(len(ca))
        for s in range(0, len(ca), 1 << 16):  # 2 m_a.m_b, in blocks of 65,536 pairs (2 x 64 MB of gathered sums)
            a, b = ca[s : s + (1 << 16)], cb[s : s + (1 << 16)]
            out[s : s + len(a)] = 2 * np.einsum("ij,ij->i", sums[a], sums[b]) / (sizes[a] * sizes[b])
        return out

    pairs = _edges(neighbours)  # clusters are single faces at first, each named by its face
    ca, cb = pairs[:, 0], pairs[:, 1]
    score = scores(ca, cb)
    # A merged cluster's score with C is the size-weighted mean of its parts' scores with C: a pair that is not
    # close can only become close through a part that is. So only close pairs are kept, and only the pairs whose
    # clusters changed in a round are scored again.
    close = score > limit
    ca, cb, score = ca[close], cb[close], score[close]
    owner = np.arange(n)  # every face's cluster
    while len(ca):
        # each cluster's best candidate: the largest score (ties: the smallest name)
        ends, other = np.concatenate([ca, cb]), np.concatenate([cb, ca])
        sc = np.concatenate([score, score])
        best = np.full(n, -np.inf)
        np.maximum.at(best, ends, sc)
        top = sc == best[ends]
        partner = np.full(n, n)
        np.minimum.at(partner, ends[top], other[top])
        a = np.flatnonzero(partner < n)
        mutual = a[(partner[partner[a]] == a) & (a < partner[a])]  # reciprocal nearest pairs: merge them all
        b = partner[mutual]
        if cannot_link is not None and len(cannot_link):
            blocked = _blocked(owner, cannot_link, mutual, b, n)
            if blocked.any():  # such a pair is never a candidate again (clusters only grow): drop it, look again
                bad = np.minimum(mutual[blocked], b[blocked]) * n + np.maximum(mutual[blocked], b[blocked])
                drop = np.isin(np.minimum(ca, cb) * n + np.maximum(ca, cb), bad)
                ca, cb, score = ca[~drop], cb[~drop], score[~drop]
                mutual, b = mutual[~blocked], b[~blocked]
                if not len(mutual):
                    continue
        sums[mutual] += sums[b]
        sizes[mutual] += sizes[b]
        remap = np.arange(n)
        remap[b] = mutual
        owner = remap[owner]  # a cluster merges once per round, so one pass suffices
        changed = np.zeros(n, bool)
        changed[mutual] = True
        ca, cb = remap[ca], remap[cb]
        touched = changed[ca] | changed[cb]
        tc, tb = ca[touched], cb[touched]
        inside = tc != tb
        key = np.unique(np.minimum(tc[inside], tb[inside]) * n + np.maximum(tc[inside], tb[inside]))
        tc, tb = key // n, key % n
        ts = scores(tc, tb)
        keep = ts > limit
        ca = np.concatenate([ca[~touched], tc[keep]])
        cb = np.concatenate([cb[~touched], tb[keep]])
        score = np.concatenate([score[~touched], ts[keep]])
    return owner


def _blocked(owner: np.ndarray, cannot_link: np.ndarray, a: np.ndarray, b: np.ndarray, n: int) -> np.ndarray:
    """Which cluster pairs (a[i], b[i]) hold a cannot-link pair between them."""
    oa, ob = owner[cannot_link[:, 0]], owner[cannot_link[:, 1]]
    spanned = np.minimum(oa, ob) * n + np.maximum(oa, ob)
    return np.isin(np.minimum(a, b) * n + np.maximum(a, b), spanned)
