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


def test_a_library_cut_falls_back_to_the_clustering_cut_with_a_warning():
    from types import SimpleNamespace

    from faceprint.thresholds import library_threshold

    cfg = SimpleNamespace(threshold=1.4, cluster_threshold=1.3, library_threshold=1.1)
    model = SimpleNamespace(config=cfg)
    assert library_threshold(model) == (1.1, "")  # type: ignore[arg-type]
    assert library_threshold(model, 0.9) == (0.9, "")  # type: ignore[arg-type]
    cfg.library_threshold = None
    t, warning = library_threshold(model)  # type: ignore[arg-type]
    assert t == 1.3 and "calibrate" in warning and "--library" in warning
