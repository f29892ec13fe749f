"""`faceprint serve --library L.db`: the library's routes over HTTP against a real server: pages of people, a person's
faces and photos, the queue, every correction, scopes, and what a gallery service answers."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from PIL import Image  # noqa: E402

from faceprint.demo import PHOTOS  # noqa: E402
from tests.service.server import KEY, _serve, _stop  # noqa: E402

READ = "read-key-0123456789abcdef"


def make_library(tmp_path: Path) -> Path:
    """The shipped photos scanned into a library (and a copy with a name that is HTML, to be shown as text)."""
    root = tmp_path / "photos"
    shutil.copytree(PHOTOS, root)
    lib = tmp_path / "L.db"
    out = subprocess.run([sys.executable, "-m", "faceprint", "library", "scan", str(root), "--library", str(lib),
                          "--no-progress"], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    return lib


@pytest.fixture
def served(tmp_path):
    lib = make_library(tmp_path)
    proc, url = _serve(lib, store="--library", env_keys=f"{KEY},{READ} read reader")
    yield url, lib
    _stop(proc)


def _get(url: str, path: str, key: str = KEY) -> httpx.Response:
    return httpx.get(url + path, headers={"X-API-Key": key}, timeout=60)


def _post(url: str, path: str, body: dict, key: str = KEY) -> httpx.Response:
    return httpx.post(url + path, headers={"X-API-Key": key}, json=body, timeout=60)


def test_library_routes(served):
    url, _ = served
    assert _get(url, "/limits").json()["library"] is True
    first = _get(url, "/library/people?limit=4").json()
    assert first["total"] == 6 and first["suggested"] == 6 and first["named"] == 0 and len(first["people"]) == 4
    rest = _get(url, "/library/people?offset=4&limit=4").json()
    people = first["people"] + rest["people"]
    assert len(rest["people"]) == 2 and len({p["id"] for p in people}) == 6
    sizes = [p["faces"] for p in people]
    assert sizes == sorted(sizes, reverse=True)  # suggestions by size
    big = people[0]
    faces = _get(url, f"/library/people/{big['id']}/faces").json()
    assert faces["total"] == big["faces"]
    assert {"id", "photo", "box", "width", "height", "taken"} <= set(faces["faces"][0])
    f = faces["faces"][0]
    thumb = _get(url, f"/library/faces/{f['id']}/thumbnail")
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    photo = _get(url, f"/library/faces/{f['id']}/photo")
    assert photo.status_code == 200 and Image.open(io.BytesIO(photo.content)).size == (f["width"], f["height"])
    assert _get(url, "/library/faces/999999/photo").status_code == 404
    assert _get(url, "/library/people/999999/faces").status_code == 404

    # corrections: name, a name taken, rename, merge, move out, say who, hide
    assert _post(url, f"/library/people/{big['id']}/name", {"name": "<b>Big</b>"}).status_code == 200
    other = people[1]
    taken = _post(url, f"/library/people/{other['id']}/name", {"name": "<b>Big</b>"})
    assert taken.status_code == 409 and "merge" in taken.json()["detail"]
    assert _post(url, f"/library/people/{big['id']}/name", {"name": " "}).status_code == 422
    listed = _get(url, "/library/people").json()
    assert listed["people"][0]["name"] == "<b>Big</b>" and listed["named"] == 1  # named people first
    assert [p["name"] for p in _get(url, "/people").json()["people"]] == ["<b>Big</b>"]  # a gallery identity
    merged = _post(url, "/library/merge", {"people": [big["id"], other["id"]]}).json()
    assert merged["person"] == big["id"]
    after = _get(url, f"/library/people/{big['id']}/faces").json()
    assert after["total"] == big["faces"] + other["faces"]
    out = after["faces"][0]["id"]
    assert _post(url, f"/library/faces/{out}/remove", {}).status_code == 200
    queue = _get(url, "/library/unassigned").json()
    assert out in [q["id"] for q in queue["faces"]]
    assert _post(url, f"/library/faces/{out}/assign", {"name": "Someone"}).json()["person"] != big["id"]
    assert out not in [q["id"] for q in _get(url, "/library/unassigned").json()["faces"]]
    small = people[-1]
    assert _post(url, f"/library/people/{small['id']}/hide", {"hidden": True}).status_code == 200
    assert small["id"] not in [p["id"] for p in _get(url, "/library/people").json()["people"]]
    assert small["id"] in [p["id"] for p in _get(url, "/library/people?hidden=true").json()["people"]]
    log = _get(url, "/audit").json()["entries"]
    assert any(e["action"] == "POST /library/merge" for e in log)  # who corrected what is on record

    # scopes: a read key reads and never corrects; no key, nothing
    assert _get(url, "/library/people", READ).status_code == 200
    assert _post(url, f"/library/people/{big['id']}/name", {"name": "x"}, READ).status_code == 403
    assert httpx.get(url + "/library/people", timeout=30).status_code == 401
    # the gallery's own writes are refused on a library, with the reason
    photo_file = sorted(PHOTOS.rglob("*.jpg"))[0]
    r = httpx.post(url + "/enroll", headers={"X-API-Key": KEY}, data={"name": "x"},
                   files=[("images", (photo_file.name, photo_file.read_bytes(), "image/jpeg"))], timeout=60)
    assert r.status_code == 409 and "photo library" in r.json()["detail"]


def test_a_gallery_service_has_no_library(tmp_path):
    proc, url = _serve(tmp_path / "g.db")
    try:
        assert _get(url, "/limits").json()["library"] is False
        assert _get(url, "/library/people").status_code == 404
    finally:
        _stop(proc)


def test_serve_takes_a_gallery_or_a_library(tmp_path):
    def run(*a: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "faceprint", "serve", *a, "--insecure-no-auth"],
                              capture_output=True, text=True, timeout=120)

    both = run("--gallery", str(tmp_path / "g.db"), "--library", str(tmp_path / "L.db"))
    assert both.returncode == 2 and "one of the two" in both.stderr
    missing = run("--library", str(tmp_path / "none.db"))
    assert missing.returncode == 2 and "no such gallery" in missing.stderr
