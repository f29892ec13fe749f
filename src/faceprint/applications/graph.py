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


def near_graph(emb: np.ndarray, k: int, within: float, rows: np.ndarray | None = None, block: int = 512,
               tile: int = 8192) -> np.ndarray:
    """(N, k) neighbours: each face's k nearest others among those closer than `within` (squared L2), -1 past the
    last; with `rows`, only those faces' lists are filled (the others' are all -1). What average linkage cut at
    `within` needs of the k-NN graph (it drops every farther pair at once), found without ranking whole rows: one
    product and one comparison per block, each pair of faces computed once (the upper triangle) when every row is
    asked for, in the embeddings' principal directions (_principal)."""
    x = _principal(np.ascontiguousarray(emb, np.float32))
    n = len(x)
    norms = (x * x).sum(1)
    half = (norms * 0.5).astype(np.float32)
    slack = 1e-4  # float32 rounding of |a|^2 + |b|^2 - 2 a.b: exact distances decide at the cut, not this filter
    both = rows is None
    queries = np.arange(n, dtype=np.int32) if both else np.unique(np.asarray(rows, np.int32))
    found: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (face, neighbour, squared distance)
    held = 0
    dots = np.empty((block, tile), np.float32)  # one tile of products, small enough to stay in the cache
    for s in range(0, len(queries), block):
        qi = queries[s : s + block]
        xq, bound = x[qi], (half[qi] - 0.5 * (within + slack))[:, None]
        first = int(qi[0]) if both else 0  # the upper triangle: columns from the block's first face on
        for t in range(first, n, tile):
            cols = slice(t, min(n, t + tile))
            out = dots[: len(qi), : cols.stop - t]
            # |a - b|^2 < within  <=>  a.b - |b|^2 / 2 > (|a|^2 - within) / 2
            np.matmul(xq, x[cols].T, out=out)
            out -= half[None, cols]
            r, c = np.nonzero(out > bound)
            a, b = qi[r], (c + t).astype(np.int32)  # 32-bit ids and distances: half the bytes to sort
            d = norms[a] - 2 * out[r, c]
            keep = a < b if both else a != b
            a, b, d = a[keep], b[keep], d[keep]
            found.append((a, b, d))
            if both:
                found.append((b, a, d))
            held += len(a) * (2 if both else 1)
        if held > 2 * n * k:  # keep memory O(N k): only each face's k nearest so far
            found = [_nearest_k(*map(np.concatenate, zip(*found)), k)]
            held = len(found[0][0])
    out = np.full((n, k), -1, np.int64)
    if found:
        a, b, _, rank = _nearest_k(*map(np.concatenate, zip(*found)), k, ranks=True)
        out[a, rank] = b
    return out


