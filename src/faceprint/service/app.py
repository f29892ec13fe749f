"""`faceprint serve`: embed, verify, enroll, identify, list and delete people over HTTP (FastAPI on uvicorn).

Security model: every route but `GET /health` and the page's own files needs an `X-API-Key` header matching one
configured key, whose scope (read, write, admin) covers the route (faceprint.service.auth: one check, attached where
the routers are included). No route reads a path from the client (uploads are decoded in memory; a file name is only
a label), and no answer names a path on the server. Bodies over `max_body_bytes` and images over `max_pixels` get
413 before any decoding; CORS is off. All model and gallery work runs on one worker thread behind a bounded queue,
each request under a deadline that frees the worker (faceprint.service.engine). The gallery is the one the CLI uses
(a SQLite file, safe beside other processes thanks to WAL, or a PostgreSQL database that several replicas share),
and every write to it leaves an audit row naming the key's label and the route.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse

from faceprint import __version__
from faceprint.applications.identification import (
    EmptyGalleryError,
    EnrolledAsOtherError,
    GalleryError,
    UnknownPersonError,
)
from faceprint.applications.library.store import NameTakenError, NotFoundInLibrary
from faceprint.data.images import ImageReadError, ImageTooLargeError
from faceprint.errors import FaceprintError, ModelMismatchError
from faceprint.service.auth import KeyCheck, check_routes, read_api_keys
from faceprint.service.engine import Engine, NoFaceError, Overloaded, ServiceSettings, TimedOut
from faceprint.service.piles import NotInPileError, PileError
from faceprint.service.routes import faces, gallery, library, page, people, piles

__all__ = ["LOOPBACK", "Engine", "ServiceSettings", "create_app", "read_api_keys"]
log = logging.getLogger("faceprint.serve")
LOOPBACK = ("127.0.0.1", "::1", "localhost")

# No inline script or style, nothing from elsewhere, no framing; images from the service itself or blob: URLs the
# page makes from the thumbnails it fetched with its key.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; "
                               "connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
# Domain errors -> HTTP status, by class (most specific first: the first match wins). Messages are the errors' own,
# without server paths: a gallery error shows its `reason` only.
STATUS: list[tuple[type[BaseException], int]] = [
    (ImageTooLargeError, 413), (ImageReadError, 400), (NoFaceError, 422), (PileError, 404), (NotInPileError, 409),
    (UnknownPersonError, 404), (EmptyGalleryError, 404), (EnrolledAsOtherError, 409), (ModelMismatchError, 409),
    (NotFoundInLibrary, 404), (NameTakenError, 409),
    (GalleryError, 409), (FaceprintError, 400),
]


class BodyLimit:
    """Refuse bodies over `limit` bytes with 413, by Content-Length or by counting a chunked upload, before the
    app parses anything."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            return await _too_large(send, self.limit)
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body = message.get("body", b"")
            size += len(body)
            if size > self.limit:
                return await _too_large(send, self.limit)
            chunks.append(body)
            more = message.get("more_body", False)
        replay = [{"type": "http.request", "body": b"".join(chunks), "more_body": False}]

        async def replayed() -> dict:
            return replay.pop() if replay else await receive()

        await self.app(scope, replayed, send)


async def _too_large(send: Any, limit: int) -> None:
    body = f'{{"detail": "request body over the limit of {limit} bytes"}}'.encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def _detail(e: BaseException) -> str:
    if isinstance(e, ImageReadError):
        return f"{e.path}: {e.reason}"  # the upload's own label, never a server path
    text = e.reason if isinstance(e, GalleryError) else str(e)
    return text.strip().splitlines()[0] if text.strip() else "bad request"


def create_app(settings: ServiceSettings, engine: Engine | None = None) -> Any:
    """The ASGI app (FastAPI wrapped in the body-size limit). Keys must be set unless the caller allowed no auth."""
    engine = engine or Engine(settings)
    fingerprint = engine.start()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        engine.close()

    check = KeyCheck(settings.api_keys)  # one check, for every route the app includes
    app = FastAPI(title="faceprint", version=__version__, openapi_url=None, docs_url=None, redoc_url=None,
                  lifespan=lifespan, dependencies=[Depends(check)],
                  description="FaceNet embeddings: verification, identification and a gallery of people. Every "
                              "route but /health needs X-API-Key; `x-faceprint-scope` says which scope.")
    app.state.engine, app.state.fingerprint = engine, fingerprint
    for area in (page, faces, people, piles, gallery, library):
        app.include_router(area.router)
    check_routes(app, check)

    async def domain_error(_: Request, e: Exception) -> JSONResponse:
        status = next(s for kind, s in STATUS if isinstance(e, kind))
        return JSONResponse({"detail": _detail(e)}, status_code=status)

    for kind, _ in STATUS:
        app.add_exception_handler(kind, domain_error)

    async def overloaded(_: Request, e: Exception) -> JSONResponse:
        retry = e.retry_after if isinstance(e, Overloaded) else engine.work.retry_after()
        text = str(e) if isinstance(e, Overloaded) else "busy: the request ran over its time limit and was stopped"
        return JSONResponse({"detail": text}, status_code=503, headers={"Retry-After": str(retry)})

    app.add_exception_handler(Overloaded, overloaded)
    app.add_exception_handler(TimedOut, overloaded)

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Any:
        response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        if not request.url.path.startswith("/static/") and request.url.path != "/":
            response.headers["Cache-Control"] = "no-store"  # answers hold people's data
        return response

    return BodyLimit(app, settings.max_body_bytes)
