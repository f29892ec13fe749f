"""Verification, recognition (gallery), clustering and bulk embeddings with a small trained model."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

import faceprint
from faceprint.applications.clustering import cluster, write_clusters
from faceprint.applications.recognition import ExactIndex, Gallery, GalleryError, enroll_rows
from faceprint.embeddings import EmbeddingSet, embed_paths, list_images
from faceprint.evaluation.clustering import clustering_report
from faceprint.evaluation.identification import (
    calibrate_open_set,
    identification_report,
    open_set_threshold,
    split_gallery,
)


def test_verify_uses_the_stored_threshold(synthetic):
    model = synthetic["model"]
    assert model.config.threshold is not None  # set from the validation pairs at training time
    a, b = sorted((synthetic["unseen"] / "id_035").iterdir())[:2]
    c = sorted((synthetic["unseen"] / "id_036").iterdir())[0]
    same, diff = faceprint.verify(model, a, b), faceprint.verify(model, a, c)
    assert same.distance < diff.distance
    assert same.threshold == model.config.threshold
    assert faceprint.verify(model, a, c, threshold=4.1).same  # every distance on the sphere is below 4.1


def test_embeddings_file_round_trip(synthetic, tmp_path):
    model = synthetic["model"]
    paths, ids = list_images(synthetic["unseen"])
    es = embed_paths(model, paths, ids, cache_dir=tmp_path, progress=False)
    es.save(tmp_path / "e.npz")
    back = EmbeddingSet.load(tmp_path / "e.npz")
    np.testing.assert_array_equal(back.embeddings, es.embeddings)
    assert back.identities[0] == "id_030" and back.fingerprint == model.fingerprint
    with pytest.raises(ValueError, match="not a faceprint embeddings file"):
        (tmp_path / "bad.npz").write_text("x")
        EmbeddingSet.load(tmp_path / "bad.npz")


def test_gallery_enroll_identify_and_strangers(synthetic, tmp_path):
    model = synthetic["model"]
    paths, ids = list_images(synthetic["unseen"])
    es = embed_paths(model, paths, ids, cache_dir=synthetic["cache"], progress=False)
    ids_arr = np.array(es.identities)
    known = [n for n in sorted(set(es.identities)) if n != "id_039"]  # id_039 stays a stranger
    enrol = [i for i, n in enumerate(es.identities) if n in known and es.paths[i].endswith(("000.jpg", "001.jpg"))]
    db = tmp_path / "g.db"
    with Gallery(db, model.fingerprint, 128, "squared_l2") as g:
        rows = enroll_rows(ids_arr[enrol], [es.paths[i] for i in enrol], es.embeddings[enrol])
        assert g.enroll(rows) == (len(enrol), 0)
        assert g.enroll(rows) == (0, len(enrol))  # idempotent
        with pytest.raises(GalleryError, match="already enrolled"):
            g.enroll([(known[1], rows[0][1], rows[0][2], 0, rows[0][4])])
        assert len(g) == len(enrol)  # the failed call wrote nothing
        probes = [i for i, p in enumerate(es.paths) if p.endswith("005.jpg")]
        res = g.identify(es.embeddings[probes], threshold=model.config.threshold, k=3)
        right = sum(r.decision == ids_arr[i] for r, i in zip(res, probes) if ids_arr[i] in known)
        assert right >= 7  # of 9 known people
        stranger = [r for r, i in zip(res, probes) if ids_arr[i] == "id_039"][0]
        assert stranger.decision == "unknown" and stranger.distance >= model.config.threshold
        assert all(len(r.candidates) == 3 for r in res)
        assert g.remove(known[0]) == 2 and len(g) == len(enrol) - 2
    with pytest.raises(GalleryError, match="built with model"):
        Gallery(db, "another-model", 128, "squared_l2")
    (tmp_path / "junk.db").write_text("not sqlite at all, just text" * 100)
    with pytest.raises(GalleryError, match="not a faceprint gallery"):
        Gallery(tmp_path / "junk.db", model.fingerprint, 128, "squared_l2")
    con = sqlite3.connect(db)
    assert con.execute("SELECT value FROM meta WHERE key='model_fingerprint'").fetchone()[0] == model.fingerprint


def test_exact_index_matches_brute_force():
    rng = np.random.default_rng(0)
    g = rng.normal(size=(500, 16)).astype(np.float32)
    q = rng.normal(size=(20, 16)).astype(np.float32)
    d, n = ExactIndex(g).search(q, 5)
    brute = ((q[:, None] - g[None]) ** 2).sum(-1)
    np.testing.assert_array_equal(n, np.argsort(brute, 1)[:, :5])
    np.testing.assert_allclose(d, np.sort(brute, 1)[:, :5], rtol=1e-4)


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


def test_clustering_recovers_identities(synthetic, tmp_path):
    model = synthetic["model"]
    paths, ids = list_images(synthetic["unseen"])
    es = embed_paths(model, paths, ids, cache_dir=synthetic["cache"], progress=False)
    truth = np.unique(es.identities, return_inverse=True)[1]
    res = cluster(es.embeddings, "agglomerative", threshold=model.config.threshold)
    rep = clustering_report(truth, res.labels)
    assert rep.nmi > 0.7 and rep.pairwise_f1 > 0.5
    km = cluster(es.embeddings, "kmeans", k=10)
    assert km.n_clusters == 10
    assert 2 <= cluster(es.embeddings, "kmeans").n_clusters <= 20  # k chosen by silhouette
    out = write_clusters(res, es.paths, tmp_path / "clusters")
    assert (out / "clusters.csv").exists() and (out / "cluster_0000.png").exists()
    assert len(list((out / "cluster_0000").iterdir())) == int((res.labels == 0).sum())


def test_clustering_report_by_hand():
    truth = np.array([0, 0, 0, 1, 1, 2])
    pred = np.array([0, 0, 1, 1, 1, -1])
    rep = clustering_report(truth, pred)
    # pairs together: {0,1} (right), {2,3},{2,4},{3,4} (one right) -> precision 2/4; same-identity pairs: 3 + 1 = 4,
    # of them together: {0,1} and {3,4} -> recall 2/4
    assert rep.pairwise_precision == 0.5 and rep.pairwise_recall == 0.5 and rep.n_unclustered == 1
    assert rep.purity == pytest.approx(5 / 6)  # cluster 0: 2 of id 0; cluster 1: 2 of id 1; singleton: 1
    small = cluster(np.eye(4, dtype=np.float32)[[0, 0, 0, 1]], "agglomerative", threshold=0.5, min_size=2)
    assert small.labels.tolist() == [0, 0, 0, -1]


def test_faiss_index_finds_the_nearest_on_clustered_data():
    pytest.importorskip("faiss")
    from faceprint.applications.recognition import FaissIndex, make_index

    rng = np.random.default_rng(1)
    centres = rng.normal(size=(200, 32)).astype(np.float32)
    g = centres[rng.integers(0, 200, 5000)] + 0.05 * rng.normal(size=(5000, 32)).astype(np.float32)
    q = g[rng.choice(5000, 100, replace=False)] + 0.01 * rng.normal(size=(100, 32)).astype(np.float32)
    _, exact = ExactIndex(g).search(q, 1)
    _, approx = FaissIndex(g).search(q, 1)
    assert (exact[:, 0] == approx[:, 0]).mean() >= 0.95
    assert isinstance(make_index(g, "squared_l2", "faiss"), FaissIndex)
    assert isinstance(make_index(g, "squared_l2", "auto"), ExactIndex)  # exact below 10^6 faces


def _open_set_reference(emb, labels, far, repeats, seed, impostor_fraction=0.2):
    """Plain loops: nearest gallery face of every probe, pooled over the same splits, threshold from the sorted list."""
    imp, gen_ok = [], []
    for r in range(repeats):
        gallery, genuine, impostor = split_gallery(labels, 1, impostor_fraction, seed + r)
        for probes, out in ((impostor, imp), (genuine, gen_ok)):
            for q in probes:
                d = [float(((emb[q] - emb[g]) ** 2).sum()) for g in gallery]
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


def test_open_set_threshold_grows_as_the_gallery_shrinks():
    """The nearest of fewer strangers' faces is farther: a 5-person gallery may accept at a larger distance."""
    rng = np.random.default_rng(4)
    labels = np.repeat(np.arange(300), 3)
    emb = rng.normal(size=(300, 16))[labels] + 0.5 * rng.normal(size=(900, 16))
    emb = (emb / np.linalg.norm(emb, axis=1, keepdims=True)).astype(np.float32)
    cal = calibrate_open_set(emb, labels, far=0.01, repeats=3)
    assert cal.gallery_sizes[-1] == 240 and cal.thresholds[0] > cal.thresholds[-1] + 0.1