def _principal(x: np.ndarray, kept: float = 0.999, sample: int = 20_000) -> np.ndarray:
    """x in the principal directions that hold `kept` of its variance, when they are few enough to save work (face
    embeddings use ~150 of 256 dimensions). A projection only shortens differences, |P(a - b)| <= |a - b|, so every
    pair closer than a radius stays closer in it: a filter that misses nothing (it lets a few more pairs through,
    which average linkage scores exactly and drops); the k kept per face are ranked by the projected distance."""
    n, dim = x.shape
    if n < 2000:
        return x
    rows = x[:: max(1, n // sample)]
    mean = rows.mean(0)
    _, sv, basis = np.linalg.svd(rows - mean, full_matrices=False)
    share = np.cumsum(sv.astype(np.float64) ** 2) / max(float((sv.astype(np.float64) ** 2).sum()), 1e-30)
    m = int(np.searchsorted(share, kept)) + 1
    if m > 0.75 * dim:
        return x
    return np.ascontiguousarray((x - mean) @ basis[:m].T, np.float32)


def _nearest_k(a: np.ndarray, b: np.ndarray, d: np.ndarray, k: int, ranks: bool = False) -> tuple:
    """The k nearest b of each a (ties by b), and with `ranks` each one's place in its a's list."""
    order = np.lexsort((b, d, a))
    a, b, d = a[order], b[order], d[order]
    rank = np.arange(len(a)) - np.searchsorted(a, a)
    keep = rank < k
    return (a[keep], b[keep], d[keep], rank[keep]) if ranks else (a[keep], b[keep], d[keep])


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
                    cannot_link: np.ndarray | None = None, start: np.ndarray | None = None,
                    locked: np.ndarray | None = None, active: np.ndarray | None = None) -> np.ndarray:
    """Cluster labels (arbitrary integers): average linkage cut at `threshold`, candidates from the k-NN graph
    (or from `neighbours`, an (N, k) table). The model's distance must average exactly through mean vectors.

    `cannot_link` (P, 2): pairs of faces never put in one cluster; two clusters holding such a pair between them are
    never merged. Treating such a pair of clusters as infinitely far keeps average linkage reducible, so merging
    reciprocal nearest pairs still gives the one-pair-at-a-time result.

    `start` (N,): clustering goes on from these clusters (faces with one label start as one cluster; a negative label
    starts alone), as a photo library grows: earlier clusters are never split, new faces join them or each other.
    `locked` (N,) bool: two clusters that each hold a locked face are never merged (two named people).
    `active` (N,) bool: candidates are only the pairs with an active face (a library's faces new since its last
    grouping: they join earlier clusters or form new ones, and two earlier clusters meet only through them).
    """
    dist = get_distance(distance)
    if not dist.averages_through_means:
        raise InputError(f"average linkage beyond the N x N matrix needs the squared L2 distance, not {dist.name}")
    n = len(emb)
    if n < 2:
        return np.zeros(n, np.int64)
    x = np.ascontiguousarray(emb, np.float32)
    active = None if active is None else np.asarray(active, bool)
    if neighbours is None:
        exact = index == "exact" or (index == "auto" and n <= EXACT_UP_TO)
        if active is not None and active.sum() < n // 2:  # a few new faces: only their rows
            neighbours = near_graph(x, k, threshold, rows=np.flatnonzero(active))
        else:  # every pair once (the upper triangle) costs less than the rows of half the faces or more
            neighbours = near_graph(x, k, threshold) if exact else knn_graph(x, k, dist, index)[1]
    if active is not None:  # only the pairs with an active face
        neighbours = np.where(active[:, None] | active[np.maximum(neighbours, 0)], neighbours, -1)
    owner = np.arange(n)  # every face's cluster, named by one of its faces
    if start is not None:
        start = np.asarray(start, np.int64)
        grouped = np.flatnonzero(start >= 0)
        labels, first = np.unique(start[grouped], return_index=True)
        owner[grouped] = grouped[first][np.searchsorted(labels, start[grouped])]
    if start is None:  # every face alone: its own sum
        sums = x.astype(np.float64)
    else:
        sums = np.zeros((n, x.shape[1]))
        np.add.at(sums, owner, x.astype(np.float64))
    sizes = np.bincount(owner, minlength=n).astype(np.float64)
    held = np.zeros(n, bool)  # clusters holding a locked face
    if locked is not None:
        held[owner[np.asarray(locked, bool)]] = True
    limit = 2.0 - threshold  # same cluster when 2 - 2 m_a.m_b < threshold, i.e. 2 m_a.m_b > 2 - threshold

    def scores(ca: np.ndarray, cb: np.ndarray) -> np.ndarray:
        out = np.empty(len(ca))
        for s in range(0, len(ca), 1 << 16):  # 2 m_a.m_b, in blocks of 65,536 pairs (2 x 64 MB of gathered sums)
            a, b = ca[s : s + (1 << 16)], cb[s : s + (1 << 16)]
            out[s : s + len(a)] = 2 * np.einsum("ij,ij->i", sums[a], sums[b]) / (sizes[a] * sizes[b])
        return out

    pairs = owner[_edges(neighbours)]  # face pairs -> pairs of their starting clusters
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    key = np.unique(np.minimum(pairs[:, 0], pairs[:, 1]) * n + np.maximum(pairs[:, 0], pairs[:, 1]))
    ca, cb = key // n, key % n
    score = scores(ca, cb)
    # A merged cluster's score with C is the size-weighted mean of its parts' scores with C: a pair that is not
    # close can only become close through a part that is. So only close pairs are kept, and only the pairs whose
    # clusters changed in a round are scored again.
    close = score > limit
    ca, cb, score = ca[close], cb[close], score[close]
    if held.any():  # two locked clusters are never candidates
        both = held[ca] & held[cb]
        ca, cb, score = ca[~both], cb[~both], score[~both]
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
        if (cannot_link is not None and len(cannot_link)) or held.any():
            blocked = held[mutual] & held[b]
            if cannot_link is not None and len(cannot_link):
                blocked |= _blocked(owner, cannot_link, mutual, b, n)
            if blocked.any():  # such a pair is never a candidate again (clusters only grow): drop it, look again
                bad = np.minimum(mutual[blocked], b[blocked]) * n + np.maximum(mutual[blocked], b[blocked])
                drop = np.isin(np.minimum(ca, cb) * n + np.maximum(ca, cb), bad)
                ca, cb, score = ca[~drop], cb[~drop], score[~drop]
                mutual, b = mutual[~blocked], b[~blocked]
                if not len(mutual):
                    continue
        sums[mutual] += sums[b]
        sizes[mutual] += sizes[b]
        held[mutual] |= held[b]
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
    involved = np.zeros(n, bool)
    involved[a] = involved[b] = True
    near = involved[oa] & involved[ob]  # only pairs between clusters about to merge can block a merge
    oa, ob = oa[near], ob[near]
    spanned = np.minimum(oa, ob) * n + np.maximum(oa, ob)
    return np.isin(np.minimum(a, b) * n + np.maximum(a, b), spanned)
