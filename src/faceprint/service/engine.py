"""The service's engine: the model, the detector and the gallery, used from one worker thread, behind a bounded queue.

Why one thread: the CPU has few cores and the network uses them all; one SQLite connection lives there. Why a bounded
queue: with an unbounded one a slow client delays everyone and memory grows with the backlog. So:
- at most `max_queue` requests wait or run at once; past that a request gets 503 with Retry-After at once;
- each request has a deadline (`timeout_s`, counted from its arrival, queueing included); past it the client gets
  503, and the work stops at its next checkpoint (between photos, before the network, before the gallery write): a
  job whose deadline passed while it queued never starts, so a timed-out request frees the worker instead of
  holding it;
- a write that has begun committing is waited for, never abandoned: a 503 means nothing of that request was
  written, a 200 that all of it was.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from faceprint.applications.audit import Actor
from faceprint.data.images import ImageReadError, ImageTooLargeError, decode_image
from faceprint.detection.registry import DEFAULT_DETECTOR
from faceprint.errors import InputError
from faceprint.service.piles import MAX_FACES, NotInPileError, Piles
from faceprint.service.schemas import (
    MAX_FILES,
    AuditEntry,
    AuditLog,
    Candidate,
    CropsForgotten,
    DeleteResponse,
    EmbedResponse,
    EnrollResponse,
    Face,
    Identified,
    IdentifyResponse,
    LibraryChanged,
    LibraryFace,
    LibraryFaces,
    LibraryPeople,
    LibraryPerson,
    Limits,
    PeopleResponse,
    Person,
    PileAdded,
    PileClusters,
    PileCreated,
    PileEnroll,
    VerifyResponse,
)


@dataclass
class ServiceSettings:
    gallery: str  # a SQLite file or a postgresql:// URL
    model: str | None = None
    api_keys: list[Any] = field(default_factory=list)  # faceprint.service.auth.ApiKey
    max_body_bytes: int = 20 * 2**20
    max_pixels: int = 40_000_000
    timeout_s: float = 60.0
    max_queue: int = 32  # requests waiting or running on the engine at once (503 with Retry-After past it)
    max_files: int = MAX_FILES
    detector: str = DEFAULT_DETECTOR  # a name in faceprint.detection.registry
    thumbnails: bool = True  # serve 160 px face thumbnails of the gallery's stored crops to key holders
    library: bool = False  # the gallery is a photo library made by `faceprint library scan`: serve its routes


class Overloaded(Exception):
    """503 with Retry-After: the queue is full, or the request ran past its deadline."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TimedOut(Exception):
    """Raised inside the worker at a checkpoint once the job's deadline passed (the client has its 503)."""


@dataclass
class Job:
    deadline: float
    lock: threading.Lock = field(default_factory=threading.Lock)
    abandoned: bool = False  # the client got its 503: stop at the next checkpoint
    committing: bool = False  # the gallery write began: the client waits for it instead


class WorkQueue:
    """One worker thread, at most `depth` jobs waiting or running, each with a deadline."""

    def __init__(self, depth: int, timeout_s: float) -> None:
        self.depth, self.timeout_s = depth, timeout_s
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="faceprint-engine")
        self.pending = 0  # jobs admitted and not finished on the worker (a job abandoned by its client included)
        self.service_s = 0.2  # running mean of a job's time on the worker: Retry-After's estimate
        self._local = threading.local()
        self._count = threading.Lock()

    def retry_after(self) -> int:
        return max(1, math.ceil(self.pending * self.service_s))

    async def run(self, fn: Any, *args: Any) -> Any:
        with self._count:
            if self.pending >= self.depth:  # shed at once: waiting would only make every client later
                raise Overloaded(f"busy: {self.pending} requests ahead; retry later", self.retry_after())
            self.pending += 1
        job = Job(time.monotonic() + self.timeout_s)
        future = asyncio.get_running_loop().run_in_executor(self.pool, self._work, job, fn, args)
        future.add_done_callback(_retrieved)
        try:
            return await asyncio.wait_for(asyncio.shield(future), self.timeout_s)
        except TimeoutError:
            with job.lock:
                job.abandoned = not job.committing
            if not job.abandoned:  # its write is under way: the answer must say what happened
                return await future
            raise Overloaded(f"busy: the request took over {self.timeout_s:g} s and was stopped",
                             self.retry_after()) from None

    def _work(self, job: Job, fn: Any, args: tuple) -> Any:
        self._local.job = job
        start = time.monotonic()
        try:
            self.checkpoint()  # its deadline may have passed while it queued: then it never starts
            return fn(*args)
        finally:
            self._local.job = None
            self.service_s = 0.8 * self.service_s + 0.2 * (time.monotonic() - start)
            with self._count:
                self.pending -= 1

    def checkpoint(self) -> None:
        """On the worker: stop here if the job's client was answered 503 or its deadline passed."""
        job = getattr(self._local, "job", None)
        if job is not None and (job.abandoned or time.monotonic() > job.deadline):
            raise TimedOut()

    @contextmanager
    def committing(self):  # type: ignore[no-untyped-def]
        """On the worker, around a gallery write: from here on the job is finished, not abandoned."""
        job = getattr(self._local, "job", None)
        if job is not None:
            with job.lock:
                if job.abandoned or time.monotonic() > job.deadline:
                    raise TimedOut()
                job.committing = True
        yield

    def submit(self, fn: Any, *args: Any) -> Any:
        """Outside any request (start, close): run on the worker and wait."""
        return self.pool.submit(fn, *args).result()

    def shutdown(self) -> None:
        self.pool.shutdown()


