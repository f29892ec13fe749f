"""The gallery: enrollment, identification, strangers, its model check and its kept FAISS index."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from faceprint.applications.identification import (
    Gallery,
    GalleryError,
    enroll_rows,
    gallery_index,
)
from faceprint.embeddings import embed_paths, list_images
from faceprint.search import FaissIndex


def test_gallery_enroll_identify_and_strangers(synthetic, tmp_path):
    model = synthetic["model"]
    paths, ids = list_images(synthetic["unseen"])
    es = embed_paths(model, paths, ids, cache_dir=synthetic["cache"], progress=False)
    ids_arr = np.array(es.identities)
    known = [n for n in sorted(set(es.identities)) if n != "id_039"]  # id_039 stays a stranger
    enroll = [i for i, n in enumerate(es.identities) if n in known and es.paths[i].endswith(("000.jpg", "001.jpg"))]
    db = tmp_path / "g.db"
    with Gallery(db, model.fingerprint, 128, "squared_l2") as g:
        rows = enroll_rows(ids_arr[enroll], [es.paths[i] for i in enroll], es.embeddings[enroll])
        assert g.enroll(rows) == (len(enroll), 0)
        assert g.enroll(rows) == (0, len(enroll))  # idempotent
        with pytest.raises(GalleryError, match="already enrolled"):
            g.enroll([(known[1], rows[0][1], rows[0][2], 0, rows[0][4])])
        assert len(g) == len(enroll)  # the failed call wrote nothing
        probes = [i for i, p in enumerate(es.paths) if p.endswith("005.jpg")]
        res = g.identify(es.embeddings[probes], threshold=model.config.threshold, k=3)
        right = sum(r.decision == ids_arr[i] for r, i in zip(res, probes) if ids_arr[i] in known)
        assert right >= 7  # of 9 known people
        stranger = [r for r, i in zip(res, probes) if ids_arr[i] == "id_039"][0]
        assert stranger.decision == "unknown" and stranger.distance >= model.config.threshold
        assert all(len(r.candidates) == 3 for r in res)
        assert g.remove(known[0]) == 2 and len(g) == len(enroll) - 2
    with pytest.raises(GalleryError, match="built with model"):
        Gallery(db, "another-model", 128, "squared_l2")
    (tmp_path / "junk.db").write_text("not sqlite at all, just text" * 100)
    with pytest.raises(GalleryError, match="not a faceprint gallery"):
        Gallery(tmp_path / "junk.db", model.fingerprint, 128, "squared_l2")
    con = sqlite3.connect(db)
    assert con.execute("SELECT value FROM meta WHERE key='model_fingerprint'").fetchone()[0] == model.fingerprint


def test_faiss_index_kept_beside_the_gallery_and_rebuilt_on_change(tmp_path):
    """`--index faiss`: built once and kept as G.db.faiss; loaded (same answers) while the gallery is unchanged;
    rebuilt after an enrollment or a removal."""
    pytest.importorskip("faiss")

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
