"""Scoped API keys: every route x every scope (walking `app.routes`, so a new route is in the matrix the day it is
added), the declared scope of each route, a route without one refused at start, key files, and the key never
leaving the server's memory (not in the gallery, not in answers)."""

from __future__ import annotations

import re

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from fastapi import APIRouter, Depends, FastAPI  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from faceprint.errors import InputError  # noqa: E402
from faceprint.service.auth import (  # noqa: E402
    PUBLIC,
    RANK,
    SCOPES,
    KeyCheck,
    check_routes,
    needs,
    read_api_keys,
    route_scope,
    served_routes,
)

SECRETS = {s: f"{s}-secret-0123456789abcdef" for s in SCOPES}
# The contract: which scope each route needs. A route added without a row here fails test_declared_scopes.
EXPECTED = {
    ("POST", "/embed"): "read", ("POST", "/verify"): "read", ("POST", "/identify"): "read",
    ("GET", "/people"): "read", ("GET", "/people/{name}/thumbnail"): "read", ("GET", "/limits"): "read",
    ("GET", "/openapi.json"): "read",
    ("POST", "/enroll"): "write", ("POST", "/piles"): "write", ("POST", "/piles/{pile}/photos"): "write",
    ("GET", "/piles/{pile}/clusters"): "write", ("GET", "/piles/{pile}/faces/{face}/thumbnail"): "write",
    ("POST", "/piles/{pile}/enroll"): "write", ("DELETE", "/piles/{pile}"): "write",
    ("DELETE", "/people/{name}"): "admin", ("POST", "/gallery/forget-crops"): "admin", ("GET", "/audit"): "admin",
    # the photo library (`serve --library`; a gallery service answers them with 404)
    ("GET", "/library/people"): "read", ("GET", "/library/people/{person}/faces"): "read",
    ("GET", "/library/unassigned"): "read", ("GET", "/library/faces/{face}/thumbnail"): "read",
    ("GET", "/library/faces/{face}/photo"): "read",
    ("POST", "/library/people/{person}/name"): "write", ("POST", "/library/merge"): "write",
    ("POST", "/library/faces/{face}/remove"): "write", ("POST", "/library/faces/{face}/assign"): "write",
    ("POST", "/library/people/{person}/hide"): "write",
}


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    from faceprint.service.app import ServiceSettings, create_app

    keys = read_api_keys(None, _key_file(tmp_path_factory.mktemp("keys")))
    wrapped = create_app(ServiceSettings(gallery=str(tmp_path_factory.mktemp("g") / "g.db"), api_keys=keys))
    with TestClient(wrapped) as client:
        yield wrapped.app, client


def _key_file(folder):  # type: ignore[no-untyped-def]
    f = folder / "keys.txt"
    f.write_text("# a comment\n\n" + "\n".join(f"{SECRETS[s]} {s} the {s} key" for s in SCOPES) + "\n")
    return f


def _routes(fastapi_app):  # type: ignore[no-untyped-def]
    for r in served_routes(fastapi_app):
        if route_scope(r) != PUBLIC:
            for m in sorted(r.methods - {"HEAD"}):
                yield m, r


def test_declared_scopes(app):
    fastapi_app, _ = app
    declared = {(m, r.path_format): route_scope(r) for m, r in _routes(fastapi_app)}
    assert declared == EXPECTED
    public = {r.path for r in served_routes(fastapi_app) if route_scope(r) == PUBLIC}
    assert public == {"/", "/static/{name}", "/health"}


def test_every_route_and_every_scope(app):
    fastapi_app, client = app
    seen = 0
    for method, route in _routes(fastapi_app):
        path = re.sub(r"\{(\w+)(:\w+)?\}", lambda m: "0" if m.group(1) == "face" else "someone", route.path)
        for given in (None, "wrong-secret-0123456789abcdef", *SCOPES):
            headers = {} if given is None else {"X-API-Key": SECRETS.get(given, given)}
            r = client.request(method, path, headers=headers)
            if given not in RANK:
                want = {401}
            elif RANK[given] < RANK[route_scope(route)]:
                want = {403}
            else:
                want = set(range(200, 600)) - {401, 403, 500}  # allowed: whatever the route answers, never a 5xx bug
            assert r.status_code in want, (method, path, given, r.status_code, r.text)
            if r.status_code == 403:
                detail = r.json()["detail"]
                assert "\n" not in detail and f"needs {route_scope(route)}" in detail
            seen += 1
    assert seen == len(EXPECTED) * 5


def test_health_and_the_page_need_no_key(app):
    _, client = app
    for path in ("/health", "/", "/static/app.js"):
        assert client.get(path).status_code == 200