def test_open_set_threshold_lookup_by_hand():
    table = [[1, 1.5], [5, 1.0], [20, 0.6]]
    assert open_set_threshold(table, 1) == (1.5, "")
    assert open_set_threshold(table, 3) == (1.0, "")  # the next calibrated size up: never a looser threshold
    assert open_set_threshold(table, 20) == (0.6, "")
    t, warning = open_set_threshold(table, 500)
    assert t == 0.6 and "500 identities" in warning


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


def _blobs(rng, identities, per, spread, d=16):
    centres = rng.normal(size=(identities, d))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    x = np.repeat(centres, per, 0) + spread * rng.normal(size=(identities * per, d))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32), np.repeat(np.arange(identities), per)


def test_clustering_calibration_against_a_grid_search():
    """The fitted cut has the best mean pairwise F1 over its folders, checked by clustering each folder with the
    library's own `cluster` (scikit-learn) at every candidate of a coarse grid."""
    from faceprint.applications.clustering import calibrate_clustering

    rng = np.random.default_rng(0)
    emb, labels = _blobs(rng, 40, 5, 0.12)
    cal = calibrate_clustering(emb, labels, sizes=(5, 20), draws=4, seed=1)
    assert set(cal.f1_by_size) == {5, 20} and all(0.9 <= f <= 1 for f in cal.f1_by_size.values())
    assert all(0.8 <= r <= 1.2 for r in cal.cluster_ratio_by_size.values())
    # Re-draw the same folders and score the fitted cut and a grid with the library's clustering.
    draw = np.random.default_rng(1)
    folders = [np.isin(labels, draw.choice(40, n, replace=False)) for n in (5, 20) for _ in range(4)]

    def mean_f1(t: float) -> float:
        return float(np.mean([clustering_report(labels[m], cluster(emb[m], threshold=t).labels).pairwise_f1
                              for m in folders]))

    best_grid = max(mean_f1(t) for t in np.linspace(0.05, 2.0, 40))
    assert mean_f1(cal.threshold) >= best_grid - 0.01
    # The verification-style cut (half the typical impostor distance) is worse here: too strict merges nothing.
    assert mean_f1(cal.threshold) > mean_f1(0.01)


