"""Clustering faces: agglomerative with a distance threshold (the default: a user rarely knows k) or k-means.

Agglomerative clustering uses average linkage on the model's own distance, so its threshold is in the same units
as the verification threshold: by default it is that threshold, i.e. a cluster's members are on average "the
same person" to each other.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw

from faceprint.distances import Distance, get_distance
from faceprint.errors import InputError

METHODS = ("agglomerative", "kmeans")
# up to here average linkage runs on the N x N distances (scikit-learn; 1.6 GB at this size), above on the k-NN graph
# with exact cluster distances (applications/graph.py: O(N k) memory)
AGGLOMERATIVE_MAX = 20_000
UNCLUSTERED = -1


@dataclass
class ClusterResult:
    labels: np.ndarray  # cluster per item, UNCLUSTERED (-1) for items in clusters below min_size
    method: str
    n_clusters: int
    parameter: float  # the threshold (agglomerative) or k (k-means)


def choose_k(emb: np.ndarray, k_max: int | None = None, seed: int = 0) -> int:
    """k by the best silhouette score over k = 2 .. k_max (k-means has no threshold to stop at)."""
    from faceprint.utils.numeric import kmeans as lloyd
    from faceprint.utils.numeric import silhouette

    n = len(emb)
    k_max = min(k_max or max(2, int(np.sqrt(n) * 2)), n - 1)
    if k_max < 2:
        return 1
    best, best_k = -2.0, 2
    for k in sorted(set(np.unique(np.linspace(2, k_max, num=min(k_max - 1, 25)).astype(int)))):
        labels = lloyd(emb, k, seed=seed, restarts=3)[0]
        if not 1 < len(np.unique(labels)) < n:
            continue
        s = silhouette(emb, labels, sample=min(n, 5000), seed=seed)
        if s > best:
            best, best_k = s, int(k)
    return best_k


def cluster(
    emb: np.ndarray,
    method: str = "agglomerative",
    threshold: float | None = None,
    k: int | None = None,
    distance: str | Distance = "squared_l2",
    min_size: int = 1,
    seed: int = 0,
    groups: Sequence | np.ndarray | None = None,
) -> ClusterResult:
    """Cluster embeddings; clusters smaller than `min_size` go to the unclustered bucket (label -1).

    `groups`: one key per face (e.g. its photo); faces with the same key are never put in one cluster (one person
    is in a photo once). Agglomerative: two clusters are never merged while that would join such faces. k-means:
    each photo's faces go to distinct clusters, the assignment of least total distance to the centroids."""
    if method not in METHODS:
        raise InputError(f"method must be one of {METHODS}, got {method!r}")
    n = len(emb)
    if n == 0:
        raise InputError("nothing to cluster")
    if groups is not None and len(groups) != n:
        raise InputError(f"{len(groups)} groups for {n} faces")
    links = cannot_link_pairs(groups) if groups is not None else np.zeros((0, 2), np.int64)
    if n == 1:
        labels, param = np.zeros(1, dtype=np.int64), float(threshold or k or 0)
    elif method == "agglomerative":
        if threshold is None:
            raise InputError("agglomerative clustering needs a distance threshold")
        if n > AGGLOMERATIVE_MAX:
            from faceprint.applications.graph import average_linkage

            labels = average_linkage(emb, threshold, distance, cannot_link=links)
        else:
            from faceprint.utils.numeric import average_linkage, cut

            d = get_distance(distance).pairwise(np.ascontiguousarray(emb, np.float32))
            if len(links):
                # A cannot-link pair gets a distance so large that any average over clusters that contains it stays
                # above every real distance and the threshold: such clusters are never merged below the cut.
                far = (float(d.max()) + float(threshold) + 1.0) * n * n
                d[links[:, 0], links[:, 1]] = d[links[:, 1], links[:, 0]] = far
            labels = cut(average_linkage(d), n, float(threshold))
        param = float(threshold)
    else:
        k = k or choose_k(emb, seed=seed)
        labels, param = kmeans(emb, min(k, n), seed), float(k)
        if len(links):
            labels = assign_apart(emb, labels, groups, distance)
    labels = _renumber_by_size(labels, min_size)
    return ClusterResult(labels, method, int(labels.max() + 1) if (labels >= 0).any() else 0, param)


