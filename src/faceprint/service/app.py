"""`faceprint serve`: embed, verify, enroll, identify, list and delete people over HTTP (FastAPI on uvicorn).

Security model: every route but `GET /health` needs an `X-API-Key` header matching one configured key (compared in
constant time, never logged); no route reads a path from the client (uploads are decoded in memory; a file name is
only a label); bodies over `max_body_bytes` and images over `max_pixels` get 413 before any decoding; CORS is off.
All model and gallery work runs on one worker thread (the CPU has few cores; one SQLite connection lives there), with
a per-request timeout; the gallery is the same one the CLI uses (a SQLite file, safe beside other processes thanks to
WAL, or a PostgreSQL database that several replicas share).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import (
    Depends,
    FastAPI,
    File,
    Form,
    HTTPException,
    Query,
    Request,
    UploadFile,
)
from fastapi.responses import JSONResponse, Response
from fastapi.security import APIKeyHeader
from pydantic import BaseModel, Field

from faceprint import __version__
from faceprint.data.images import ImageReadError, ImageTooLargeError, decode_image
from faceprint.errors import FaceprintError, InputError
from faceprint.service.piles import MAX_FACES, PileError, Piles

log = logging.getLogger("faceprint.serve")
LOOPBACK = ("127.0.0.1", "::1", "localhost")


@dataclass
class ServiceSettings:
    gallery: str | Path  # a SQLite file or a postgresql:// URL
    model: str | None = None
    api_keys: list[str] = field(default_factory=list)
    max_body_bytes: int = 20 * 2**20
    max_pixels: int = 40_000_000
    timeout_s: float = 60.0
    max_files: int = 16
    detector: str = "mtcnn"  # "mtcnn" or "yunet"
    thumbnails: bool = True  # serve 160 px face thumbnails of the gallery's stored crops to key holders


class Face(BaseModel):
    box: list[float]
    score: float
    embedding: list[float] | None = None


class EmbedResponse(BaseModel):
    model: str
    faces: list[Face]


class VerifyResponse(BaseModel):
    distance: float
    threshold: float
    same: bool
    distance_kind: str
    boxes: list[list[float]]


class EnrollResponse(BaseModel):
    name: str
    added: int
    already_present: int
    skipped: list[str]


class Candidate(BaseModel):
    identity: str
    distance: float


class Identified(BaseModel):
    box: list[float]
    identity: str
    distance: float
    threshold: float
    candidates: list[Candidate]


class IdentifyResponse(BaseModel):
    faces: list[Identified]


class Person(BaseModel):
    name: str
    faces: int


class PeopleResponse(BaseModel):
    people: list[Person]


class DeleteResponse(BaseModel):
    name: str
    faces_removed: int


class Limits(BaseModel):
    """What one request may carry: the page splits big uploads by these."""

    max_files: int
    max_body_bytes: int
    max_pixels: int
    model: str
    thumbnails: bool  # whether people have face thumbnails (the gallery keeps face crops, and serving them is on)


class PileCreated(BaseModel):
    pile: str


class PileAdded(BaseModel):
    photos: int  # photos in this request that were read
    faces: int  # faces found in them
    total_faces: int  # faces in the pile now
    skipped: list[str]


class PileFaceOut(BaseModel):
    id: int
    photo: str
    box: list[float]
    name: str | None  # the gallery's name for this face, when it recognises it


class PileCluster(BaseModel):
    offer: str | None  # the name most of its faces are recognised as
    faces: list[PileFaceOut]


class PileClusters(BaseModel):
    clusters: list[PileCluster]
    open_faces: int
    enrolled_faces: int
    threshold: float


class PileEnroll(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    faces: list[int] = Field(min_length=1, max_length=MAX_FACES)
    dropped: list[int] = Field(default_factory=list, max_length=MAX_FACES)


class Health(BaseModel):
    status: str
    version: str
    model: str


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


class Engine:
    """The model, the detector and the gallery, used from one thread only."""

    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="faceprint-engine")
        self._state: dict[str, Any] = {}
        self.piles = Piles()

    def start(self) -> str:
        return self.pool.submit(self._load).result()

    def _load(self) -> str:
        import faceprint
        from faceprint.pipeline import Pipeline
        from faceprint.utils.runtime import set_threads, tune_malloc

        import sklearn.cluster  # noqa: F401  (1.4 s to import: paid at start, not by the first pile sorted)

        tune_malloc()
        set_threads(None)
        model = faceprint.load(self.settings.model)
        every = Pipeline(model, select="all", detector=self.settings.detector)
        best = Pipeline(model, select="best", detector=every.aligner.detector)  # one detector for both
        self._state.update(model=model, pipe_all=every, pipe_best=best,
                           gallery=faceprint.open_gallery(self.settings.gallery, model, create=True))
        return model.fingerprint

    async def run(self, fn: Any, *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        try:
            return await asyncio.wait_for(loop.run_in_executor(self.pool, fn, *args), self.settings.timeout_s)
        except TimeoutError:
            raise HTTPException(503, f"busy: the request took over {self.settings.timeout_s:g} s") from None

    # -- work, on the engine thread ------------------------------------------------------------------------------
    def faces(self, data: bytes, name: str, best: bool) -> tuple[list[Any], np.ndarray]:
        image = decode_image(data, name, self.settings.max_pixels)
        pipe = self._state["pipe_best" if best else "pipe_all"]
        found = pipe.faces(image, name)
        return found, pipe.embed_faces(found)

    def embed(self, data: bytes, name: str) -> EmbedResponse:
        found, emb = self.faces(data, name, best=False)
        return EmbedResponse(model=self._state["model"].fingerprint, faces=[
            Face(box=_box(f.face.box), score=round(f.face.score, 5), embedding=[float(v) for v in e])
            for f, e in zip(found, emb)])

    def verify(self, a: tuple[bytes, str], b: tuple[bytes, str], threshold: float | None) -> VerifyResponse:
        from faceprint.thresholds import verification_threshold

        model, pipe = self._state["model"], self._state["pipe_best"]
        sides = []
        for data, name in (a, b):
            found, emb = self.faces(data, name, best=True)
            if not found:
                raise HTTPException(422, f"{name}: no face found")
            sides.append((found[0], emb[0]))
        t = verification_threshold(model, threshold)
        d = float(pipe.distances(sides[0][1], sides[1][1])[0])
        return VerifyResponse(distance=d, threshold=t, same=bool(pipe.same(d, t)), distance_kind=model.config.distance,
                              boxes=[_box(s[0].face.box) for s in sides])

    def enroll(self, name: str, uploads: list[tuple[bytes, str]]) -> EnrollResponse:
        from faceprint.detection.crops import face_crop

        rows, skipped = [], []
        keep = self._state["gallery"].crops_policy == "keep"
        pipe = self._state["pipe_best"]
        for data, label in uploads:
            try:
                image = decode_image(data, label, self.settings.max_pixels)
            except ImageTooLargeError:
                raise
            except ImageReadError as e:
                skipped.append(f"{label}: {e.reason}")
                continue
            found = pipe.faces(image, label)
            if not found:
                skipped.append(f"{label}: no face found")
                continue
            rows.append((name, f"upload:{label}"[:200], hashlib.sha256(data).hexdigest(), 0, found[0],
                         face_crop(image, found[0].face) if keep else None))
        if rows:  # the request's faces through the network together
            emb = pipe.embed_faces([r[4] for r in rows])
            rows = [(*r[:4], e, r[5]) for r, e in zip(rows, emb)]
        added, present = self._state["gallery"].enroll(rows) if rows else (0, 0)
        return EnrollResponse(name=name, added=added, already_present=present, skipped=skipped)

    def identify(self, data: bytes, name: str, k: int) -> IdentifyResponse:
        from faceprint.thresholds import identification_threshold

        g, model = self._state["gallery"], self._state["model"]
        found, emb = self.faces(data, name, best=False)
        if not found:
            return IdentifyResponse(faces=[])
        threshold, _ = identification_threshold(model, None, len(g.identities()))
        results = g.identify(emb, threshold, k=k, index=self._index())
        return IdentifyResponse(faces=[
            Identified(box=_box(f.face.box), identity=r.decision, distance=r.distance, threshold=r.threshold,
                       candidates=[Candidate(identity=c.identity, distance=c.distance) for c in r.candidates])
            for f, r in zip(found, results)])

    def _index(self) -> Any:
        """The search index, rebuilt only when the gallery changed (here or in another process)."""
        from faceprint.search import make_index

        g = self._state["gallery"]
        emb, _, _ = g.matrix()
        if self._state.get("index_of") is not emb:
            self._state["index"] = make_index(emb, g.distance) if len(emb) else None
            self._state["index_of"] = emb
        return self._state["index"]

    def people(self) -> PeopleResponse:
        return PeopleResponse(people=[Person(name=n, faces=c) for n, c in self._state["gallery"].identities()])

    def delete(self, name: str) -> DeleteResponse:
        return DeleteResponse(name=name, faces_removed=self._state["gallery"].remove(name))

    def limits(self) -> Limits:
        st = self.settings
        return Limits(max_files=st.max_files, max_body_bytes=st.max_body_bytes, max_pixels=st.max_pixels,
                      model=self._state["model"].fingerprint,
                      thumbnails=st.thumbnails and self._state["gallery"].crops_policy == "keep")

    def portrait(self, name: str) -> bytes | None:
        from faceprint.detection.crops import thumbnail

        g = self._state["gallery"]
        crop = g.portrait(name) if self.settings.thumbnails else None
        if crop is None and name not in {n for n, _ in g.identities()}:  # read the people only when no crop is found
            raise HTTPException(404, f"no person {name!r} in the gallery")
        return None if crop is None else thumbnail(crop)

    # -- piles: photos to sort into people (the web page's "sort a pile") ----------------------------------------
    def pile_new(self) -> PileCreated:
        return PileCreated(pile=self.piles.new().id)

    def pile_add(self, pile_id: str, uploads: list[tuple[bytes, str]]) -> PileAdded:
        from faceprint.detection.crops import face_crop, thumbnail
        from faceprint.service.piles import PileFace

        pile = self.piles.get(pile_id)
        pipe, skipped, read, new = self._state["pipe_all"], [], 0, 0
        todo: list[tuple[str, str, np.ndarray, list]] = []
        for data, label in uploads:
            sha = hashlib.sha256(data).hexdigest()
            if sha in pile.shas:
                skipped.append(f"{label}: already in this pile")
                continue
            try:  # one bad or oversized photo is skipped with its reason: the rest of the pile goes on
                image = decode_image(data, label, self.settings.max_pixels)
            except ImageReadError as e:
                skipped.append(f"{label}: {e.reason}")
                continue
            read += 1
            found = pipe.faces(image, label)
            if not found:
                skipped.append(f"{label}: no face found")
                continue
            if len(pile.faces) + sum(len(t[3]) for t in todo) + len(found) > MAX_FACES:
                skipped.append(f"{label}: the pile is full ({MAX_FACES} faces); sort and enrol it, then start another")
                continue
            pile.shas.add(sha)
            todo.append((label, sha, image, found))
        # every face of the request through the network at once: one photo at a time it ran 6x slower
        emb = iter(pipe.embed_faces([f for *_, found in todo for f in found]) if todo else [])
        for label, sha, image, found in todo:
            for i, f in enumerate(found):
                crop = face_crop(image, f.face)
                pile.faces.append(PileFace(len(pile.faces), label, sha, i, _box(f.face.box), next(emb), crop,
                                           thumbnail(crop)))
                new += 1
        pile.photos += read
        return PileAdded(photos=read, faces=new, total_faces=len(pile.faces), skipped=skipped)

    def pile_clusters(self, pile_id: str) -> PileClusters:
        from faceprint.applications.clustering import cluster
        from faceprint.service.piles import sort_pile
        from faceprint.thresholds import cluster_threshold, identification_threshold

        pile, model, g = self.piles.get(pile_id), self._state["model"], self._state["gallery"]
        faces = pile.open_faces()
        t, _ = cluster_threshold(model, None)
        if not faces:
            return PileClusters(clusters=[], open_faces=0, enrolled_faces=len(pile.faces), threshold=t)
        emb = np.stack([f.embedding for f in faces])
        labels = cluster(emb, threshold=t, distance=model.distance, groups=[f.sha for f in faces]).labels
        known: list[str | None] = [None] * len(faces)
        people = len(g.identities())
        if people:
            threshold, _ = identification_threshold(model, None, people)
            known = [None if r.decision == "unknown" else r.decision
                     for r in g.identify(emb, threshold, k=1, index=self._index())]
        return PileClusters(clusters=sort_pile(labels, faces, known), open_faces=len(faces),
                            enrolled_faces=len(pile.faces) - len(faces), threshold=t)

    def pile_thumbnail(self, pile_id: str, face_id: int) -> bytes:
        return self.piles.get(pile_id).face(face_id).thumbnail

    def pile_enroll(self, pile_id: str, request: PileEnroll) -> EnrollResponse:
        pile, name = self.piles.get(pile_id), request.name
        faces = [pile.face(i) for i in dict.fromkeys(request.faces)]
        dropped = [pile.face(i) for i in dict.fromkeys(request.dropped)]
        skipped = [f"{f.photo}: enrolled as {f.enrolled_as!r} already" for f in faces if f.enrolled_as is not None]
        skipped += [f"{f.photo}: dropped from {name!r} before" for f in faces if name in f.refused]
        take = [f for f in faces if f.enrolled_as is None and name not in f.refused]
        keep = self._state["gallery"].crops_policy == "keep"
        rows = [(name, f"upload:{f.photo}"[:200], f.sha, f.index, f.embedding, f.crop if keep else None) for f in take]
        added, present = self._state["gallery"].enroll(rows) if rows else (0, 0)
        for f in take:
            f.enrolled_as = name
        for f in dropped:
            f.refused.add(name)
        return EnrollResponse(name=name, added=added, already_present=present, skipped=skipped)

    def pile_drop(self, pile_id: str) -> None:
        self.piles.drop(pile_id)

    def close(self) -> None:
        if "gallery" in self._state:
            self.pool.submit(self._state["gallery"].close).result()
        self.pool.shutdown()


WEB = Path(__file__).with_name("web")
STATIC = {"index.html": "text/html; charset=utf-8", "app.js": "text/javascript; charset=utf-8",
          "app.css": "text/css; charset=utf-8", "icon.svg": "image/svg+xml"}
# No inline script or style, nothing from elsewhere, no framing; images from the service itself or blob: URLs the
# page makes from the thumbnails it fetched with its key.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; "
                               "connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


def _static(name: str) -> Response:
    if name not in STATIC:  # a fixed list: no path from the client ever reaches the file system
        raise HTTPException(404, "not found")
    return Response((WEB / name).read_bytes(), media_type=STATIC[name], headers={"Cache-Control": "no-cache"})


def _box(box: np.ndarray) -> list[float]:
    return [round(float(v), 1) for v in box]


def create_app(settings: ServiceSettings, engine: Engine | None = None) -> Any:
    """The ASGI app (FastAPI wrapped in the body-size limit). Keys must be set unless the caller allowed no auth."""
    engine = engine or Engine(settings)
    fingerprint = engine.start()
    app = FastAPI(title="faceprint", version=__version__, openapi_url=None, docs_url=None, redoc_url=None,
                  description="FaceNet embeddings: verification, identification and a gallery of people.")
    key_header = APIKeyHeader(name="X-API-Key", auto_error=False)
    keys = [k.encode() for k in settings.api_keys]

    def require_key(key: str | None = Depends(key_header)) -> None:
        if not keys:
            return  # started with --insecure-no-auth, on loopback only
        given = (key or "").encode()
        ok = False
        for k in keys:  # every key compared, in constant time: neither timing nor order tells which one matched
            ok |= hmac.compare_digest(given, k)
        if not ok:
            raise HTTPException(401, "missing or wrong X-API-Key", headers={"WWW-Authenticate": "X-API-Key"})

    auth = [Depends(require_key)]

    async def read(upload: UploadFile) -> tuple[bytes, str]:
        return await upload.read(), (upload.filename or "upload")[:120]

    @app.exception_handler(ImageTooLargeError)
    async def too_large(_: Request, e: ImageTooLargeError) -> JSONResponse:
        return JSONResponse({"detail": f"{e.path}: {e.reason}"}, status_code=413)

    @app.exception_handler(ImageReadError)
    async def bad_image(_: Request, e: ImageReadError) -> JSONResponse:
        return JSONResponse({"detail": f"{e.path}: {e.reason}"}, status_code=400)

    from faceprint.applications.identification import GalleryError

    @app.exception_handler(GalleryError)
    async def gallery_error(_: Request, e: GalleryError) -> JSONResponse:
        msg = str(e)
        return JSONResponse({"detail": msg}, status_code=404 if "no identity" in msg or "is empty" in msg else 409)

    @app.exception_handler(FaceprintError)
    async def refused(_: Request, e: FaceprintError) -> JSONResponse:
        return JSONResponse({"detail": str(e).splitlines()[0] if str(e) else "bad request"}, status_code=400)

    @app.exception_handler(PileError)
    async def pile_error(_: Request, e: PileError) -> JSONResponse:
        return JSONResponse({"detail": str(e)}, status_code=404)

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Any:
        response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        if not request.url.path.startswith("/static/") and request.url.path != "/":
            response.headers["Cache-Control"] = "no-store"  # answers hold people's data
        return response

    # -- the web page: the only things served without a key, and they hold no data --------------------------------
    @app.get("/", include_in_schema=False)
    async def page() -> Response:
        return _static("index.html")

    @app.get("/static/{name}", include_in_schema=False)
    async def static(name: str) -> Response:
        return _static(name)

    @app.get("/health", response_model=Health)
    async def health() -> Health:
        return Health(status="ok", version=__version__, model=fingerprint)

    @app.get("/openapi.json", dependencies=auth, include_in_schema=False)
    async def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.post("/embed", response_model=EmbedResponse, dependencies=auth)
    async def embed(image: UploadFile = File(...)) -> EmbedResponse:
        """Every face in the photo: box, detector score, embedding (unit vector)."""
        return await engine.run(engine.embed, *await read(image))

    @app.post("/verify", response_model=VerifyResponse, dependencies=auth)
    async def verify(image1: UploadFile = File(...), image2: UploadFile = File(...),
                     threshold: float | None = Form(None, ge=0, le=4)) -> VerifyResponse:
        """The best face of each photo: same person when their distance is below the threshold (the model's)."""
        return await engine.run(engine.verify, await read(image1), await read(image2), threshold)

    @app.post("/enroll", response_model=EnrollResponse, dependencies=auth)
    async def enroll(name: str = Form(..., min_length=1, max_length=200),
                     images: list[UploadFile] = File(...)) -> EnrollResponse:
        """Add the best face of each photo to the gallery under NAME (idempotent: the same photo twice adds once)."""
        if len(images) > settings.max_files:
            raise HTTPException(413, f"at most {settings.max_files} images per request")
        if not name.strip() or any(ord(c) < 32 for c in name):
            raise HTTPException(400, "name must be printable and not blank")
        return await engine.run(engine.enroll, name.strip(), [await read(u) for u in images])

    @app.post("/identify", response_model=IdentifyResponse, dependencies=auth)
    async def identify(image: UploadFile = File(...), k: int = Query(5, ge=1, le=100)) -> IdentifyResponse:
        """Who is each face in the photo: top-k identities, or "unknown" (open set, the model's threshold for this
        gallery's number of people)."""
        return await engine.run(engine.identify, *await read(image), k)

    @app.get("/people", response_model=PeopleResponse, dependencies=auth)
    async def people() -> PeopleResponse:
        return await engine.run(engine.people)

    @app.delete("/people/{name:path}", response_model=DeleteResponse, dependencies=auth)
    async def delete(name: str) -> DeleteResponse:
        """Remove a person and all their faces."""
        if name.endswith("/thumbnail"):
            raise HTTPException(405, "a thumbnail cannot be deleted: delete the person")
        return await engine.run(engine.delete, name)

    @app.get("/people/{name:path}/thumbnail", dependencies=auth, response_class=Response,
             responses={200: {"content": {"image/jpeg": {}}}, 404: {}})
    async def portrait(name: str) -> Response:
        """A square JPEG of the person's first face with a stored crop; 404 when the gallery keeps none."""
        jpeg = await engine.run(engine.portrait, name)
        if jpeg is None:
            raise HTTPException(404, f"no face crop stored for {name!r}")
        return Response(jpeg, media_type="image/jpeg")

    @app.get("/limits", response_model=Limits, dependencies=auth)
    async def limits() -> Limits:
        """What one request may carry (the page splits big uploads by it) and whether people have thumbnails."""
        return await engine.run(engine.limits)

    @app.post("/piles", response_model=PileCreated, dependencies=auth)
    async def pile_new() -> PileCreated:
        """Start a pile of photos to sort into people (kept in memory, for two hours of no use)."""
        return await engine.run(engine.pile_new)

    @app.post("/piles/{pile}/photos", response_model=PileAdded, dependencies=auth)
    async def pile_add(pile: str, images: list[UploadFile] = File(...)) -> PileAdded:
        """Detect and embed every face of these photos into the pile (at most max_files a request)."""
        if len(images) > settings.max_files:
            raise HTTPException(413, f"at most {settings.max_files} images per request")
        return await engine.run(engine.pile_add, pile, [await read(u) for u in images])

    @app.get("/piles/{pile}/clusters", response_model=PileClusters, dependencies=auth)
    async def pile_clusters(pile: str) -> PileClusters:
        """The pile's faces not yet enrolled, clustered as `faceprint cluster` does (two faces of one photo never
        together), largest cluster first; each face with the gallery's name when it recognises it."""
        return await engine.run(engine.pile_clusters, pile)

    @app.get("/piles/{pile}/faces/{face}/thumbnail", dependencies=auth, response_class=Response,
             responses={200: {"content": {"image/jpeg": {}}}, 404: {}})
    async def pile_thumbnail(pile: str, face: int) -> Response:
        return Response(await engine.run(engine.pile_thumbnail, pile, face), media_type="image/jpeg")

    @app.post("/piles/{pile}/enroll", response_model=EnrollResponse, dependencies=auth)
    async def pile_enroll(pile: str, request: PileEnroll) -> EnrollResponse:
        """Enrol these faces of the pile as NAME; `dropped` faces (taken out of the cluster by the user) are never
        offered as NAME again in this pile."""
        request.name = request.name.strip()
        if not request.name or any(ord(c) < 32 for c in request.name):
            raise HTTPException(400, "name must be printable and not blank")
        return await engine.run(engine.pile_enroll, pile, request)

    @app.delete("/piles/{pile}", dependencies=auth)
    async def pile_drop(pile: str) -> dict:
        await engine.run(engine.pile_drop, pile)
        return {"pile": pile, "dropped": True}

    @app.on_event("shutdown")
    async def shutdown() -> None:
        engine.close()

    return BodyLimit(app, settings.max_body_bytes)


def read_api_keys(env_value: str | None, key_file: str | None) -> list[str]:
    """Keys from FACEPRINT_API_KEYS (comma-separated) and/or a file (one per line; # comments). Short keys are
    refused: they are guessable."""
    keys = [k.strip() for k in (env_value or "").split(",") if k.strip()]
    if key_file:
        for line in Path(key_file).read_text().splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                keys.append(line)
    short = [k for k in keys if len(k) < 16]
    if short:
        raise InputError(f"{len(short)} API key(s) shorter than 16 characters: use long random keys "
                         "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))')")
    return keys
