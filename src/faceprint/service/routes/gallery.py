"""The gallery as a whole: what a request may carry and what the key may do (`read`), the audit trail and erasing
face crops (`admin`)."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse

from faceprint.applications.audit import parse_since, stamp
from faceprint.service.auth import needs
from faceprint.service.routes import actor, engine
from faceprint.service.schemas import AuditLog, CropsForgotten, Limits

router = APIRouter(tags=["gallery"])


@router.get("/limits", response_model=Limits, **needs("read"))
async def limits(request: Request) -> Limits:
    """What one request may carry (the page splits big uploads by it), whether people have thumbnails, and what this
    key may do (the page hides the rest)."""
    e, caller = engine(request), request.state.caller
    return await e.run(e.limits, caller.scope, caller.label)


@router.get("/audit", response_model=AuditLog, **needs("admin"))
async def audit(request: Request,
                since: str | None = Query(None, max_length=40, json_schema_extra={"format": "date-time"},
                                          description="changes at or after this time (RFC 3339)"),
                within: str | None = Query(None, pattern=r"^[0-9]{1,9}[smhdw]$",
                                           description="changes within this age: 30m, 12h, 7d, 2w"),
                last: int = Query(1000, ge=1, le=100_000)) -> AuditLog:
    """Who changed the gallery, when and how, oldest first: the newest `last` changes at or after `since` or within
    `within` (the later of the two, when both are given)."""
    bounds = [_rfc3339(since)] if since is not None else []
    bounds += [parse_since(within)] if within else []
    e = engine(request)
    return await e.run(e.audit, max(bounds) if bounds else None, last)


def _rfc3339(text: str) -> str:
    """An RFC 3339 date-time as the trail's timestamp (422 for anything else, numbers included)."""
    t = text.strip().upper().replace(":60", ":59")  # a leap second: the second before it
    try:
        if "T" not in t and " " not in t:
            raise ValueError
        at = datetime.fromisoformat(t)
    except ValueError:
        raise HTTPException(422, f"since: {text!r} is not an RFC 3339 date-time (2026-12-07T09:30:00Z)") from None
    return stamp(at if at.tzinfo else at.replace(tzinfo=UTC))


@router.post("/gallery/forget-crops", response_model=CropsForgotten, **needs("admin"))
async def forget_crops(request: Request) -> CropsForgotten:
    """Erase every stored face crop and keep none from now on (thumbnails go with them; moving the gallery to
    another model then needs the original photos)."""
    e = engine(request)
    return await e.run(e.forget_crops, actor(request))


@router.get("/openapi.json", include_in_schema=False, **needs("read"))
async def openapi(request: Request) -> JSONResponse:
    """The contract clients are generated from (every route's scope under `x-faceprint-scope`)."""
    return JSONResponse(request.app.openapi())