def cannot_link_pairs(groups: Sequence | np.ndarray) -> np.ndarray:
    """(P, 2) every pair of faces that share a group key."""
    _, codes = np.unique(np.asarray(groups), return_inverse=True)
    codes = codes.ravel()
    order = np.argsort(codes, kind="stable")
    bounds = np.flatnonzero(np.diff(codes[order])) + 1
    pairs = [np.array([(m[i], m[j]) for i in range(len(m)) for j in range(i + 1, len(m))], np.int64)
             for m in np.split(order, bounds) if len(m) > 1]
    return np.concatenate(pairs) if pairs else np.zeros((0, 2), np.int64)


def assign_apart(emb: np.ndarray, labels: np.ndarray, groups: Sequence | np.ndarray,
                 distance: str | Distance = "squared_l2") -> np.ndarray:
    """k-means labels with each group's faces in distinct clusters: for every group whose faces share a cluster,
    the assignment to distinct centroids of least total distance (Hungarian). A group with more faces than
    clusters keeps its extra faces in their own new clusters."""
    from faceprint.utils.numeric import assignment

    labels = np.asarray(labels, np.int64).copy()
    present = np.unique(labels)
    k = int(labels.max()) + 1
    centroids = np.stack([emb[labels == c].mean(0) for c in present]).astype(np.float32)
    dist = get_distance(distance)
    _, codes = np.unique(np.asarray(groups), return_inverse=True)
    codes = codes.ravel()
    for g in np.unique(codes):
        members = np.flatnonzero(codes == g)
        if len(members) < 2 or len(np.unique(labels[members])) == len(members):
            continue
        cost = dist.pairwise(np.ascontiguousarray(emb[members], np.float32),
                             np.ascontiguousarray(centroids, np.float32)).astype(np.float64)
        rows, cols = assignment(cost)
        labels[members] = -1
        labels[members[rows]] = present[cols]
        for i in members[labels[members] < 0]:  # more faces than clusters
            labels[i] = k
            k += 1
    return labels


def _renumber_by_size(labels: np.ndarray, min_size: int) -> np.ndarray:
    """Largest cluster first (0, 1, ...; ties by label); clusters under min_size become UNCLUSTERED."""
    ids, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    order = np.argsort(-counts, kind="stable")
    rank = np.empty(len(ids), np.int64)
    rank[order] = np.arange(len(ids))
    rank[counts < min_size] = UNCLUSTERED  # the ranks of the kept clusters are 0..m-1: big ones come first
    return rank[inverse.ravel()]


