"""Sorting a library's faces into people: average linkage at the model's library cut, going on from the people
the library already has.

Earlier people are never split: new faces join a person when close enough (the average distance to its faces under
the cut), else form new suggestions with each other and with faces left alone before; two earlier people meet only
through new faces (the candidate pairs are those with a new face, so a grouping costs in proportion to what is
new). Named, hidden and merged people are locked (the user's say): they take in faces and suggestions but two of
them never merge. Two faces of one photo are never one person, and a face moved out of a person ("not this person") is never
put with that person's faces again. `full=True` forgets the suggestions and clusters every face that is not in a
locked person from scratch (what an incremental library is measured against).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from faceprint.applications.clustering import cannot_link_pairs
from faceprint.applications.graph import DEFAULT_K, average_linkage

UNASSIGNED = -1
MIN_FACES = 2  # a suggestion holds at least this many faces; a lone face stays unassigned


def group_faces(emb: np.ndarray, photo: np.ndarray, person: np.ndarray, locked: Sequence[int],
                rejected: Sequence[tuple[int, int]], threshold: float, full: bool = False,
                new: np.ndarray | None = None, k: int = DEFAULT_K, min_faces: int = MIN_FACES
                ) -> tuple[np.ndarray, int]:
    """Each face's person after grouping, and how many new suggestions there are.

    emb (N, D) unit embeddings; photo (N,) a key per face's photo; person (N,) each face's person id now, UNASSIGNED
    for none; locked: ids of the named, hidden or merged people; rejected: (face row, person id) pairs the user split
    apart; new (N,) bool: the faces added since the last grouping (None: every face in no person).
    Returned ids are the existing ones where a person goes on (a suggestion that absorbs others keeps the id of the
    one it holds most faces of), -2, -3, ... for new suggestions, UNASSIGNED for faces left alone."""
    n = len(emb)
    person = np.asarray(person, np.int64)
    if n == 0:
        return person.copy(), 0
    locked_ids = np.asarray(sorted(set(locked)), np.int64)
    is_locked = np.isin(person, locked_ids) & (person >= 0)
    start = person.copy()
    if full:
        start[~is_locked] = UNASSIGNED
    links = [cannot_link_pairs(photo)]
    members: dict[int, np.ndarray] = {}
    for face, p in rejected:
        if p not in members:
            members[p] = np.flatnonzero(person == p)
        if len(members[p]):
            links.append(np.stack([np.full(len(members[p]), face), members[p]], 1))
    cannot = np.concatenate(links).astype(np.int64)
    active = None if full else (person < 0 if new is None else np.asarray(new, bool))
    labels = average_linkage(emb, threshold, k=k, cannot_link=cannot, start=start, locked=is_locked, active=active)
    return _name_clusters(labels, person, is_locked, min_faces)


def _name_clusters(labels: np.ndarray, person: np.ndarray, is_locked: np.ndarray, min_faces: int
                   ) -> tuple[np.ndarray, int]:
    """Each cluster's person id: its locked person's, else the earlier suggestion it holds most faces of (each id
    goes to one cluster only: the one holding most of it), else a new one if big enough."""
    out = np.full(len(labels), UNASSIGNED, np.int64)
    clusters: dict[int, np.ndarray] = {}
    order = np.argsort(labels, kind="stable")
    bounds = np.flatnonzero(np.diff(labels[order])) + 1
    for m in np.split(order, bounds):
        clusters[int(labels[m[0]])] = m
    claims: list[tuple[int, int, int]] = []  # (-faces of the id held, id, cluster)
    for c, m in clusters.items():
        if is_locked[m].any():
            out[m] = person[m[is_locked[m]][0]]
            continue
        if len(m) < min_faces:
            continue
        ids, counts = np.unique(person[m][person[m] >= 0], return_counts=True)
        claims += [(-int(k), int(i), c) for i, k in zip(ids, counts)]
    taken: set[int] = set()
    named: set[int] = set()
    for _, pid, c in sorted(claims):
        if c in named or pid in taken:
            continue
        out[clusters[c]] = pid
        taken.add(pid)
        named.add(c)
    new = 0
    for c, m in clusters.items():
        if c in named or is_locked[m].any() or len(m) < min_faces:
            continue
        new += 1
        out[m] = -1 - new
    return out, new
