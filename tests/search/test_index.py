"""Exact search against brute force; FAISS against exact search."""

from __future__ import annotations

import numpy as np
import pytest

from faceprint.search import ExactIndex, FaissIndex, make_index


def test_exact_index_matches_brute_force():
    rng = np.random.default_rng(0)
    g = rng.normal(size=(500, 16)).astype(np.float32)
    q = rng.normal(size=(20, 16)).astype(np.float32)
    d, n = ExactIndex(g).search(q, 5)
    brute = ((q[:, None] - g[None]) ** 2).sum(-1)
    np.testing.assert_array_equal(n, np.argsort(brute, 1)[:, :5])
    np.testing.assert_allclose(d, np.sort(brute, 1)[:, :5], rtol=1e-4)


@pytest.mark.parametrize("distance", ["squared_l2", "l2"])
def test_exact_index_reports_in_the_distance_it_was_given(distance):
    rng = np.random.default_rng(2)
    g = rng.normal(size=(300, 8)).astype(np.float32)
    q = rng.normal(size=(10, 8)).astype(np.float32)
    d, n = ExactIndex(g, distance).search(q, 4)
    brute = ((q[:, None].astype(np.float64) - g[None]) ** 2).sum(-1)
    brute = brute if distance == "squared_l2" else np.sqrt(brute)
    np.testing.assert_array_equal(n, np.argsort(brute, 1)[:, :4])
    np.testing.assert_allclose(d, np.sort(brute, 1)[:, :4], rtol=1e-4)


def test_faiss_index_finds_the_nearest_on_clustered_data():
    pytest.importorskip("faiss")

    rng = np.random.default_rng(1)
    centres = rng.normal(size=(200, 32)).astype(np.float32)
    g = centres[rng.integers(0, 200, 5000)] + 0.05 * rng.normal(size=(5000, 32)).astype(np.float32)
    q = g[rng.choice(5000, 100, replace=False)] + 0.01 * rng.normal(size=(100, 32)).astype(np.float32)
    _, exact = ExactIndex(g).search(q, 1)
    _, approx = FaissIndex(g).search(q, 1)
    assert (exact[:, 0] == approx[:, 0]).mean() >= 0.95
    assert isinstance(make_index(g, "squared_l2", "faiss"), FaissIndex)
    assert isinstance(make_index(g, "squared_l2", "auto"), ExactIndex)  # exact below 10^6 faces