def kmeans(emb: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """k-means labels: scikit-learn's (10 restarts) up to 50,000 faces, FAISS's above when installed (memory O(N k)
    either way; FAISS is many times faster there)."""
    from faceprint.search.index import faiss_available

    if len(emb) > 50_000 and faiss_available():
        import faiss

        x = np.ascontiguousarray(emb, np.float32)
        km = faiss.Kmeans(x.shape[1], k, niter=20, nredo=1, seed=seed, max_points_per_centroid=256)
        km.train(x)
        return km.index.search(x, 1)[1][:, 0].astype(np.int64)
    from faceprint.utils.numeric import kmeans as lloyd

    return lloyd(emb, k, seed=seed, restarts=10)[0]


def contact_sheet(paths: list[str], out: Path, thumb: int = 96, columns: int = 8, title: str = "") -> None:
    """A PNG grid of up to 64 thumbnails: a cluster is judged faster by eye than from a CSV."""
    from faceprint.data import ImageReadError, read_image

    paths = paths[:64]
    rows = max(1, -(-len(paths) // columns))
    head = 18 if title else 0
    sheet = Image.new("RGB", (columns * thumb, rows * thumb + head), (255, 255, 255))
    if title:
        ImageDraw.Draw(sheet).text((4, 3), title, fill=(0, 0, 0))
    for i, p in enumerate(paths):
        try:
            im = Image.fromarray(read_image(p))
        except ImageReadError:
            continue
        im.thumbnail((thumb, thumb))
        sheet.paste(im, ((i % columns) * thumb, head + (i // columns) * thumb))
    sheet.save(out)


def write_clusters(result: ClusterResult, paths: list[str], out: str | Path, copy: bool = False,
                   sheets: bool = True) -> Path:
    """clusters.csv and clusters.json (image -> cluster), a folder per cluster (symlinks, or copies), and a
    contact sheet per cluster. Returns the output folder."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    names = {c: ("unclustered" if c == UNCLUSTERED else f"cluster_{c:04d}") for c in np.unique(result.labels)}
    with open(out / "clusters.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "cluster"])
        w.writerows((p, names[int(c)]) for p, c in zip(paths, result.labels))
    groups: dict[str, list[str]] = {}
    for p, c in zip(paths, result.labels):
        groups.setdefault(names[int(c)], []).append(p)
    (out / "clusters.json").write_text(json.dumps(
        {"method": result.method, "parameter": result.parameter, "n_clusters": result.n_clusters,
         "clusters": groups}, indent=1))
    for name, members in groups.items():
        folder = out / name
        folder.mkdir(exist_ok=True)
        for i, p in enumerate(members):
            dst = folder / f"{i:04d}_{Path(p).name}"
            if dst.exists() or dst.is_symlink():
                dst.unlink()
            if copy:
                shutil.copy2(p, dst)
            else:
                os.symlink(os.path.abspath(p), dst)
        if sheets:
            contact_sheet(members, out / f"{name}.png", title=f"{name}: {len(members)} faces")
    return out


@dataclass
class ClusterCalibration:
    threshold: float
    sizes: list[int]  # folder sizes (identities) the threshold was fitted over
    draws: int
    f1_by_size: dict[int, float]  # mean pairwise F1 at the threshold
    cluster_ratio_by_size: dict[int, float]  # mean (clusters found / identities) at the threshold

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        rows = ", ".join(f"{n} people: F1 {self.f1_by_size[n]:.3f}, clusters/people {self.cluster_ratio_by_size[n]:.2f}"
                         for n in self.sizes)
        return f"clustering threshold {self.threshold:.4f} ({rows}; {self.draws} folders per size)"


def calibrate_clustering(
    emb: np.ndarray,
    labels: np.ndarray,
    distance: str = "squared_l2",
    sizes: tuple[int, ...] = (10, 30, 100),
    draws: int = 10,
    seed: int = 0,
) -> ClusterCalibration:
    """The average-linkage threshold with the best mean pairwise F1 over random folders of `sizes` identities.

    Each folder is whole identities drawn from `labels` (identities the model never trained on, for an honest
    figure); every size counts equally, so the default holds for a handful of people and for a hundred.
    """
    from faceprint.evaluation.clustering import pairwise_scores
    from faceprint.utils.numeric import average_linkage, cut

    labels = np.asarray(labels)
    ids = np.unique(labels)
    sizes = tuple(n for n in sizes if n <= len(ids)) or (len(ids),)
    if len(ids) < 2:
        raise InputError("clustering calibration needs at least 2 identities")
    rng = np.random.default_rng(seed)
    dist = get_distance(distance)
    grid = None
    trees = []  # (size, linkage, truth)
    for n in sizes:
        for _ in range(draws):
            chosen = np.isin(labels, rng.choice(ids, n, replace=False))
            d = dist.pairwise(np.ascontiguousarray(emb[chosen], np.float32)).astype(np.float64)
            np.fill_diagonal(d, 0)
            z = average_linkage(np.maximum(d, d.T))
            trees.append((n, z, labels[chosen]))
            grid = z[:, 2] if grid is None else np.concatenate([grid, z[:, 2]])
    candidates = np.unique(np.quantile(grid, np.linspace(0.01, 0.99, 197)))  # type: ignore[arg-type]
    scores = np.zeros((len(candidates), len(trees)))
    ratios = np.zeros_like(scores)
    for j, (n, z, truth) in enumerate(trees):
        for i, t in enumerate(candidates):
            pred = cut(z, len(truth), t, inclusive=True)
            scores[i, j] = pairwise_scores(truth, pred)[2]
            ratios[i, j] = len(np.unique(pred)) / n
    per_size = np.array([[scores[:, j] for j, tr in enumerate(trees) if tr[0] == n] for n in sizes])  # (S, D, T)
    best = int(per_size.mean(axis=1).mean(axis=0).argmax())
    by = {n: [j for j, tr in enumerate(trees) if tr[0] == n] for n in sizes}
    return ClusterCalibration(float(candidates[best]), list(sizes), draws,
                              {n: float(scores[best, by[n]].mean()) for n in sizes},
                              {n: float(ratios[best, by[n]].mean()) for n in sizes})