def test_a_route_without_a_scope_does_not_start():
    check = KeyCheck([])
    router, inner = APIRouter(), APIRouter()

    @router.get("/declared", **needs("read"))
    async def declared() -> dict:
        return {}

    @inner.get("/forgotten")  # two routers down: still found
    async def forgotten() -> dict:
        return {}

    app = FastAPI(dependencies=[Depends(check)])
    app.include_router(router)
    check_routes(app, check)
    router.include_router(inner)
    app = FastAPI(dependencies=[Depends(check)])
    app.include_router(router)
    with pytest.raises(RuntimeError, match=r"GET /forgotten"):
        check_routes(app, check)
    unguarded = FastAPI()
    unguarded.include_router(router)
    with pytest.raises(RuntimeError, match=r"not attached"):
        check_routes(unguarded, check)


def test_key_files(tmp_path):
    f = tmp_path / "keys"
    f.write_text("bare-key-0123456789abcdef\nreader-0123456789abcdef read\nwriter-0123456789abcdef write Ana Lopez\n")
    keys = read_api_keys("env-key-0123456789abcdef read ci", f)
    assert [(k.scope, k.label) for k in keys] == [("read", "ci"), ("admin", keys[1].label), ("read", keys[2].label),
                                                  ("write", "Ana Lopez")]
    assert re.fullmatch(r"key-[0-9a-f]{8}", keys[1].label)  # a label of its own, never the key
    assert "bare-key" not in repr(keys)
    f.write_text("a-good-key-0123456789abcdef owner\n")
    with pytest.raises(InputError, match=r"line 1: scope 'owner' is not one of read, write, admin") as e:
        read_api_keys(None, f)
    assert "a-good-key" not in str(e.value)
    for text, why in [("short read\n", "shorter than 16"),
                      ("same-key-0123456789abcdef read\nsame-key-0123456789abcdef admin\n", "twice"),
                      ("one-key-0123456789abcdef read x\ntwo-key-0123456789abcdef write x\n", "share a label")]:
        f.write_text(text)
        with pytest.raises(InputError, match=why):
            read_api_keys(None, f)


def test_the_key_is_never_stored_or_answered(app):
    """After writes by every key, neither the gallery file nor any answer holds a key; the trail holds labels."""
    fastapi_app, client = app
    from faceprint.demo import PHOTOS

    photo = sorted((PHOTOS / "Tony_Blair").glob("*.jpg"))[0]
    r = client.post("/enroll", headers={"X-API-Key": SECRETS["write"]}, data={"name": "Tony"},
                    files=[("images", (photo.name, photo.read_bytes(), "image/jpeg"))])
    assert r.status_code == 200
    log = client.get("/audit", headers={"X-API-Key": SECRETS["admin"]})
    assert log.status_code == 200
    entries = [e for e in log.json()["entries"] if e["person"] == "Tony"]
    assert entries and entries[-1]["actor"] == "the write key" and entries[-1]["action"] == "POST /enroll"
    w, a = {"X-API-Key": SECRETS["write"]}, {"X-API-Key": SECRETS["admin"]}
    pile = client.post("/piles", headers=w).json()["pile"]
    serena = sorted((PHOTOS / "Serena_Williams").glob("*.jpg"))[:2]
    client.post(f"/piles/{pile}/photos", headers=w,
                files=[("images", (p.name, p.read_bytes(), "image/jpeg")) for p in serena])
    ids = [f["id"] for c in client.get(f"/piles/{pile}/clusters", headers=w).json()["clusters"] for f in c["faces"]]
    assert client.post(f"/piles/{pile}/enroll", headers=w, json={"name": "Serena", "faces": ids}).status_code == 200
    assert client.delete("/people/Tony", headers=a).status_code == 200
    assert client.post("/gallery/forget-crops", headers=a).status_code == 200  # (crops: none since the matrix)
    log = client.get("/audit", headers=a)
    assert [(e["actor"], e["action"], e["person"]) for e in log.json()["entries"]][-3:] == [
        ("the write key", "POST /piles/{pile}/enroll", "Serena"), ("the admin key", "DELETE /people/{name}", "Tony"),
        ("the admin key", "POST /gallery/forget-crops", None)]
    assert client.get("/audit?since=2999-01-01T00:00:00Z", headers=a).json()["entries"] == []
    assert len(client.get("/audit?within=1h&last=2", headers=a).json()["entries"]) == 2
    assert client.get("/audit?since=someday", headers=a).status_code == 422
    assert client.get("/audit?within=1000000w", headers=a).status_code == 200  # longer ago than the calendar
    engine = fastapi_app.state.engine
    path = engine.gallery.path
    blob = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    limits = client.get("/limits", headers={"X-API-Key": SECRETS["read"]}).json()
    assert limits["scope"] == "read" and limits["label"] == "the read key"
    for secret in SECRETS.values():
        assert secret.encode() not in blob and secret not in log.text and secret not in str(limits)
