"""The service's routes, one router per area: faces (embed, verify, identify), people (enroll, list, thumbnails,
delete), piles (the page's "sort a pile"), gallery (limits, audit trail, crops) and the page itself. Each keyed route
declares its scope with `needs(...)` (faceprint.service.auth); the key check is attached where the routers are
included (faceprint.service.app)."""

from __future__ import annotations

from typing import Any

from fastapi import File, HTTPException, Request, UploadFile

from faceprint.applications.audit import Actor
from faceprint.service.engine import Engine
from faceprint.service.schemas import MAX_FILES


def engine(request: Request) -> Engine:
    return request.app.state.engine


def actor(request: Request) -> Actor:
    """Who is writing, for the audit trail: the key's label and the route (its template, not the values)."""
    route = request.scope.get("route")
    return Actor(request.state.caller.label, f"{request.method} {getattr(route, 'path_format', request.url.path)}")


def image_files() -> Any:
    """The `images` field: one or more files (the schema says at most MAX_FILES; more get 413, not 422)."""
    return File(..., min_length=1, json_schema_extra={"maxItems": MAX_FILES})


async def read(upload: UploadFile) -> tuple[bytes, str]:
    return await upload.read(), (upload.filename or "upload")[:120]


def check_files(request: Request, n: int) -> None:
    most = engine(request).settings.max_files
    if n > most:
        raise HTTPException(413, f"at most {most} images per request")


def check_name(name: str) -> str:
    name = name.strip()
    if not name or any(ord(c) < 32 for c in name):
        raise HTTPException(400, "name must be printable and not blank")
    return name
