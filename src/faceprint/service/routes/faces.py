"""What a photo holds and who it is: embed, verify, identify (scope `read`)."""

from __future__ import annotations

from fastapi import APIRouter, File, Form, Query, Request, UploadFile

from faceprint.service.auth import needs
from faceprint.service.routes import engine, read
from faceprint.service.schemas import EmbedResponse, IdentifyResponse, VerifyResponse

router = APIRouter(tags=["faces"])


@router.post("/embed", response_model=EmbedResponse, **needs("read", 400, 413))
async def embed(request: Request, image: UploadFile = File(...)) -> EmbedResponse:
    """Every face in the photo: box, detector score, embedding (unit vector)."""
    e = engine(request)
    return await e.run(e.embed, *await read(image))


@router.post("/verify", response_model=VerifyResponse, **needs("read", 400, 413))
async def verify(request: Request, image1: UploadFile = File(...), image2: UploadFile = File(...),
                 threshold: float = Form(None, ge=0, le=4)) -> VerifyResponse:  # not given: the model's
    """The best face of each photo: same person when their distance is below the threshold (the model's); 422 when
    a photo has no face."""
    e = engine(request)
    return await e.run(e.verify, await read(image1), await read(image2), threshold)


@router.post("/identify", response_model=IdentifyResponse, **needs("read", 400, 404, 413))
async def identify(request: Request, image: UploadFile = File(...),
                   k: int = Query(5, ge=1, le=100)) -> IdentifyResponse:
    """Who is each face in the photo: top-k identities, or "unknown" (open set, the model's threshold for this
    gallery's number of people); 404 while the gallery is empty."""
    e = engine(request)
    return await e.run(e.identify, *await read(image), k)