def _retrieved(future: asyncio.Future) -> None:
    if not future.cancelled():
        future.exception()  # an abandoned job's TimedOut is expected: not an "exception never retrieved"


class Engine:
    """The model, the detector and the gallery; every method but start/close runs on the worker thread."""

    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        self.work = WorkQueue(settings.max_queue, settings.timeout_s)
        self._state: dict[str, Any] = {}
        self.piles = Piles()

    def start(self) -> str:
        return self.work.submit(self._load)

    def _load(self) -> str:
        import faceprint
        from faceprint.pipeline import Pipeline
        from faceprint.utils.runtime import set_threads, tune_malloc

        tune_malloc()
        set_threads(None)
        model = faceprint.load(self.settings.model)
        every = Pipeline(model, select="all", detector=self.settings.detector)
        best = Pipeline(model, select="best", detector=every.aligner.detector)  # one detector for both
        if self.settings.library:
            from faceprint.applications.library import open_library

            gallery = open_library(self.settings.gallery, model.fingerprint, model.config.embedding_size,
                                   model.distance, create=False)
        else:
            gallery = faceprint.open_gallery(self.settings.gallery, model, create=True)
        self._state.update(model=model, pipe_all=every, pipe_best=best, gallery=gallery)
        return model.fingerprint

    async def run(self, fn: Any, *args: Any) -> Any:
        return await self.work.run(fn, *args)

    @property
    def gallery(self) -> Any:
        return self._state["gallery"]

    # -- work, on the engine thread ------------------------------------------------------------------------------
    def faces(self, data: bytes, name: str, best: bool) -> tuple[list[Any], np.ndarray]:
        image = decode_image(data, name, self.settings.max_pixels)
        pipe = self._state["pipe_best" if best else "pipe_all"]
        self.work.checkpoint()
        found = pipe.faces(image, name)
        self.work.checkpoint()
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
                raise NoFaceError(f"{name}: no face found")
            sides.append((found[0], emb[0]))
        t = verification_threshold(model, threshold)
        d = float(pipe.distances(sides[0][1], sides[1][1])[0])
        return VerifyResponse(distance=d, threshold=t, same=bool(pipe.same(d, t)), distance_kind=model.config.distance,
                              boxes=[_box(s[0].face.box) for s in sides])

    def enroll(self, name: str, uploads: list[tuple[bytes, str]], actor: Actor | None = None) -> EnrollResponse:
        from faceprint.detection.crops import face_crop

        rows, skipped = [], []
        keep = self.gallery.crops_policy == "keep"
        pipe = self._state["pipe_best"]
        for data, label in uploads:
            self.work.checkpoint()
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
        _some_readable(uploads, skipped, len(rows) + sum(s.endswith("no face found") for s in skipped))
        if rows:  # the request's faces through the network together
            self.work.checkpoint()
            emb = pipe.embed_faces([r[4] for r in rows])
            rows = [(*r[:4], e, r[5]) for r, e in zip(rows, emb)]
        added = present = 0
        if rows:
            with self.work.committing():
                added, present = self.gallery.enroll(rows, actor=actor)
        return EnrollResponse(name=name, added=added, already_present=present, skipped=skipped)

    def identify(self, data: bytes, name: str, k: int) -> IdentifyResponse:
        from faceprint.thresholds import identification_threshold

        g, model = self.gallery, self._state["model"]
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

        g = self.gallery
        emb, _, _ = g.matrix()
        if self._state.get("index_of") is not emb:
            self._state["index"] = make_index(emb, g.distance) if len(emb) else None
            self._state["index_of"] = emb
        return self._state["index"]

    def people(self) -> PeopleResponse:
        return PeopleResponse(people=[Person(name=n, faces=c) for n, c in self.gallery.identities()])

    def delete(self, name: str, actor: Actor | None = None) -> DeleteResponse:
        with self.work.committing():
            return DeleteResponse(name=name, faces_removed=self.gallery.remove(name, actor=actor))

    def forget_crops(self, actor: Actor | None = None) -> CropsForgotten:
        with self.work.committing():
            return CropsForgotten(erased=self.gallery.forget_crops(actor=actor))

    def audit(self, since: str | None, last: int) -> AuditLog:
        return AuditLog(entries=[AuditEntry(**r.as_dict()) for r in self.gallery.audit_log(since, last)])

    def limits(self, scope: str, label: str) -> Limits:
        st = self.settings
        return Limits(max_files=st.max_files, max_body_bytes=st.max_body_bytes, max_pixels=st.max_pixels,
                      model=self._state["model"].fingerprint,
                      thumbnails=st.thumbnails and self.gallery.crops_policy == "keep", scope=scope, label=label,
                      library=st.library)

    # -- the photo library (`serve --library`) ---------------------------------------------------------------------
    def _library(self) -> Any:
        if not self.settings.library:
            from faceprint.applications.library.store import NotFoundInLibrary

            raise NotFoundInLibrary("this service serves a gallery, not a photo library (`faceprint serve --library`)")
        return self.gallery

    def lib_people(self, offset: int, limit: int, hidden: bool) -> LibraryPeople:
        lib = self._library()
        people = lib.people(offset, limit, hidden=hidden)
        total = lib.count_people(hidden)
        s = lib.summary()
        return LibraryPeople(total=total, offset=offset, people=[LibraryPerson(**vars(p)) for p in people],
                             named=s["named"], suggested=s["suggested"], unassigned=s["unassigned"],
                             photos=s["photos"])

    def lib_faces(self, person: int | None, offset: int, limit: int) -> LibraryFaces:
        lib = self._library()
        if person is not None:
            lib._person(person)  # 404 for no such person
        total, faces = lib.faces_of(person, offset, limit)
        return LibraryFaces(total=total, offset=offset, faces=[LibraryFace(**f) for f in faces])

    def lib_thumbnail(self, face: int) -> bytes:
        from faceprint.applications.library.store import NotFoundInLibrary
        from faceprint.detection.crops import thumbnail

        crop = self._library().crop(face) if self.settings.thumbnails else None
        if crop is None:
            raise NotFoundInLibrary(f"no face image for face {face}")
        return thumbnail(crop)

    def lib_photo(self, face: int, side: int = 1600) -> bytes:
        """The photo a face is in, read from the library's folder (never a path the client gave)."""
        import io
        from pathlib import Path

        from PIL import Image

        from faceprint.applications.library.store import NotFoundInLibrary
        from faceprint.data.images import read_image

        lib = self._library()
        rel = lib.photo_of(face) if self.settings.thumbnails else None
        root = Path(lib.root).resolve()
        path = (root / rel).resolve() if rel else None
        if path is None or not path.is_relative_to(root) or not path.is_file():
            raise NotFoundInLibrary(f"no photo for face {face} (moved or gone since the last scan?)")
        im = Image.fromarray(read_image(path))
        im.thumbnail((side, side))
        buf = io.BytesIO()
        im.save(buf, format="JPEG", quality=88)
        return buf.getvalue()

    def lib_name(self, person: int, name: str, actor: Actor | None = None) -> LibraryChanged:
        with self.work.committing():
            self._library().name(person, name, actor=actor)
        return LibraryChanged(person=person, change=f"person {person} is {name}")

    def lib_merge(self, people: list[int], actor: Actor | None = None) -> LibraryChanged:
        with self.work.committing():
            into = self._library().merge(people, actor=actor)
        return LibraryChanged(person=into, change=f"merged into person {into}")

    def lib_remove(self, face: int, not_a_face: bool, actor: Actor | None = None) -> LibraryChanged:
        with self.work.committing():
            pid = self._library().remove_face(face, not_a_face=not_a_face, actor=actor)
        return LibraryChanged(person=None, change=f"face {face} " + ("is not a face" if not_a_face else
                                                                      f"moved out of person {pid}"))

    def lib_assign(self, face: int, name: str, actor: Actor | None = None) -> LibraryChanged:
        with self.work.committing():
            pid = self._library().assign(face, name, actor=actor)
        return LibraryChanged(person=pid, change=f"face {face} is {name}")

    def lib_hide(self, person: int, hidden: bool, actor: Actor | None = None) -> LibraryChanged:
        with self.work.committing():
            self._library().hide(person, hidden, actor=actor)
        return LibraryChanged(person=person, change=f"person {person} {'hidden' if hidden else 'shown'}")

    def portrait(self, name: str) -> bytes | None:
        from faceprint.applications.identification import UnknownPersonError
        from faceprint.detection.crops import thumbnail

        g = self.gallery
        crop = g.portrait(name) if self.settings.thumbnails else None
        if crop is None and name not in {n for n, _ in g.identities()}:  # read the people only when no crop is found
            raise UnknownPersonError(f"no person {name!r} in the gallery")
        return None if crop is None else thumbnail(crop)

    # -- piles: photos to sort into people (the web page's "sort a pile") ----------------------------------------
    def pile_new(self) -> PileCreated:
        return PileCreated(pile=self.piles.new().id)

    def pile_add(self, pile_id: str, uploads: list[tuple[bytes, str]]) -> PileAdded:
        """Nothing is added to the pile until every photo of the request is done: a request stopped at its time
        limit leaves the pile as it was."""
        from faceprint.detection.crops import face_crop, thumbnail
        from faceprint.service.piles import PileFace

        pile = self.piles.get(pile_id)
        pipe, skipped, read, new = self._state["pipe_all"], [], 0, 0
        todo: list[tuple[str, str, np.ndarray, list]] = []
        shas: set[str] = set()
        for data, label in uploads:
            self.work.checkpoint()
            sha = hashlib.sha256(data).hexdigest()
            if sha in pile.shas or sha in shas:
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
                skipped.append(f"{label}: the pile is full ({MAX_FACES} faces); sort and enroll it, then start "
                               "another")
                continue
            shas.add(sha)
            todo.append((label, sha, image, found))
        _some_readable(uploads, skipped, read + sum(s.endswith("already in this pile") for s in skipped))
        self.work.checkpoint()
        # every face of the request through the network at once: one photo at a time it ran 6x slower
        emb = iter(pipe.embed_faces([f for *_, found in todo for f in found]) if todo else [])
        added = []
        for label, sha, image, found in todo:
            for i, f in enumerate(found):
                crop = face_crop(image, f.face)
                added.append((label, sha, i, _box(f.face.box), next(emb), crop, thumbnail(crop)))
        self.work.checkpoint()  # the last point it may stop: from here the pile takes the request whole
        for label, sha, i, box, e, crop, thumb in added:
            pile.faces.append(PileFace(len(pile.faces), label, sha, i, box, e, crop, thumb))
            new += 1
        pile.shas |= shas
        pile.photos += read
        return PileAdded(photos=read, faces=new, total_faces=len(pile.faces), skipped=skipped)

    def pile_clusters(self, pile_id: str) -> PileClusters:
        from faceprint.applications.clustering import cluster
        from faceprint.service.piles import sort_pile
        from faceprint.thresholds import cluster_threshold, identification_threshold

        pile, model, g = self.piles.get(pile_id), self._state["model"], self.gallery
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

    def pile_enroll(self, pile_id: str, request: PileEnroll, actor: Actor | None = None) -> EnrollResponse:
        pile, name = self.piles.get(pile_id), request.name
        unknown = [i for i in [*request.faces, *request.dropped] if not 0 <= i < len(pile.faces)]
        if unknown:  # the pile exists (404 is for that): these ids in the body do not
            raise NotInPileError(f"no face {unknown[0]} in this pile ({len(pile.faces)} faces, ids 0 to "
                             f"{len(pile.faces) - 1})")
        faces = [pile.face(i) for i in dict.fromkeys(request.faces)]
        dropped = [pile.face(i) for i in dict.fromkeys(request.dropped)]
        skipped = [f"{f.photo}: enrolled as {f.enrolled_as!r} already" for f in faces if f.enrolled_as is not None]
        skipped += [f"{f.photo}: dropped from {name!r} before" for f in faces if name in f.refused]
        take = [f for f in faces if f.enrolled_as is None and name not in f.refused]
        keep = self.gallery.crops_policy == "keep"
        rows = [(name, f"upload:{f.photo}"[:200], f.sha, f.index, f.embedding, f.crop if keep else None) for f in take]
        with self.work.committing():
            added, present = self.gallery.enroll(rows, actor=actor) if rows else (0, 0)
            for f in take:
                f.enrolled_as = name
            for f in dropped:
                f.refused.add(name)
        return EnrollResponse(name=name, added=added, already_present=present, skipped=skipped)

    def pile_drop(self, pile_id: str) -> None:
        self.piles.get(pile_id)  # 404 for a pile that is not there (any more)
        self.piles.drop(pile_id)

    def close(self) -> None:
        if "gallery" in self._state:
            self.work.submit(self.gallery.close)
        self.work.shutdown()


def _some_readable(uploads: list, skipped: list[str], usable: int) -> None:
    """A request none of whose files is an image is a client's mistake (400), not a success that did nothing."""
    if uploads and not usable:
        raise InputError(f"none of the {len(uploads)} files is an image that can be read ({skipped[0]}"
                         f"{'; ...' if len(skipped) > 1 else ''})")


class NoFaceError(InputError):
    """A photo with no face where the request needs one (422)."""


def _box(box: np.ndarray) -> list[float]:
    return [round(float(v), 1) for v in box]
