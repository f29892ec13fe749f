"""`faceprint serve`, the real server on loopback: keys required (and checked), the three jobs answer as the library
does, oversize bodies and decompression bombs get 413, bad images 400 with a message, and a schema-driven fuzz run
finds no 5xx."""

from __future__ import annotations

import io
import os
import shutil
import socket
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from faceprint.demo import PHOTOS, STRANGER  # noqa: E402
from tests.service.server import KEY, _serve, _stop  # noqa: E402


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    proc, url = _serve(tmp_path_factory.mktemp("serve") / "g.db")
    yield url
    _stop(proc)


def _photo(name: str, i: int) -> Path:
    return sorted((PHOTOS / name).glob("*.jpg"))[i]


def _files(field: str, *paths: Path) -> list:
    return [(field, (p.name, p.read_bytes(), "image/jpeg")) for p in paths]


H = {"X-API-Key": KEY}


def test_refuses_to_start_without_a_key(tmp_path):
    proc, _ = _serve(tmp_path / "g.db", env_keys=None, wait=False)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 2 and "no API key configured" in out
    proc, _ = _serve(tmp_path / "g.db", "--insecure-no-auth", "--host", "0.0.0.0", env_keys=None, wait=False)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 2 and "loopback" in out
    proc, _ = _serve(tmp_path / "g.db", env_keys="short", wait=False)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 2 and "shorter than 16" in out


def test_every_route_but_health_needs_the_key(server):
    assert httpx.get(f"{server}/health").json()["status"] == "ok"
    for method, path in [("GET", "/openapi.json"), ("GET", "/people"), ("POST", "/embed"), ("POST", "/verify"),
                         ("POST", "/enroll"), ("POST", "/identify"), ("DELETE", "/people/x")]:
        for headers in ({}, {"X-API-Key": "wrong-key-0123456789abcdef"}, {"X-API-Key": KEY[:-1]}):
            r = httpx.request(method, f"{server}{path}", headers=headers)
            assert r.status_code == 401, (method, path, headers, r.status_code)
    schema = httpx.get(f"{server}/openapi.json", headers=H).json()
    assert {"/embed", "/verify", "/enroll", "/identify", "/people", "/people/{name}", "/health"} <= set(schema["paths"])
    # the face crops a gallery keeps never leave it: no route serves them, no answer carries them (people's
    # 160 px face thumbnails, for the web page, are the one image a key holder gets: tests/service/test_piles.py)
    # (`POST /gallery/forget-crops`, admin, erases them and answers a count)
    assert not any("crop" in p or "image" in p for p, ops in schema["paths"].items() if set(ops) != {"post"}
                   or p != "/gallery/forget-crops")
    assert "crop" not in str({k: v for k, v in schema["components"]["schemas"].items()
                              if k != "CropsForgotten"}).lower()
    assert schema["components"]["schemas"]["CropsForgotten"]["properties"].keys() == {"erased"}
    # (and a photo library's own faces and photos, served by face id on `serve --library`: tests/service/
    # test_library_routes.py)
    assert sorted(p for p in schema["paths"] if "thumbnail" in p or p.endswith("/photo")) == [
        "/library/faces/{face}/photo", "/library/faces/{face}/thumbnail", "/people/{name}/thumbnail",
        "/piles/{pile}/faces/{face}/thumbnail"]
    assert httpx.get(f"{server}/docs", headers=H).status_code == 404  # no HTML pages that load scripts from a CDN


def test_the_three_jobs(server):
    import faceprint

    people = ["Colin_Powell", "Laura_Bush", "Tony_Blair"]
    for name in people:
        r = httpx.post(f"{server}/enroll", headers=H, data={"name": name},
                       files=_files("images", _photo(name, 0), _photo(name, 1)), timeout=120)
        assert r.status_code == 200, r.text
        assert r.json()["added"] == 2
    again = httpx.post(f"{server}/enroll", headers=H, data={"name": people[0]},
                       files=_files("images", _photo(people[0], 0)), timeout=120).json()
    assert again["added"] == 0 and again["already_present"] == 1  # idempotent
    listed = httpx.get(f"{server}/people", headers=H).json()["people"]
    assert listed == [{"name": n, "faces": 2} for n in people]

    for name in people:
        r = httpx.post(f"{server}/identify", headers=H, files=_files("image", _photo(name, 2)), timeout=120).json()
        assert r["faces"][0]["identity"] == name
    stranger = httpx.post(f"{server}/identify", headers=H, files=_files("image", _photo(STRANGER, 0)),
                          timeout=120).json()
    assert stranger["faces"][0]["identity"] == "unknown"

    a, b, c = _photo("Laura_Bush", 0), _photo("Laura_Bush", 2), _photo("Tony_Blair", 0)
    model = faceprint.load()
    same = httpx.post(f"{server}/verify", headers=H, files=_files("image1", a) + _files("image2", b),
                      timeout=120).json()
    diff = httpx.post(f"{server}/verify", headers=H, files=_files("image1", a) + _files("image2", c),
                      timeout=120).json()
    assert same["same"] is True and diff["same"] is False
    assert same["threshold"] == pytest.approx(model.config.threshold)
    assert same["distance"] == pytest.approx(faceprint.verify(model, a, b).distance, abs=1e-5)  # the library's path

    emb = httpx.post(f"{server}/embed", headers=H, files=_files("image", a), timeout=120).json()
    assert emb["model"] == model.fingerprint and len(emb["faces"][0]["embedding"]) == model.config.embedding_size
    assert np.linalg.norm(emb["faces"][0]["embedding"]) == pytest.approx(1, abs=1e-4)

    r = httpx.delete(f"{server}/people/Tony_Blair", headers=H).json()
    assert r == {"name": "Tony_Blair", "faces_removed": 2}
    gone = httpx.delete(f"{server}/people/Tony_Blair", headers=H)
    assert gone.status_code == 404 and gone.json()["detail"] == "no identity 'Tony_Blair' in the gallery"
    assert "g.db" not in gone.text and "/tmp" not in gone.text  # no answer names a path on the server
    after = httpx.post(f"{server}/identify", headers=H, files=_files("image", _photo("Tony_Blair", 2)),
                       timeout=120).json()
    assert after["faces"][0]["identity"] != "Tony_Blair"