def test_faiss_index_kept_beside_the_gallery_and_rebuilt_on_change(tmp_path):
    """`--index faiss`: built once and kept as G.db.faiss; loaded (same answers) while the gallery is unchanged;
    rebuilt after an enrolment or a removal."""
    pytest.importorskip("faiss")
    from faceprint.applications.recognition import FaissIndex, Gallery, gallery_index

    rng = np.random.default_rng(0)
    emb = rng.normal(size=(3000, 32)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    g = Gallery(tmp_path / "g.db", "fp", 32, "squared_l2")
    g.enroll([(f"p{i // 30}", f"{i}.jpg", f"sha{i}", 0, e) for i, e in enumerate(emb)])
    first = gallery_index(g, "faiss")
    path = tmp_path / "g.db.faiss"
    stamp = path.stat().st_mtime_ns
    again = gallery_index(g, "faiss")
    assert path.stat().st_mtime_ns == stamp and isinstance(again, FaissIndex)  # loaded, not rebuilt
    q = emb[:50] + 0.01 * rng.normal(size=(50, 32)).astype(np.float32)
    np.testing.assert_array_equal(first.search(q, 5)[1], again.search(q, 5)[1])
    assert (again.search(q, 1)[1][:, 0] == np.arange(50)).mean() > 0.9  # it finds the faces (recall@1)
    g.enroll([("new", "new.jpg", "sha-new", 0, emb[0])])
    gallery_index(g, "faiss")
    assert path.stat().st_mtime_ns != stamp  # the gallery changed: rebuilt
    stamp = path.stat().st_mtime_ns
    g.remove("new")
    gallery_index(g, "faiss")
    assert path.stat().st_mtime_ns != stamp
    g.close()
