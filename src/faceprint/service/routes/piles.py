"""Piles: photos a person uploads to be sorted into people, the web page's "sort a pile" (scope `write`: a pile
exists to be enrolled)."""

from __future__ import annotations

from fastapi import APIRouter, Request, UploadFile
from fastapi.responses import Response

from faceprint.service.auth import needs
from faceprint.service.routes import actor, check_files, check_name, engine, image_files, read
from faceprint.service.routes.people import JPEG
from faceprint.service.schemas import EnrollResponse, PileAdded, PileClusters, PileCreated, PileDropped, PileEnroll

router = APIRouter(tags=["piles"])  # full paths, no prefix: see auth.served_routes


@router.post("/piles", response_model=PileCreated, **needs("write"))
async def pile_new(request: Request) -> PileCreated:
    """Start a pile of photos to sort into people (kept in memory, for two hours of no use)."""
    e = engine(request)
    return await e.run(e.pile_new)


@router.post("/piles/{pile}/photos", response_model=PileAdded, **needs("write", 400, 404, 413))
async def pile_add(request: Request, pile: str, images: list[UploadFile] = image_files()) -> PileAdded:
    """Detect and embed every face of these photos into the pile (at most max_files a request)."""
    check_files(request, len(images))
    e = engine(request)
    return await e.run(e.pile_add, pile, [await read(u) for u in images])


@router.get("/piles/{pile}/clusters", response_model=PileClusters, **needs("write", 404))
async def pile_clusters(request: Request, pile: str) -> PileClusters:
    """The pile's faces not yet enrolled, clustered as `faceprint cluster` does (two faces of one photo never
    together), largest cluster first; each face with the gallery's name when it recognises it."""
    e = engine(request)
    return await e.run(e.pile_clusters, pile)


@router.get("/piles/{pile}/faces/{face}/thumbnail", response_class=Response, **needs("write", 404, ok=JPEG))
async def pile_thumbnail(request: Request, pile: str, face: int) -> Response:
    e = engine(request)
    return Response(await e.run(e.pile_thumbnail, pile, face), media_type="image/jpeg")


@router.post("/piles/{pile}/enroll", response_model=EnrollResponse, **needs("write", 400, 404, 409))
async def pile_enroll(request: Request, pile: str, body: PileEnroll) -> EnrollResponse:
    """Enroll these faces of the pile as NAME; `dropped` faces (taken out of the cluster by the user) are never
    offered as NAME again in this pile."""
    body.name = check_name(body.name)
    e = engine(request)
    return await e.run(e.pile_enroll, pile, body, actor(request))


@router.delete("/piles/{pile}", response_model=PileDropped, **needs("write", 404))
async def pile_drop(request: Request, pile: str) -> PileDropped:
    """Forget the pile and its faces now (the page does so on a new sort and on signing out)."""
    e = engine(request)
    await e.run(e.pile_drop, pile)
    return PileDropped(pile=pile, dropped=True)
