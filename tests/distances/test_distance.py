import numpy as np
import pytest
import torch

from faceprint.distances import get_distance


@pytest.mark.parametrize("name", ["squared_l2", "l2"])
def test_pairwise_and_paired_match_numpy(name):
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(7, 5, generator=g, dtype=torch.float64), torch.randn(4, 5, generator=g, dtype=torch.float64)
    ref = ((x.numpy()[:, None] - y.numpy()[None]) ** 2).sum(-1)
    ref = ref if name == "squared_l2" else np.sqrt(ref)
    d = get_distance(name)
    np.testing.assert_allclose(d.pairwise(x, y).numpy(), ref, rtol=1e-10)
    np.testing.assert_allclose(d.paired(x[:4], y).numpy(), np.diag(ref[:4]), rtol=1e-10)
    assert torch.all(torch.diagonal(get_distance("squared_l2").pairwise(x)) == 0)


def test_unit_sphere_range_and_unknown_name():
    x = torch.nn.functional.normalize(torch.randn(50, 8), dim=1)
    d = get_distance("squared_l2").pairwise(x)
    assert d.min() >= 0 and d.max() <= 4 + 1e-5
    with pytest.raises(ValueError, match="unknown distance"):
        get_distance("cosine")


@pytest.mark.parametrize("name", ["squared_l2", "l2"])
def test_a_distance_knows_its_decision_its_search_unit_and_its_diameter(name):
    d = get_distance(name)
    assert d.same(0.5, 0.6) and not d.same(0.6, 0.6)  # same person strictly below the threshold
    np.testing.assert_array_equal(d.same(np.array([0.1, 0.7]), 0.6), [True, False])
    sq = np.array([0.0, 0.25, 4.0])
    np.testing.assert_allclose(d.from_squared_l2(sq), sq if name == "squared_l2" else np.sqrt(sq))
    np.testing.assert_allclose(d.from_squared_l2(torch.from_numpy(sq)).numpy(), d.from_squared_l2(sq))
    x = torch.nn.functional.normalize(torch.randn(2, 8, dtype=torch.float64), dim=1)
    assert float(d.paired(x[:1], -x[:1])[0]) == pytest.approx(d.diameter)  # antipodes
