"""The web page and the health check: the only routes served without a key (they hold no data)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from faceprint import __version__
from faceprint.service.auth import PUBLIC, needs
from faceprint.service.schemas import Health

router = APIRouter()
WEB = Path(__file__).resolve().parents[1] / "web"
STATIC = {"index.html": "text/html; charset=utf-8", "app.js": "text/javascript; charset=utf-8",
          "app.css": "text/css; charset=utf-8", "icon.svg": "image/svg+xml"}


def _static(name: str) -> Response:
    if name not in STATIC:  # a fixed list: no path from the client ever reaches the file system
        raise HTTPException(404, "not found")
    return Response((WEB / name).read_bytes(), media_type=STATIC[name], headers={"Cache-Control": "no-cache"})


@router.get("/", include_in_schema=False, **needs(PUBLIC))
async def page() -> Response:
    return _static("index.html")


@router.get("/static/{name}", include_in_schema=False, **needs(PUBLIC))
async def static(name: str) -> Response:
    return _static(name)


@router.get("/health", response_model=Health, **needs(PUBLIC))
async def health(request: Request) -> Health:
    return Health(status="ok", version=__version__, model=request.app.state.fingerprint)
