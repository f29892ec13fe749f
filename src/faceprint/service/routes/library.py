"""The photo library (`faceprint serve --library L.db`): its people, their faces and photos (`read`), and the
corrections (`write`): name, merge, move a face out, say who a face is, hide. Every correction is recorded in the
audit trail with the key's label, as the CLI's are with the user's."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from faceprint.service.auth import needs
from faceprint.service.routes import actor, engine
from faceprint.service.routes.people import JPEG
from faceprint.service.schemas import (
    LibraryChanged,
    LibraryFaces,
    LibraryHide,
    LibraryMerge,
    LibraryName,
    LibraryPeople,
    LibraryRemove,
)

router = APIRouter(tags=["library"])
PHOTO = {"content": {"image/jpeg": {}}, "description": "The photo as shown (EXIF orientation applied), as a JPEG "
                                                       "at most 1600 pixels across"}
PAGE = Query(100, ge=1, le=500)


@router.get("/library/people", response_model=LibraryPeople, **needs("read", 404))
async def people(request: Request, offset: int = Query(0, ge=0), limit: int = PAGE,
                 hidden: bool = False) -> LibraryPeople:
    """A page of the people: named first (by name), then suggestions by size; hidden ones only with hidden=true."""
    e = engine(request)
    return await e.run(e.lib_people, offset, limit, hidden)


@router.get("/library/people/{person}/faces", response_model=LibraryFaces, **needs("read", 404))
async def person_faces(request: Request, person: int, offset: int = Query(0, ge=0), limit: int = PAGE
                       ) -> LibraryFaces:
    e = engine(request)
    return await e.run(e.lib_faces, person, offset, limit)


@router.get("/library/unassigned", response_model=LibraryFaces, **needs("read", 404))
async def unassigned(request: Request, offset: int = Query(0, ge=0), limit: int = PAGE) -> LibraryFaces:
    """The faces in no person: the queue to work through."""
    e = engine(request)
    return await e.run(e.lib_faces, None, offset, limit)


@router.get("/library/faces/{face}/thumbnail", response_class=Response, **needs("read", 404, ok=JPEG))
async def face_thumbnail(request: Request, face: int) -> Response:
    e = engine(request)
    return Response(await e.run(e.lib_thumbnail, face), media_type="image/jpeg")


@router.get("/library/faces/{face}/photo", response_class=Response, **needs("read", 404, ok=PHOTO))
async def face_photo(request: Request, face: int) -> Response:
    """The photo the face is in (the client names a face, never a path)."""
    e = engine(request)
    return Response(await e.run(e.lib_photo, face), media_type="image/jpeg")


@router.post("/library/people/{person}/name", response_model=LibraryChanged, **needs("write", 400, 404, 409))
async def name(request: Request, person: int, body: LibraryName) -> LibraryChanged:
    """Name a suggestion, or rename a person (409 when another person has that name: merge them instead)."""
    e = engine(request)
    return await e.run(e.lib_name, person, body.name, actor(request))


@router.post("/library/merge", response_model=LibraryChanged, **needs("write", 400, 404))
async def merge(request: Request, body: LibraryMerge) -> LibraryChanged:
    """Merge people into the first: it keeps its name, else the first name among the others."""
    e = engine(request)
    return await e.run(e.lib_merge, body.people, actor(request))


@router.post("/library/faces/{face}/remove", response_model=LibraryChanged, **needs("write", 400, 404))
async def remove(request: Request, face: int, body: LibraryRemove) -> LibraryChanged:
    """Move a face out of its person (never offered as them again), or mark it as not a face."""
    e = engine(request)
    return await e.run(e.lib_remove, face, body.not_a_face, actor(request))


@router.post("/library/faces/{face}/assign", response_model=LibraryChanged, **needs("write", 400, 404))
async def assign(request: Request, face: int, body: LibraryName) -> LibraryChanged:
    """Say who a face is: it goes to the person of that name (made if no one has it)."""
    e = engine(request)
    return await e.run(e.lib_assign, face, body.name, actor(request))


@router.post("/library/people/{person}/hide", response_model=LibraryChanged, **needs("write", 400, 404))
async def hide(request: Request, person: int, body: LibraryHide) -> LibraryChanged:
    e = engine(request)
    return await e.run(e.lib_hide, person, body.hidden, actor(request))
