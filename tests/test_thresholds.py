"""Which threshold each job uses."""

from __future__ import annotations

from faceprint.thresholds import open_set_threshold


def test_open_set_threshold_lookup_by_hand():
    table = [[1, 1.5], [5, 1.0], [20, 0.6]]
    assert open_set_threshold(table, 1) == (1.5, "")
    assert open_set_threshold(table, 3) == (1.0, "")  # the next calibrated size up: never a looser threshold
    assert open_set_threshold(table, 20) == (0.6, "")
    t, warning = open_set_threshold(table, 500)
    assert t == 0.6 and "500 identities" in warning
