"""The web page's routes without a browser: the page and its files (public, no data, a strict CSP), thumbnails,
and piles (sort photos into people: faces of one photo never together, a dropped face never offered again for
that name), on SQLite through the real server and on PostgreSQL through the engine."""

from __future__ import annotations

import re

import numpy as np
import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from faceprint.demo import PHOTOS, STRANGER  # noqa: E402
from faceprint.service.routes.page import STATIC  # noqa: E402
from faceprint.service.piles import PileFace, offered_name, sort_pile  # noqa: E402
from tests.service.server import KEY, _serve, _stop  # noqa: E402

H = {"X-API-Key": KEY}
PEOPLE = sorted(p.name for p in PHOTOS.iterdir() if p.is_dir())


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    proc, url = _serve(tmp_path_factory.mktemp("piles") / "g.db")
    yield url
    _stop(proc)


def _files(paths) -> list:  # type: ignore[no-untyped-def]
    return [("images", (p.name, p.read_bytes(), "image/jpeg")) for p in paths]


def test_offered_name_is_a_majority_of_the_cluster():
    assert offered_name(["Ann", "Ann", None]) == "Ann"
    assert offered_name(["Ann", None, None]) is None  # one of three: not offered
    assert offered_name(["Ann", "Bob"]) == "Ann"  # a tie: the first name alphabetically, half of the cluster
    assert offered_name([None, None]) is None


def test_a_face_dropped_from_a_name_is_never_offered_for_it_again():
    faces = [PileFace(i, f"p{i}.jpg", f"s{i}", 0, [0, 0, 1, 1], np.zeros(4), None, b"") for i in range(4)]
    faces[2].refused.add("Ann")
    out = sort_pile(np.array([0, 0, 0, 1]), faces, ["Ann", "Ann", "Ann", None])
    assert out[0] == {"offer": "Ann", "faces": [{"id": 0, "photo": "p0.jpg", "box": [0, 0, 1, 1], "name": "Ann"},
                                                {"id": 1, "photo": "p1.jpg", "box": [0, 0, 1, 1], "name": "Ann"}]}
    # face 2 is recognised as Ann but was dropped from Ann: it is shown on its own, unlabelled
    assert {"offer": None, "faces": [{"id": 2, "photo": "p2.jpg", "box": [0, 0, 1, 1], "name": None}]} in out
    assert sorted(f["id"] for c in out for f in c["faces"]) == [0, 1, 2, 3]


