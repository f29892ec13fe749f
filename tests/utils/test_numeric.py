"""faceprint's numpy versions of what it took from scikit-learn and SciPy, against scikit-learn and SciPy themselves
(test dependencies, kept as the references): ROC and its area, NMI, ARI, k-means, the silhouette, the assignment, and
average linkage with its cut."""

from __future__ import annotations

import numpy as np
import pytest

from faceprint.utils import numeric

sk_metrics = pytest.importorskip("sklearn.metrics")
pytest.importorskip("scipy")


@pytest.mark.parametrize("seed", range(6))
def test_roc_curve_and_area(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 400))
    positive = rng.random(n) < 0.4
    positive[:2] = [True, False]
    score = rng.normal(size=n) + positive
    if seed % 2:  # many ties
        score = np.round(score, 1)
    for mine, ref in zip(numeric.roc_curve(positive, score), sk_metrics.roc_curve(positive, score)):
        np.testing.assert_allclose(mine, ref)
    assert numeric.roc_auc(positive, score) == pytest.approx(sk_metrics.roc_auc_score(positive, score), abs=1e-12)


@pytest.mark.parametrize("seed", range(6))
def test_nmi_and_ari(seed):
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, int(rng.integers(1, 12)), 300)
    pred = np.where(rng.random(300) < 0.7, truth, rng.integers(0, 15, 300))
    for a, b in [(truth, pred), (truth, truth), (truth, np.zeros(300)), (np.zeros(300), np.zeros(300)),
                 (truth, np.arange(300))]:
        assert numeric.normalized_mutual_info(a, b) == pytest.approx(sk_metrics.normalized_mutual_info_score(a, b),
                                                                    abs=1e-10)
        assert numeric.adjusted_rand(a, b) == pytest.approx(sk_metrics.adjusted_rand_score(a, b), abs=1e-10)


def test_kmeans_finds_what_scikit_learn_finds():
    from sklearn.cluster import KMeans

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(8, 16)) * 4
    x = centres[rng.integers(0, 8, 800)] + rng.normal(size=(800, 16))
    labels, inertia = numeric.kmeans(x, 8, seed=0)
    ref = KMeans(8, n_init=10, random_state=0).fit(x)
    assert inertia == pytest.approx(ref.inertia_, rel=1e-6)  # the same optimum
    assert sk_metrics.adjusted_rand_score(labels, ref.labels_) == pytest.approx(1.0)
    assert numeric.kmeans(x, 1)[0].tolist() == [0] * 800


@pytest.mark.parametrize("seed", range(3))
def test_silhouette(seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(200, 5))
    labels = rng.integers(0, 4, 200)
    labels[0] = 9  # a point alone in its cluster scores 0
    assert numeric.silhouette(x, labels) == pytest.approx(sk_metrics.silhouette_score(x, labels), abs=1e-10)


@pytest.mark.parametrize("shape", [(1, 1), (4, 4), (3, 7), (7, 3), (12, 30), (25, 25)])
def test_assignment(shape):
    from scipy.optimize import linear_sum_assignment

    rng = np.random.default_rng(shape[0] * 100 + shape[1])
    for cost in (rng.random(shape), rng.integers(0, 4, shape).astype(float)):  # the second with many ties
        rows, cols = numeric.assignment(cost)
        ref_rows, ref_cols = linear_sum_assignment(cost)
        assert cost[rows, cols].sum() == pytest.approx(cost[ref_rows, ref_cols].sum())
        assert len(set(cols)) == len(cols) == min(shape) and list(rows) == sorted(rows)


@pytest.mark.parametrize("seed", range(5))
def test_average_linkage_and_its_cut(seed):
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import squareform
    from sklearn.cluster import AgglomerativeClustering

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(int(rng.integers(2, 120)), 8)) + rng.integers(0, 3, (1, 8))
    n = len(x)
    d = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))
    z = numeric.average_linkage(d)
    ref = linkage(squareform(d, checks=False), "average")
    np.testing.assert_allclose(z[:, 2], ref[:, 2], rtol=1e-9)  # the same merge heights
    np.testing.assert_array_equal(z[:, 3], ref[:, 3])
    for t in np.quantile(ref[:, 2], [0.1, 0.5, 0.9]):
        mine = numeric.cut(z, n, t)
        theirs = AgglomerativeClustering(n_clusters=None, metric="precomputed", linkage="average",
                                         distance_threshold=t).fit_predict(d)
        assert sk_metrics.adjusted_rand_score(mine, theirs) == pytest.approx(1.0)
        inclusive = numeric.cut(z, n, t, inclusive=True)
        assert sk_metrics.adjusted_rand_score(inclusive, fcluster(ref, t, "distance")) == pytest.approx(1.0)
    assert numeric.average_linkage(np.zeros((1, 1))).shape == (0, 4)
