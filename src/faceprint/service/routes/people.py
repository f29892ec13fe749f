"""The gallery's people: list and thumbnails (`read`), enroll (`write`), delete (`admin`)."""

from __future__ import annotations

from fastapi import APIRouter, Form, HTTPException, Request, UploadFile
from fastapi.responses import Response

from faceprint.service.auth import needs
from faceprint.service.routes import actor, check_files, check_name, engine, image_files, read
from faceprint.service.schemas import NAME_PATTERN, DeleteResponse, EnrollResponse, PeopleResponse

router = APIRouter(tags=["people"])
JPEG = {"content": {"image/jpeg": {}}, "description": "A square JPEG"}


@router.post("/enroll", response_model=EnrollResponse, **needs("write", 400, 409, 413))
async def enroll(request: Request, name: str = Form(..., min_length=1, max_length=200, pattern=NAME_PATTERN),
                 images: list[UploadFile] = image_files()) -> EnrollResponse:
    """Add the best face of each photo to the gallery under NAME (idempotent: the same photo twice adds once; 409
    when a photo is enrolled under another name, and then nothing of the request is)."""
    check_files(request, len(images))
    name = check_name(name)
    e = engine(request)
    return await e.run(e.enroll, name, [await read(u) for u in images], actor(request))


@router.get("/people", response_model=PeopleResponse, **needs("read"))
async def people(request: Request) -> PeopleResponse:
    e = engine(request)
    return await e.run(e.people)


@router.get("/people/{name:path}/thumbnail", response_class=Response, **needs("read", 404, ok=JPEG))
async def portrait(request: Request, name: str) -> Response:
    """A square JPEG of the person's first face with a stored crop; 404 when the gallery keeps none."""
    e = engine(request)
    jpeg = await e.run(e.portrait, name)
    if jpeg is None:
        raise HTTPException(404, f"no face crop stored for {name!r}")
    return Response(jpeg, media_type="image/jpeg")


@router.delete("/people/{name:path}", response_model=DeleteResponse, **needs("admin", 404, 405))
async def delete(request: Request, name: str) -> DeleteResponse:
    """Remove a person and all their faces."""
    if name.endswith("/thumbnail"):
        raise HTTPException(405, "a thumbnail cannot be deleted: delete the person", headers={"Allow": "GET, HEAD"})
    e = engine(request)
    return await e.run(e.delete, name, actor(request))