def _png_bomb(width: int = 50_000, height: int = 50_000) -> bytes:
    """A tiny PNG whose header claims width x height pixels."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_limits_and_bad_images(server):
    big = b"0" * (21 * 2**20)
    r = httpx.post(f"{server}/embed", headers=H, files=[("image", ("big.jpg", big, "image/jpeg"))], timeout=60)
    assert r.status_code == 413

    def chunked():  # no Content-Length: the limit counts the bytes as they come
        for _ in range(22):
            yield b"1" * 2**20

    r = httpx.post(f"{server}/embed", headers={**H, "Content-Type": "multipart/form-data; boundary=x"},
                   content=chunked(), timeout=60)
    assert r.status_code == 413
    r = httpx.post(f"{server}/embed", headers=H, files=[("image", ("bomb.png", _png_bomb(), "image/png"))])
    assert r.status_code == 413 and "too large" in r.json()["detail"]
    jpeg = _photo("Laura_Bush", 0).read_bytes()
    for name, data in [("cut.jpg", jpeg[: len(jpeg) // 3]), ("text.jpg", b"hello, not an image"),
                       ("empty.png", b"")]:
        r = httpx.post(f"{server}/embed", headers=H, files=[("image", (name, data, "image/jpeg"))], timeout=60)
        assert r.status_code == 400 and name in r.json()["detail"], (name, r.status_code, r.text)
    blank = io.BytesIO()
    from PIL import Image

    Image.new("RGB", (200, 200), (120, 120, 120)).save(blank, "PNG")
    r = httpx.post(f"{server}/verify", headers=H, files=[("image1", ("blank.png", blank.getvalue(), "image/png")),
                                                         ("image2", ("blank.png", blank.getvalue(), "image/png"))])
    assert r.status_code == 422 and "no face" in r.json()["detail"]
    assert httpx.post(f"{server}/enroll", headers=H, data={"name": "x"}, files=[]).status_code == 422
    assert httpx.get(f"{server}/health").status_code == 200  # and the server is still up


@pytest.mark.skipif(shutil.which("st") is None and not (Path(sys.executable).parent / "st").exists(),
                    reason="schemathesis is not installed")
def test_schemathesis_with_every_check_finds_nothing(tmp_path):
    """The OpenAPI document is the contract clients are generated from: every status a route answers is in it, every
    answer matches its schema, schema-valid requests are taken and invalid ones refused (what a schema cannot say
    about photos is in schemathesis.toml, with why)."""
    proc, url = _serve(tmp_path / "fuzz.db")
    try:
        st = str(Path(sys.executable).parent / "st") if (Path(sys.executable).parent / "st").exists() else "st"
        config = Path(__file__).with_name("schemathesis.toml")
        out = subprocess.run([st, "--config-file", str(config), "run", f"{url}/openapi.json", "-H",
                              f"X-API-Key: {KEY}", "--checks", "all", "-n", "25", "--seed", "1",
                              "--request-timeout", "60", "--no-color"],
                             capture_output=True, text=True, timeout=600, cwd=tmp_path)
        assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
        assert " passed" in out.stdout and "failure" not in out.stdout.split("SUMMARY")[-1].lower()
        assert httpx.get(f"{url}/health").status_code == 200
    finally:
        _stop(proc)


def test_replicas_share_a_postgres_gallery(postgres_url):
    """Two service engines (two replicas) on one PostgreSQL gallery: what one enrolls, the other identifies, and a
    removal in one is seen by the other (its search index refreshes on the other's commits)."""
    from faceprint.service.app import Engine, ServiceSettings

    a, b = (Engine(ServiceSettings(gallery=postgres_url)) for _ in range(2))
    try:
        assert a.start() == b.start()  # the same model
        for name in ("Colin_Powell", "Laura_Bush"):
            res = a.enroll(name, [(_photo(name, i).read_bytes(), f"{name}{i}.jpg") for i in range(2)])
            assert res.added == 2
        probe = _photo("Laura_Bush", 2).read_bytes()
        assert b.identify(probe, "probe.jpg", 2).faces[0].identity == "Laura_Bush"
        assert [p.name for p in b.people().people] == ["Colin_Powell", "Laura_Bush"]
        a.delete("Laura_Bush")
        assert b.identify(probe, "probe.jpg", 2).faces[0].identity != "Laura_Bush"
    finally:
        a.close()
        b.close()