def test_the_page_is_public_holds_no_data_and_forbids_inline_script(server):
    r = httpx.get(f"{server}/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "access-control-allow-origin" not in r.headers
    page = r.text
    # every script is a file of the service: none inline, none from elsewhere, no inline handlers or styles
    assert re.findall(r"<script[^>]*>", page) == ['<script src="/static/app.js" defer>']
    assert not re.search(r"\son[a-z]+=", page) and "style=" not in page and "http" not in page.replace(
        "http-equiv", "")
    for name in STATIC:
        assert httpx.get(f"{server}/static/{name}").status_code == 200
    for bad in ("/static/../app.py", "/static/app.py", "/static/%2e%2e%2fapp.py", "/static/"):
        assert httpx.get(f"{server}{bad}").status_code == 404, bad
    # the data routes the page calls need the key
    for method, path in [("GET", "/limits"), ("POST", "/piles"), ("POST", "/piles/x/photos"),
                         ("GET", "/piles/x/clusters"), ("GET", "/piles/x/faces/0/thumbnail"),
                         ("POST", "/piles/x/enroll"), ("DELETE", "/piles/x"), ("GET", "/people/x/thumbnail")]:
        assert httpx.request(method, f"{server}{path}").status_code == 401, path
    r = httpx.post(f"{server}/enroll", headers=H, data={"name": "Laura_Bush"},
                   files=_files(sorted((PHOTOS / "Laura_Bush").glob("*.jpg"))[:1]), timeout=120)
    assert r.status_code == 200
    assert httpx.get(f"{server}/").text == page and "Laura" not in page  # the page is the same for everyone
    thumb = httpx.get(f"{server}/people/Laura_Bush/thumbnail", headers=H)
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    assert thumb.headers["cache-control"] == "no-store"
    from io import BytesIO

    from PIL import Image

    assert Image.open(BytesIO(thumb.content)).size == (160, 160)
    assert httpx.get(f"{server}/people/Nobody/thumbnail", headers=H).status_code == 404
    limits = httpx.get(f"{server}/limits", headers=H).json()
    assert limits["max_files"] == 16 and limits["thumbnails"] is True


def test_a_pile_is_sorted_into_people_and_enrolled_by_cluster(server):
    pile = httpx.post(f"{server}/piles", headers=H).json()["pile"]
    photos = sorted(PHOTOS.glob("*/*.jpg"))
    assert len(photos) > 16  # more than one request may carry: sent in two
    added = [httpx.post(f"{server}/piles/{pile}/photos", headers=H, files=_files(part), timeout=300).json()
             for part in (photos[:16], photos[16:])]
    assert sum(a["photos"] for a in added) == len(photos) and added[-1]["total_faces"] >= len(photos)
    r = httpx.post(f"{server}/piles/{pile}/photos", headers=H, files=_files(photos[:17]), timeout=60)
    assert r.status_code == 413 and "at most 16" in r.json()["detail"]
    again = httpx.post(f"{server}/piles/{pile}/photos", headers=H, timeout=60,
                       files=_files(photos[:1]) + [("images", ("notes.jpg", b"not an image", "image/jpeg"))]).json()
    assert again["faces"] == 0 and again["total_faces"] == added[-1]["total_faces"]
    assert again["skipped"][0] == f"{photos[0].name}: already in this pile" and "notes.jpg" in again["skipped"][1]

    clusters = httpx.get(f"{server}/piles/{pile}/clusters", headers=H, timeout=120).json()["clusters"]
    sizes = [len(c["faces"]) for c in clusters]
    assert sizes == sorted(sizes, reverse=True)
    for c in clusters:  # two faces of one photo are never in one cluster
        photos_of = [f["photo"] for f in c["faces"]]
        assert len(photos_of) == len(set(photos_of)), photos_of
    for person in PEOPLE:  # each person's photos gather in one cluster of theirs
        best = max(clusters, key=lambda c: sum(f["photo"].startswith(person) for f in c["faces"]))
        mine = [f for f in best["faces"] if f["photo"].startswith(person)]
        assert len(mine) >= min(3, len(list((PHOTOS / person).glob("*.jpg")))), (person, best)
        assert len(mine) == len(best["faces"]), best

    # enroll Hugo Chavez's cluster, leaving one of his faces out
    hugo = max(clusters, key=lambda c: sum(f["photo"].startswith("Hugo_Chavez") for f in c["faces"]))
    keep, left_out = [f["id"] for f in hugo["faces"][:-1]], hugo["faces"][-1]["id"]
    r = httpx.post(f"{server}/piles/{pile}/enroll", headers=H,
                   json={"name": "Hugo Chavez", "faces": keep, "dropped": [left_out]}, timeout=120).json()
    assert r["added"] == len(keep) and r["skipped"] == []
    people = {p["name"]: p["faces"] for p in httpx.get(f"{server}/people", headers=H).json()["people"]}
    assert people["Hugo Chavez"] == len(keep)

    after = httpx.get(f"{server}/piles/{pile}/clusters", headers=H, timeout=120).json()
    ids = [f["id"] for c in after["clusters"] for f in c["faces"]]
    assert not set(keep) & set(ids) and left_out in ids and after["enrolled_faces"] == len(keep)
    mine = next(c for c in after["clusters"] if any(f["id"] == left_out for f in c["faces"]))
    assert mine["offer"] != "Hugo Chavez" and next(f for f in mine["faces"] if f["id"] == left_out)["name"] is None
    again = httpx.post(f"{server}/piles/{pile}/enroll", headers=H,
                       json={"name": "Hugo Chavez", "faces": [left_out]}, timeout=60).json()
    assert again["added"] == 0 and "dropped from 'Hugo Chavez' before" in again["skipped"][0]
    # faces of people already in the gallery carry their name
    laura = [f for c in after["clusters"] for f in c["faces"] if f["photo"].startswith("Laura_Bush")]
    assert any(f["name"] == "Laura_Bush" for f in laura)
    assert all(f["name"] in (None, "Laura_Bush") for f in laura)
    stranger = [f for c in after["clusters"] for f in c["faces"] if f["photo"].startswith(STRANGER)]
    assert stranger and all(f["name"] is None for f in stranger)

    thumb = httpx.get(f"{server}/piles/{pile}/faces/{left_out}/thumbnail", headers=H)
    assert thumb.status_code == 200 and thumb.content[:2] == b"\xff\xd8"
    assert httpx.get(f"{server}/piles/{pile}/faces/99999/thumbnail", headers=H).status_code == 404
    bad = httpx.post(f"{server}/piles/{pile}/enroll", headers=H, json={"name": "  ", "faces": [left_out]})
    assert bad.status_code == 422  # a blank name fails the schema's pattern
    bad = httpx.post(f"{server}/piles/{pile}/enroll", headers=H, json={"name": "X", "faces": [99999]})
    assert bad.status_code == 409 and "no face 99999 in this pile" in bad.json()["detail"]  # the pile is there
    junk = httpx.post(f"{server}/piles/{pile}/photos", headers=H,
                      files=[("images", ("a.jpg", b"not an image", "image/jpeg"))])
    assert junk.status_code == 400 and "none of the 1 files is an image" in junk.json()["detail"]
    assert httpx.delete(f"{server}/piles/{pile}", headers=H).status_code == 200
    gone = httpx.get(f"{server}/piles/{pile}/clusters", headers=H)
    assert gone.status_code == 404 and "no such pile" in gone.json()["detail"]


def test_piles_on_postgres_and_a_gallery_without_thumbnails(postgres_url, tmp_path):
    from faceprint.service.app import Engine, ServiceSettings
    from faceprint.service.schemas import PileEnroll

    pg = Engine(ServiceSettings(gallery=postgres_url))
    quiet = Engine(ServiceSettings(gallery=tmp_path / "g.db", thumbnails=False))
    try:
        pg.start()
        quiet.start()
        photos = sorted((PHOTOS / "Colin_Powell").glob("*.jpg")) + sorted((PHOTOS / "Serena_Williams").glob("*.jpg"))
        for engine in (pg, quiet):
            def on(fn, *args):  # type: ignore[no-untyped-def]
                return engine.work.submit(fn, *args)  # the engine's thread, as the service calls it

            pile = on(engine.pile_new).pile
            on(engine.pile_add, pile, [(p.read_bytes(), p.name) for p in photos])
            clusters = on(engine.pile_clusters, pile).clusters
            colin = max(clusters, key=lambda c: sum(f.photo.startswith("Colin") for f in c.faces))
            r = on(engine.pile_enroll, pile, PileEnroll(name="Colin", faces=[f.id for f in colin.faces]))
            assert r.added == len(colin.faces) >= 3
            assert [(p.name, p.faces) for p in on(engine.people).people] == [("Colin", len(colin.faces))]
            thumbs = on(engine.limits, "admin", "test").thumbnails
            portrait = on(engine.portrait, "Colin")
            if engine is pg:
                assert portrait[:2] == b"\xff\xd8" and thumbs is True
            else:
                assert portrait is None and thumbs is False
    finally:
        pg.close()
        quiet.close()
