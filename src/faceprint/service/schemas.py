"""What the service's routes take and answer: the OpenAPI document that clients are generated from is built from
these."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from faceprint.service.piles import MAX_FACES

MAX_FILES = 16  # images one request may carry (more: 413)
# a name: printable (no control characters) and not blank
NAME_PATTERN = r"^[^\x00-\x1f]*[^\x00-\x20][^\x00-\x1f]*$"


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
    scope: str  # what the key that asked may do: read, write or admin (the page hides what it may not)
    label: str  # the key's label, as the audit trail records it (never the key)
    library: bool = False  # the service serves a photo library (`faceprint serve --library`): the /library routes


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
    name: str = Field(min_length=1, max_length=200, pattern=NAME_PATTERN)
    faces: list[int] = Field(min_length=1, max_length=MAX_FACES)
    dropped: list[int] = Field(default_factory=list, max_length=MAX_FACES)


class Health(BaseModel):
    status: str
    version: str
    model: str


class PileDropped(BaseModel):
    pile: str
    dropped: bool


class CropsForgotten(BaseModel):
    erased: int  # face crops erased; the gallery keeps none from now on


class AuditEntry(BaseModel):
    id: int
    at: str  # UTC, ISO 8601
    actor: str  # the key's label, or "cli" / "python" for local processes
    user: str | None  # the local user name, for local processes
    action: str  # the route ("DELETE /people/{name}") or the command ("faceprint enroll")
    person: str | None
    change: str  # what changed, in words
    detail: dict[str, Any]


class AuditLog(BaseModel):
    entries: list[AuditEntry]


class Problem(BaseModel):
    """Every answer that is not 2xx: one line for a person (`detail`), or the list of fields that failed validation."""

    detail: str | list[dict[str, Any]]


# -- the photo library (`faceprint serve --library L.db`) -------------------------------------------------------------
class LibraryPerson(BaseModel):
    id: int
    name: str | None  # None: a suggestion, not named yet
    hidden: bool
    faces: int
    photos: int
    cover: int | None  # a face to show for them (GET /library/faces/{id}/thumbnail)


class LibraryPeople(BaseModel):
    total: int  # people in the list (all of them, not only this page)
    offset: int
    people: list[LibraryPerson]
    named: int
    suggested: int
    unassigned: int  # faces in no person: the queue to work through
    photos: int


class LibraryFace(BaseModel):
    id: int
    photo: str  # relative to the library's folder
    box: list[float]  # x1, y1, x2, y2 in the photo as shown
    width: int  # the photo's size as shown
    height: int
    taken: str | None


class LibraryFaces(BaseModel):
    total: int
    offset: int
    faces: list[LibraryFace]


class LibraryName(BaseModel):
    name: str = Field(min_length=1, max_length=200, pattern=NAME_PATTERN)


class LibraryMerge(BaseModel):
    people: list[int] = Field(min_length=2, max_length=1000)  # into the first


class LibraryRemove(BaseModel):
    not_a_face: bool = False


class LibraryHide(BaseModel):
    hidden: bool = True


class LibraryChanged(BaseModel):
    person: int | None  # the person the change left the face or people in (None: no person)
    change: str
