"""The gallery on a real PostgreSQL server behaves as the SQLite file does: the same operations, the same answers."""

from __future__ import annotations

import numpy as np
import pytest

from faceprint.applications.identification import GalleryError, GalleryMismatchError, gallery_index
from faceprint.applications.postgres import PostgresGallery, open_gallery_at, redact
from faceprint.search import ExactIndex

D = 8


def _rows(rng, people, per, tag="x"):
    return [(f"p{i}", f"{tag}{i}_{j}.jpg", f"sha-{tag}-{i}-{j}", 0, rng.normal(size=D).astype(np.float32))
            for i in range(people) for j in range(per)]


def _scenario(location) -> dict:
    """Everything a gallery does, with what it answered at each step."""
    rng = np.random.default_rng(0)
    out: dict = {}
    with open_gallery_at(location, "fp", D, "squared_l2") as g:
        rows = _rows(rng, 5, 3)
        out["first"] = g.enroll(rows)
        out["again"] = g.enroll(rows)  # idempotent
        with pytest.raises(GalleryError, match="already enrolled as 'p0', not 'p1'"):
            g.enroll([*_rows(rng, 1, 1, "new"), ("p1", "x", rows[0][2], 0, rows[0][4])])
        out["after_refused"] = len(g)  # the refused call wrote nothing, not even its first row
        with pytest.raises(GalleryError, match="NaN"):
            g.enroll([("p9", "nan.jpg", "sha-nan", 0, np.full(D, np.nan, np.float32))])
        other = open_gallery_at(location, "fp", D, "squared_l2", create=False)  # another client
        before = other.face_ids_digest()
        out["other_sees"] = len(other.matrix()[0])
        g.enroll(_rows(rng, 2, 2, "late"))
        out["other_refreshed"] = len(other.matrix()[0])  # its cached matrix noticed the commit
        assert other.face_ids_digest() != before
        q = rng.normal(size=(4, D)).astype(np.float32)
        emb, owner, names = other.matrix()
        res = other.identify(q, threshold=100.0, k=3)
        d, n = ExactIndex(emb).search(q, 1)
        assert [r.decision for r in res] == [names[owner[i]] for i in n[:, 0]]
        np.testing.assert_allclose([r.distance for r in res], d[:, 0], rtol=1e-5)
        out["decisions"] = [r.decision for r in res]
        out["removed"] = g.remove("p0")
        with pytest.raises(GalleryError, match="no identity 'nobody'"):
            g.remove("nobody")
        out["identities"] = g.identities()
        other.close()
    with pytest.raises(GalleryMismatchError, match="built with model fp"):
        open_gallery_at(location, "another-model", D, "squared_l2")
    return out


def test_postgres_gallery_answers_as_the_sqlite_one(postgres_url, tmp_path):
    on_pg, on_file = _scenario(postgres_url), _scenario(tmp_path / "g.db")
    assert on_pg == on_file
    assert on_pg["first"] == (15, 0) and on_pg["again"] == (0, 15) and on_pg["after_refused"] == 15
    assert on_pg["other_sees"] == 15 and on_pg["other_refreshed"] == 19 and on_pg["removed"] == 5  # p0: 3 faces, then 2 more


def test_no_gallery_in_an_empty_database_or_an_unreachable_server(postgres_url):
    with pytest.raises(GalleryError, match="no faceprint gallery in this database"):
        open_gallery_at(postgres_url, "fp", D, "squared_l2", create=False)
    url = "postgresql://me:s3cret@/nodb?host=/nonexistent&port=1"
    with pytest.raises(GalleryError, match="cannot open the gallery") as e:
        open_gallery_at(url, "fp", D, "squared_l2")
    assert "s3cret" not in str(e.value) and redact(url) == "postgresql://me:***@/nodb?host=/nonexistent&port=1"


def test_faiss_index_kept_for_a_postgres_gallery(postgres_url, tmp_path, monkeypatch):
    pytest.importorskip("faiss")
    monkeypatch.setenv("FACEPRINT_CACHE", str(tmp_path / "cache"))
    rng = np.random.default_rng(1)
    with open_gallery_at(postgres_url, "fp", D, "squared_l2") as g:
        assert isinstance(g, PostgresGallery)
        g.enroll(_rows(rng, 300, 4))
        first = gallery_index(g, "faiss")
        stamp = g.index_path.stat().st_mtime_ns
        assert g.index_path.parent == tmp_path / "cache"
        again = gallery_index(g, "faiss")
        assert g.index_path.stat().st_mtime_ns == stamp  # loaded, not rebuilt
        q = g.matrix()[0][:20]
        np.testing.assert_array_equal(first.search(q, 3)[1], again.search(q, 3)[1])
        g.enroll(_rows(rng, 1, 1, "new"))
        gallery_index(g, "faiss")
        assert g.index_path.stat().st_mtime_ns != stamp


def test_cli_enroll_and_identify_on_postgres_match_sqlite(synthetic, postgres_url, tmp_path, capsys):
    import json

    from faceprint.cli import main

    m = synthetic["model_path"]
    people = sorted(p for p in synthetic["unseen"].iterdir() if p.is_dir())[:4]
    probes = [str(sorted(p.iterdir())[-1]) for p in people]
    answers = []
    for gallery in (postgres_url, str(tmp_path / "g.db")):
        for p in people:
            files = [str(f) for f in sorted(p.iterdir())[:2]]
            assert main(["enroll", "--gallery", gallery, "--name", p.name, *files, "--model", str(m), "--input",
                         "crops", "--no-progress"]) == 0
        capsys.readouterr()
        assert main(["identify", "--gallery", gallery, *probes, "--model", str(m), "--input", "crops", "--json",
                     "--no-progress"]) == 0
        answers.append(json.loads(capsys.readouterr().out))
    assert [a["identity"] for a in answers[0]] == [a["identity"] for a in answers[1]]
    np.testing.assert_allclose([a["distance"] for a in answers[0]], [a["distance"] for a in answers[1]], atol=1e-6)
