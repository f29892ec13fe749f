"""Piles: a pile of photos a person uploads to be sorted into people, the web page's "sort a pile".

A pile lives in the service's memory (it is a working set, not a record: nothing of it is written until the user
enrolls a cluster). Its faces keep their embedding, the gallery crop of their photo and a thumbnail. Clustering is
`faceprint cluster`'s: average linkage at the model's clustering cut, two faces of one photo never together.
Each face is also identified against the gallery, so faces of people already known carry their name. A face the user
drops from a cluster before enrolling it as NAME is never offered for NAME again in this pile: it is not labelled
NAME, and it is taken out of any cluster that is offered as NAME.

Used from the engine thread only (no locks); ids are random, so one tab cannot guess another's pile.
"""

from __future__ import annotations

import secrets
import time
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from faceprint.detection.crops import FaceCrop
from faceprint.errors import InputError

MAX_PILES = 16  # the oldest idle pile is dropped past this
MAX_FACES = 2000  # faces per pile (about 40 MB of crops and thumbnails)
IDLE_S = 2 * 3600  # a pile untouched this long is dropped


class PileError(InputError):
    """A pile that does not exist (any more), or a request it cannot take."""


class NotInPileError(InputError):
    """Face ids that the pile does not hold, sent to a pile that exists (409: in conflict with the pile)."""


@dataclass
class PileFace:
    id: int
    photo: str  # the uploaded file's name (a label only)
    sha: str  # the photo's content hash: with `index`, the face's identity in a gallery
    index: int  # which face of its photo
    box: list[float]
    embedding: np.ndarray
    crop: FaceCrop | None
    thumbnail: bytes
    enrolled_as: str | None = None
    refused: set[str] = field(default_factory=set)  # names this face was dropped from


@dataclass
class Pile:
    id: str
    faces: list[PileFace] = field(default_factory=list)
    photos: int = 0
    shas: set[str] = field(default_factory=set)  # photos in the pile, by content: the same photo twice is skipped
    touched: float = field(default_factory=time.monotonic)

    def open_faces(self) -> list[PileFace]:
        return [f for f in self.faces if f.enrolled_as is None]

    def face(self, face_id: int) -> PileFace:
        if not 0 <= face_id < len(self.faces):
            raise PileError(f"no face {face_id} in this pile")
        return self.faces[face_id]


class Piles:
    """The open piles of one service process."""

    def __init__(self) -> None:
        self._piles: dict[str, Pile] = {}

    def new(self) -> Pile:
        self._expire()
        while len(self._piles) >= MAX_PILES:
            oldest = min(self._piles.values(), key=lambda p: p.touched)
            del self._piles[oldest.id]
        pile = Pile(secrets.token_urlsafe(18))
        self._piles[pile.id] = pile
        return pile

    def get(self, pile_id: str) -> Pile:
        self._expire()
        pile = self._piles.get(pile_id)
        if pile is None:
            raise PileError("no such pile (piles are kept in memory for two hours, and not across restarts): "
                            "start a new one")
        pile.touched = time.monotonic()
        return pile

    def drop(self, pile_id: str) -> None:
        self._piles.pop(pile_id, None)

    def _expire(self) -> None:
        now = time.monotonic()
        for p in [p for p in self._piles.values() if now - p.touched > IDLE_S]:
            del self._piles[p.id]


def offered_name(labels: list[str | None]) -> str | None:
    """The name a cluster is offered as: the gallery's name most of its recognised faces carry, if they are at least
    half of the cluster (ties: the name first in alphabetical order)."""
    named = Counter(n for n in labels if n is not None)
    if not named:
        return None
    name, count = min(named.items(), key=lambda kv: (-kv[1], kv[0]))
    return name if 2 * count >= len(labels) else None


def sort_pile(labels: np.ndarray, faces: list[PileFace], known: list[str | None]) -> list[dict]:
    """Clusters of the pile's open faces as the page shows them, largest first: each with its faces (id, photo,
    the gallery's name or None) and the name it is offered as. A face dropped from NAME before is never in a
    cluster offered as NAME: it becomes a cluster of its own."""
    groups: dict[int, list[int]] = {}
    for i, c in enumerate(labels.tolist()):
        groups.setdefault(c, []).append(i)
    out: list[dict] = []
    for members in groups.values():
        names = [None if known[i] in faces[i].refused else known[i] for i in members]
        offer = offered_name(names)
        kept = [i for i in members if offer is None or offer not in faces[i].refused]
        for i in [i for i in members if i not in kept]:
            out.append({"faces": [i], "offer": None})
        out.append({"faces": kept, "offer": offer})
    out = [c for c in out if c["faces"]]
    out.sort(key=lambda c: (-len(c["faces"]), faces[c["faces"][0]].id))
    return [{"offer": c["offer"], "faces": [
        {"id": faces[i].id, "photo": faces[i].photo, "box": faces[i].box,
         "name": None if known[i] in faces[i].refused else known[i]} for i in c["faces"]]} for c in out]
