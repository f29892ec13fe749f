"""Identification metrics and open-set calibration, against plain loops."""

from __future__ import annotations

import numpy as np
import pytest

from faceprint.embeddings import embed_paths, list_images
from faceprint.errors import InputError
from faceprint.evaluation.identification import (
    calibrate_open_set,
    identification_report,
    split_gallery,
)


def test_identification_report(synthetic):
    model = synthetic["model"]
    paths, ids = list_images(synthetic["unseen"])
    es = embed_paths(model, paths, ids, cache_dir=synthetic["cache"], progress=False)
    labels = np.unique(es.identities, return_inverse=True)[1]
    rep = identification_report(es.embeddings, labels, 2, 0.2, model_threshold=model.config.threshold)
    assert rep.n_gallery_identities == 8 and rep.n_impostor_probes == 16 and rep.n_genuine_probes == 48
    assert rep.rank1 > 0.7 and rep.rank5 >= rep.rank1
    assert set(rep.dir_at_far) == {"0.01", "0.1"}


def test_split_gallery_by_hand():
    labels = np.array([0, 0, 0, 1, 1, 2])
    g, gen, imp = split_gallery(labels, 1, 0.0)
    assert sorted(labels[g]) == [0, 1, 2] and sorted(labels[gen]) == [0, 0, 1] and len(imp) == 0


def _open_set_reference(emb, labels, far, repeats, seed, impostor_fraction=0.2, probe_emb=None):
    """Plain loops: nearest gallery face of every probe, pooled over the same splits, threshold from the sorted list."""
    probe = emb if probe_emb is None else probe_emb
    imp, gen_ok = [], []
    for r in range(repeats):
        gallery, genuine, impostor = split_gallery(labels, 1, impostor_fraction, seed + r)
        for probes, out in ((impostor, imp), (genuine, gen_ok)):
            for q in probes:
                d = [float(((probe[q] - emb[g]) ** 2).sum()) for g in gallery]
                j = int(np.argmin(d))
                out.append(d[j] if out is imp else (d[j], labels[gallery[j]] == labels[q]))
    imp = sorted(imp)
    k = int(np.floor(far * len(imp) + 1e-9))
    t = imp[k] if k < len(imp) else float("inf")
    return t, float(np.mean([d < t and ok for d, ok in gen_ok])), imp


@pytest.mark.parametrize("far", [0.0, 0.05, 0.2, 1.0])
def test_open_set_threshold_against_loops(far):
    rng = np.random.default_rng(3)
    labels = np.repeat(np.arange(25), rng.integers(1, 5, 25))
    centres = rng.normal(size=(25, 8))
    emb = centres[labels] + 0.6 * rng.normal(size=(len(labels), 8))
    emb = (emb / np.linalg.norm(emb, axis=1, keepdims=True)).astype(np.float32)
    cal = calibrate_open_set(emb, labels, far=far, repeats=4, seed=7)
    t, dir_, imp = _open_set_reference(emb.astype(np.float64), labels, far, 4, 7)
    # the whole gallery (20 identities: 5 of 25 are strangers) is the last size; smaller ones are drawn
    assert cal.gallery_sizes == [1, 2, 5, 10, 20] and cal.n_impostor_probes[-1] == len(imp) and cal.repeats == 4
    assert cal.n_impostor_probes[0] == 20 * len(imp)  # 20 galleries drawn per split
    t = min(t, *cal.thresholds[:-1])  # the table is made non-increasing
    if np.isinf(t):
        assert np.isinf(cal.thresholds[-1])
    else:
        assert cal.thresholds[-1] == pytest.approx(t, abs=1e-5)
    if t == cal.thresholds[-1] or np.isinf(t):
        assert cal.dir[-1] == pytest.approx(dir_)
    assert all(f <= far + 1e-12 for f in cal.far)
    assert all(a >= b for a, b in zip(cal.thresholds, cal.thresholds[1:]))
    # the largest such threshold: the next impostor distance above it would break the target
    above = [d for d in imp if d > cal.thresholds[-1] + 1e-5]
    if above and t == cal.thresholds[-1]:
        assert np.mean(np.array(imp) < above[0]) > far


def test_open_set_with_probes_embedded_otherwise():
    """Probes seen through another detector than the gallery's: the same splits, the probe rows' own embeddings."""
    rng = np.random.default_rng(5)
    labels = np.repeat(np.arange(25), rng.integers(1, 5, 25))
    emb = rng.normal(size=(25, 8))[labels] + 0.6 * rng.normal(size=(len(labels), 8))
    other = emb + 0.3 * rng.normal(size=emb.shape)
    emb, other = (e / np.linalg.norm(e, axis=1, keepdims=True) for e in (emb, other))
    cal = calibrate_open_set(emb.astype(np.float32), labels, far=0.05, repeats=3, seed=2,
                             probe_emb=other.astype(np.float32))
    t, dir_, imp = _open_set_reference(emb, labels, 0.05, 3, 2, probe_emb=other)
    assert cal.n_impostor_probes[-1] == len(imp)
    t = min(t, *cal.thresholds[:-1])
    assert cal.thresholds[-1] == pytest.approx(t, abs=1e-5)
    if t == cal.thresholds[-1]:
        assert cal.dir[-1] == pytest.approx(dir_)
    same = calibrate_open_set(emb.astype(np.float32), labels, far=0.05, repeats=3, seed=2)
    assert same.thresholds != cal.thresholds
    with pytest.raises(InputError):
        calibrate_open_set(emb, labels, probe_emb=other[:-1])


def test_open_set_threshold_grows_as_the_gallery_shrinks():
    """The nearest of fewer strangers' faces is farther: a 5-person gallery may accept at a larger distance."""
    rng = np.random.default_rng(4)
    labels = np.repeat(np.arange(300), 3)
    emb = rng.normal(size=(300, 16))[labels] + 0.5 * rng.normal(size=(900, 16))
    emb = (emb / np.linalg.norm(emb, axis=1, keepdims=True)).astype(np.float32)
    cal = calibrate_open_set(emb, labels, far=0.01, repeats=3)
    assert cal.gallery_sizes[-1] == 240 and cal.thresholds[0] > cal.thresholds[-1] + 0.1


def test_open_set_threshold_needs_strangers():
    with pytest.raises(ValueError, match="strangers"):
        calibrate_open_set(np.eye(4, dtype=np.float32), np.array([0, 0, 1, 1]), impostor_fraction=0.2)


def test_training_stores_an_open_set_threshold(synthetic):
    """Fitted on the held-out identities with the saved weights: recomputing it from scratch gives the same value."""
    from faceprint.data import FaceDataset

    model = synthetic["model"]
    c = model.config
    assert c.info["open_set_calibration"]["set"] == "held-out identities"
    _, held = FaceDataset.from_folders([str(synthetic["train"])]).split_identities(0.2, 0)
    es = embed_paths(model, held.paths, [str(v) for v in held.labels], cache_dir=synthetic["cache"], progress=False)
    cal = calibrate_open_set(es.embeddings, held.labels, far=0.01, seed=0)
    np.testing.assert_allclose(c.open_set_thresholds, cal.table(), atol=1e-5)
    assert c.open_set_far == 0.01
