"""API keys and what each may do.

A key has a scope: `read` (embed, verify, identify, list people), `write` (also enroll and sort piles) or `admin`
(also delete people and erase face crops, and read the audit trail). Every route names the scope it needs with
`needs(...)` (`public` for the page's files and /health). One dependency, attached to the app that includes the
routers (so it runs for every route, whichever router holds it), checks the key against the scope of the route that
matched; a route that names no scope is refused at start-up (`check_routes`) and, should one slip through, needs
`admin` (fails closed).

Keys are compared in constant time (as SHA-256 digests, against every configured key on every request) and are
never logged or stored: the audit trail records a key's label.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import HTTPException, Request
from fastapi.routing import APIRoute

from faceprint.errors import InputError
from faceprint.service.schemas import Problem

SCOPES = ("read", "write", "admin")  # each includes what the one before it may do
RANK = {s: i for i, s in enumerate(SCOPES)}
PUBLIC = "public"  # the page's files and the health check: no data, no key
SCOPE_KEY = "x-faceprint-scope"  # where a route's scope lives in its OpenAPI operation (clients see it too)
MIN_KEY_LENGTH = 16


@dataclass(frozen=True)
class ApiKey:
    digest: bytes = field(repr=False)  # SHA-256 of the key: the key itself is not kept
    scope: str
    label: str


NO_AUTH = ApiKey(b"", "admin", "no-auth")  # --insecure-no-auth, loopback only


def _key(secret: str, scope: str, label: str | None) -> ApiKey:
    digest = hashlib.sha256(secret.encode()).digest()
    return ApiKey(digest, scope, label or f"key-{digest.hex()[:8]}")


def parse_key_line(line: str, where: str) -> ApiKey:
    """`KEY`, `KEY SCOPE` or `KEY SCOPE LABEL...` (a bare key is `admin`, as keys were before scopes)."""
    secret, *rest = line.split(maxsplit=2)
    scope = rest[0] if rest else "admin"
    if scope not in RANK:
        raise InputError(f"{where}: scope {scope!r} is not one of {', '.join(SCOPES)} (a line is KEY [SCOPE [LABEL]])")
    if len(secret) < MIN_KEY_LENGTH:
        raise InputError(f"{where}: API key shorter than {MIN_KEY_LENGTH} characters: use long random keys "
                         "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))')")
    return _key(secret, scope, rest[1].strip() if len(rest) > 1 else None)


def read_api_keys(env_value: str | None, key_file: str | Path | None) -> list[ApiKey]:
    """Keys from FACEPRINT_API_KEYS (comma-separated) and/or a file (a key a line; # comments), each `KEY [SCOPE
    [LABEL]]`. Messages name the line, never the key."""
    keys = [parse_key_line(item.strip(), f"FACEPRINT_API_KEYS item {i + 1}")
            for i, item in enumerate((env_value or "").split(",")) if item.strip()]
    if key_file:
        for n, line in enumerate(Path(key_file).read_text().splitlines(), 1):
            line = line.strip()
            if line and not line.startswith("#"):
                keys.append(parse_key_line(line, f"{key_file} line {n}"))
    digests = [k.digest for k in keys]
    if len(set(digests)) != len(digests):
        raise InputError("the same API key is configured twice: give each key one scope")
    labels = [k.label for k in keys]
    if len(set(labels)) != len(labels):
        raise InputError("two API keys share a label: the audit trail could not tell them apart")
    return keys


def needs(scope: str, *statuses: int, ok: dict[str, Any] | None = None) -> dict[str, Any]:
    """A route's declaration: the scope it needs, and every status it may answer besides 200 (described by `ok`
    where it is not JSON) for the OpenAPI document. Use as `@router.get(path, **needs("read", 404))`."""
    if scope == PUBLIC:
        return {"openapi_extra": {SCOPE_KEY: PUBLIC}, "responses": problems(*statuses) if statuses else {}}
    if scope not in RANK:
        raise ValueError(f"unknown scope {scope!r}")
    responses = problems(401, 403, 503, *statuses)
    if ok is not None:
        responses[200] = ok
    return {"openapi_extra": {SCOPE_KEY: scope}, "responses": responses}


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for error answers: each a Problem ({"detail": ...})."""
    why = {400: "Bad input: an unreadable image, a blank name", 401: "Missing or wrong X-API-Key",
           403: "The key's scope does not allow this route", 404: "No such person, pile or face",
           409: "In conflict with the gallery (the face is enrolled under another name; another model)",
           405: "Not a method this path takes",
           413: "Over a limit: body size, image pixels, files per request",
           422: "Invalid fields, or no face found where one is needed",
           503: "Overloaded or over the time limit: retry after Retry-After seconds"}
    out: dict[int | str, dict[str, Any]] = {}
    for s in sorted(set(statuses) | {422}):
        out[s] = {"model": Problem, "description": why[s]}
        if s == 503:
            out[s]["headers"] = {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds"}}
    return out


def route_scope(route: Any) -> str | None:
    return (getattr(route, "openapi_extra", None) or {}).get(SCOPE_KEY)


class KeyCheck:
    """The one check of every keyed route: who is asking (401 if no key matches) and whether their scope covers the
    route's (403). The caller's key is left in `request.state.caller` for the audit trail."""

    def __init__(self, keys: list[ApiKey]) -> None:
        self.keys = keys

    def caller(self, given: str | None) -> ApiKey | None:
        if not self.keys:
            return NO_AUTH
        digest = hashlib.sha256((given or "").encode()).digest()
        found = None
        for k in self.keys:  # every key, every time: neither timing nor order tells which one matched
            if hmac.compare_digest(digest, k.digest) and found is None:
                found = k
        return found

    async def __call__(self, request: Request) -> ApiKey | None:
        route = request.scope.get("route")
        needed = route_scope(route) or "admin"  # fails closed (check_routes refuses such a route at start)
        if needed == PUBLIC:
            return None
        caller = self.caller(request.headers.get("x-api-key"))
        if caller is None:
            raise HTTPException(401, "missing or wrong X-API-Key", headers={"WWW-Authenticate": "X-API-Key"})
        if RANK[caller.scope] < RANK[needed]:
            where = f"{request.method} {route.path_format if route else request.url.path}"
            raise HTTPException(403, f"this key may {caller.scope}; {where} needs {needed}")
        request.state.caller = caller
        return caller


def served_routes(app: Any) -> list[APIRoute]:
    """Every API route the app serves, through included routers too (newer FastAPI keeps an included router as one
    entry of `app.routes`; older ones copy its routes in). Routers are included without prefixes, so each path is
    the one served."""
    out: list[APIRoute] = []

    def walk(routes: list[Any]) -> None:
        for r in routes:
            inner = getattr(r, "original_router", None)
            if inner is not None:
                walk(inner.routes)
            elif isinstance(r, APIRoute):
                out.append(r)

    walk(app.routes)
    return out


def check_routes(app: Any, check: KeyCheck) -> None:
    """Every route declares its scope (or `public`) and the key check runs for the whole app: else it does not
    start."""
    if not any(getattr(d, "dependency", None) is check for d in app.router.dependencies):
        raise RuntimeError("the key check is not attached to the app")
    bad = [f"{'/'.join(sorted(r.methods))} {r.path}" for r in served_routes(app)
           if route_scope(r) not in (*SCOPES, PUBLIC)]
    if bad:
        raise RuntimeError(f"routes without a declared scope: {', '.join(bad)}")
