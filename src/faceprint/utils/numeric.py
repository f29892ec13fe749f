"""The few statistics and clustering steps faceprint used scikit-learn and SciPy for, in numpy: the core installs in
a fifth of the space without them (they were 200 MB of its 400). Each is checked against scikit-learn's or SciPy's
own in tests/utils/test_numeric.py, which stay test dependencies as the references."""

from __future__ import annotations

import numpy as np


# -- ROC ---------------------------------------------------------------------------------------------------------
def roc_curve(positive: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fpr, tpr, thresholds) as scikit-learn's roc_curve(positive, score) gives them (drop_intermediate=True): a
    point per distinct score, points on a straight run of the curve dropped, and a first point at (0, 0) with
    threshold +inf. Higher scores are the positive side."""
    positive = np.asarray(positive, bool)
    score = np.asarray(score, np.float64)
    order = np.argsort(-score, kind="mergesort")
    s, y = score[order], positive[order]
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]  # the last index of each distinct score
    tps = np.cumsum(y)[last].astype(np.float64)
    fps = (last + 1 - tps).astype(np.float64)
    thresholds = s[last]
    if len(fps) > 2:  # drop points that lie on a straight horizontal or vertical run (scikit-learn's rule)
        keep = np.r_[True, np.logical_or(np.diff(fps, 2), np.diff(tps, 2)), True]
        fps, tps, thresholds = fps[keep], tps[keep], thresholds[keep]
    fps, tps, thresholds = np.r_[0.0, fps], np.r_[0.0, tps], np.r_[np.inf, thresholds]
    with np.errstate(invalid="ignore", divide="ignore"):
        fpr = fps / fps[-1] if fps[-1] else np.full_like(fps, np.nan)
        tpr = tps / tps[-1] if tps[-1] else np.full_like(tps, np.nan)
    return fpr, tpr, thresholds


def roc_auc(positive: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve: the chance that a positive scores above a negative, ties counted half (the
    Mann-Whitney U statistic over both counts; equal to the trapezoids under roc_curve)."""
    positive = np.asarray(positive, bool)
    score = np.asarray(score, np.float64)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if not n_pos or not n_neg:
        raise ValueError("the ROC area needs both positives and negatives")
    _, inverse, counts = np.unique(score, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    ranks = (ends - (counts - 1) / 2.0)[inverse.ravel()]  # average ranks, 1-based, ties shared
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


# -- clustering agreement ------------------------------------------------------------------------------------------
def contingency(truth: np.ndarray, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The non-empty cells of the truth x prediction table: (truth class, predicted cluster, count) each."""
    t = np.unique(np.asarray(truth), return_inverse=True)[1].ravel().astype(np.int64)
    p = np.unique(np.asarray(pred), return_inverse=True)[1].ravel().astype(np.int64)
    cells, counts = np.unique(t * (p.max() + 1) + p, return_counts=True)
    return cells // (p.max() + 1), cells % (p.max() + 1), counts


def _entropy(counts: np.ndarray) -> float:
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


def normalized_mutual_info(truth: np.ndarray, pred: np.ndarray) -> float:
    """NMI with the arithmetic mean of the two entropies (scikit-learn's default); 1.0 when both are one class."""
    t, p, n = contingency(truth, pred)
    total = float(n.sum())
    rows, cols = np.bincount(t, weights=n), np.bincount(p, weights=n)  # class and cluster sizes
    if len(rows) == len(cols) == 1 or (len(rows) == len(cols) == total):
        return 1.0
    mi = float((n / total * (np.log(n * total) - np.log(rows[t] * cols[p]))).sum())
    h = (_entropy(rows) + _entropy(cols)) / 2
    return max(mi, 0.0) / h if h > 0 else 1.0


def adjusted_rand(truth: np.ndarray, pred: np.ndarray) -> float:
    """Adjusted Rand index (Hubert and Arabie, 1985), as scikit-learn computes it."""
    t, p, n = contingency(truth, pred)
    total = float(n.sum())

    def comb2(x: np.ndarray) -> float:
        x = x.astype(np.float64)
        return float((x * (x - 1) / 2).sum())

    index, a, b = comb2(n), comb2(np.bincount(t, weights=n)), comb2(np.bincount(p, weights=n))
    expected = a * b / (total * (total - 1) / 2) if total > 1 else 0.0
    top = (a + b) / 2
    if top == expected:  # both one class, or both all singletons
        return 1.0
    return (index - expected) / (top - expected)


# -- k-means -------------------------------------------------------------------------------------------------------
def _sq_dist(x: np.ndarray, c: np.ndarray, x_sq: np.ndarray) -> np.ndarray:
    d = x_sq[:, None] - 2 * (x @ c.T) + (c * c).sum(1)[None]
    return np.maximum(d, 0)


def kmeans(x: np.ndarray, k: int, seed: int = 0, restarts: int = 10, iterations: int = 300,
           tol: float = 1e-4) -> tuple[np.ndarray, float]:
    """Lloyd's k-means from k-means++ seeds (greedy, as scikit-learn seeds: 2 + log k candidates a step), the best
    of `restarts` by inertia; returns (labels, inertia). Blocks of rows keep memory at O(N k)."""
    x = np.ascontiguousarray(x, np.float64)
    n = len(x)
    k = max(1, min(k, n))
    rng = np.random.default_rng(seed)
    x_sq = (x * x).sum(1)
    tol = tol * float(np.mean(np.var(x, axis=0)))
    best: tuple[np.ndarray, float] | None = None
    for _ in range(restarts):
        centres = [x[rng.integers(n)]]
        closest = _sq_dist(x, centres[0][None], x_sq)[:, 0]
        trials = 2 + int(np.log(k))
        for _ in range(1, k):
            total = closest.sum()
            picks = rng.choice(n, trials, p=closest / total) if total > 0 else rng.integers(n, size=trials)
            cand = np.minimum(closest[None], _sq_dist(x, x[picks], x_sq).T)
            j = int(np.argmin(cand.sum(1)))
            centres.append(x[picks[j]])
            closest = cand[j]
        c = np.stack(centres)
        for _ in range(iterations):
            d = _sq_dist(x, c, x_sq)
            labels = d.argmin(1)
            new = np.zeros_like(c)
            np.add.at(new, labels, x)
            counts = np.bincount(labels, minlength=k).astype(np.float64)
            empty = counts == 0
            if empty.any():  # an empty cluster takes the points farthest from their centres
                far = np.argsort(-d[np.arange(n), labels])[: int(empty.sum())]
                new[empty], counts[empty] = x[far], 1.0
            new /= counts[:, None]
            shift = float(((new - c) ** 2).sum())
            c = new
            if shift <= tol:
                break
        d = _sq_dist(x, c, x_sq)
        labels = d.argmin(1)
        inertia = float(d[np.arange(n), labels].sum())
        if best is None or inertia < best[1]:
            best = (labels.astype(np.int64), inertia)
    assert best is not None
    return best


def silhouette(x: np.ndarray, labels: np.ndarray, sample: int | None = None, seed: int = 0) -> float:
    """Mean silhouette (Euclidean distances, as scikit-learn's silhouette_score), over a random `sample` of the
    points when given: s = (b - a) / max(a, b), 0 for points alone in their cluster."""
    x = np.asarray(x, np.float64)
    labels = np.asarray(labels)
    idx = np.arange(len(x))
    if sample is not None and sample < len(x):
        idx = np.random.default_rng(seed).choice(len(x), sample, replace=False)
    xs, ls = x[idx], labels[idx]
    ids, code = np.unique(ls, return_inverse=True)
    if not 1 < len(ids) < len(xs):
        raise ValueError("the silhouette needs 2 to n - 1 clusters")
    sq = (xs * xs).sum(1)
    d = np.sqrt(np.maximum(sq[:, None] - 2 * xs @ xs.T + sq[None], 0))
    np.fill_diagonal(d, 0)
    sums = np.zeros((len(xs), len(ids)))
    np.add.at(sums.T, code, d)  # sums[i, c]: distance of point i to the points of cluster c
    counts = np.bincount(code).astype(np.float64)
    own = counts[code]
    a = sums[np.arange(len(xs)), code] / np.maximum(own - 1, 1)
    other = sums / counts[None]
    other[np.arange(len(xs)), code] = np.inf
    b = other.min(1)
    s = np.where(own > 1, (b - a) / np.maximum(np.maximum(a, b), 1e-300), 0.0)
    return float(s.mean())


# -- assignment ----------------------------------------------------------------------------------------------------
def assignment(cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows to distinct columns at least total cost (rows <= columns, or the transpose): the Hungarian method with
    potentials (Jonker-Volgenant's shortest augmenting paths), O(rows^2 columns); as scipy's
    linear_sum_assignment, (row indices, column indices) sorted by row."""
    cost = np.asarray(cost, np.float64)
    if cost.shape[0] > cost.shape[1]:
        c, r = assignment(cost.T)
        order = np.argsort(r)
        return r[order], c[order]
    n, m = cost.shape
    u, v = np.zeros(n + 1), np.zeros(m + 1)
    match = np.zeros(m + 1, np.int64)  # match[j]: the row (1-based) holding column j; 0 is free
    way = np.zeros(m + 1, np.int64)
    for i in range(1, n + 1):
        match[0], j0 = i, 0
        minv = np.full(m + 1, np.inf)
        used = np.zeros(m + 1, bool)
        while True:
            used[j0] = True
            i0 = match[j0]
            free = ~used[1:]
            cur = cost[i0 - 1] - u[i0] - v[1:]
            better = free & (cur < minv[1:])
            minv[1:][better] = cur[better]
            way[1:][better] = j0
            cand = np.where(free, minv[1:], np.inf)
            j1 = int(np.argmin(cand)) + 1
            delta = cand[j1 - 1]
            u[match[used]] += delta
            v[used] -= delta
            minv[1:][free] -= delta
            j0 = j1
            if match[j0] == 0:
                break
        while j0:  # flip the augmenting path
            j1 = way[j0]
            match[j0] = match[j1]
            j0 = j1
    cols = np.flatnonzero(match[1:]) + 0
    rows = match[1:][cols] - 1
    order = np.argsort(rows)
    return rows[order].astype(np.int64), cols[order].astype(np.int64)


# -- average linkage -----------------------------------------------------------------------------------------------
def average_linkage(d: np.ndarray) -> np.ndarray:
    """The full average-linkage (UPGMA) dendrogram of a symmetric distance matrix, by the nearest-neighbour chain
    (exact for average linkage, which has no inversions): an (N - 1, 4) array like SciPy's linkage(): the two
    clusters merged (ids below N are points, N + i the cluster of merge i), the merge distance, its size; merges
    sorted by distance. O(N^2) time and the matrix's memory (it is overwritten)."""
    n = len(d)
    if n < 2:
        return np.zeros((0, 4))
    d = np.array(d, dtype=np.float64 if d.dtype == np.float64 else np.float32, copy=True)
    np.fill_diagonal(d, np.inf)
    size = np.ones(n, np.int64)
    alive = np.ones(n, bool)
    merges: list[tuple[int, int, float]] = []
    chain: list[int] = []
    for _ in range(n - 1):
        if not chain:
            chain.append(int(np.flatnonzero(alive)[0]))
        while True:
            a = chain[-1]
            b = int(np.argmin(d[a]))
            if len(chain) > 1 and d[a, chain[-2]] <= d[a, b]:  # prefer the chain's previous: ties end the chain
                b = chain[-2]
            if len(chain) > 1 and b == chain[-2]:
                break
            chain.append(b)
        a, b = chain.pop(), chain.pop()
        dist = float(d[a, b])
        merges.append((a, b, dist))
        # Lance-Williams: the merged cluster (kept in row a) is the size-weighted mean of its two rows
        row = (size[a] * d[a] + size[b] * d[b]) / (size[a] + size[b])
        d[a], d[:, a] = row, row
        d[a, a] = np.inf
        d[b], d[:, b] = np.inf, np.inf
        size[a] += size[b]
        alive[b] = False
    # sort by distance (stable) and relabel clusters as SciPy numbers them
    order = sorted(range(len(merges)), key=lambda i: merges[i][2])
    uf = list(range(n))
    cid = {i: i for i in range(n)}
    sizes = {i: 1 for i in range(n)}
    z = np.zeros((n - 1, 4))
    for k, i in enumerate(order):
        a, b, dist = merges[i]
        ra, rb = _root(uf, a), _root(uf, b)
        ca, cb = sorted((cid[ra], cid[rb]))
        z[k] = (ca, cb, dist, sizes[ra] + sizes[rb])
        uf[rb] = ra
        sizes[ra] += sizes[rb]
        cid[ra] = n + k
    return z


def _root(uf: list[int], i: int) -> int:
    """Union-find: the representative of i's set (halving the path as it goes)."""
    while uf[i] != i:
        uf[i] = uf[uf[i]]
        i = uf[i]
    return i


def cut(z: np.ndarray, n: int, threshold: float, inclusive: bool = False) -> np.ndarray:
    """Flat clusters of a dendrogram: points joined by merges at distances below `threshold` (at or below it with
    `inclusive`, as SciPy's fcluster(z, t, "distance")) share a label (0, 1, ... in order of first point)."""
    uf = list(range(n))
    members: list[int] = list(range(n))  # a representative point of each cluster id
    members += [0] * len(z)
    for k, (a, b, dist, _) in enumerate(z):
        members[n + k] = members[int(a)]
        if dist < threshold or (inclusive and dist == threshold):
            uf[_root(uf, members[int(b)])] = _root(uf, members[int(a)])
    roots = np.array([_root(uf, i) for i in range(n)])
    return np.unique(roots, return_inverse=True)[1].ravel().astype(np.int64)
