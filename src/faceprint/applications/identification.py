"""Identification (who is this?) with a persistent gallery: a SQLite file of identities, source images and embeddings.

The gallery records the fingerprint of the model that made its embeddings and refuses any other model. Every
write is one transaction: an interrupted enrolment leaves the gallery as it was before it.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from faceprint import __version__
from faceprint.distances import Distance, get_distance
from faceprint.errors import FaceprintError, ModelMismatchError
from faceprint.search.index import ExactIndex, FaissIndex, SearchIndex, use_faiss
from faceprint.utils.io import file_sha256

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS identities (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS faces (
    id INTEGER PRIMARY KEY,
    identity_id INTEGER NOT NULL REFERENCES identities(id),
    source TEXT NOT NULL,
    content_sha256 TEXT NOT NULL,
    face_index INTEGER NOT NULL DEFAULT 0,
    embedding BLOB NOT NULL,
    UNIQUE (content_sha256, face_index)
);
"""


class GalleryError(FaceprintError, ValueError):
    """A gallery that cannot be opened or used as asked."""


class GalleryMismatchError(GalleryError, ModelMismatchError):
    """A gallery built with another model."""


@dataclass
class Match:
    identity: str
    distance: float


@dataclass
class Identification:
    """Top-k identities (each at its nearest face), and the decision."""

    decision: str  # an identity, or "unknown" (open set: nearest face not under the threshold)
    distance: float  # to the nearest face
    threshold: float
    candidates: list[Match] = field(default_factory=list)


BUSY_TIMEOUT_S = 60.0  # how long a writer waits for another process's transaction before giving up


class Gallery:
    """One SQLite file. Many processes may read and write it at once: WAL journal (readers never block the writer),
    writers queue on SQLite's lock for up to BUSY_TIMEOUT_S, and every write takes the lock first (BEGIN
    IMMEDIATE), so two writers never deadlock half-way through a transaction."""

    def __init__(self, path: str | Path, fingerprint: str, embedding_size: int, distance: str | Distance,
                 create: bool = True) -> None:
        self.fingerprint = fingerprint
        self.distance = get_distance(distance)
        self.embedding_size = embedding_size
        self._matrix: tuple[np.ndarray, np.ndarray, list[str]] | None = None
        self._version: int | None = None
        meta = self._open(path, create, [
            ("format", "faceprint.gallery"), ("model_fingerprint", fingerprint),
            ("embedding_size", str(embedding_size)), ("distance", self.distance.name),
            ("created", time.strftime("%Y-%m-%dT%H:%M:%S")), ("faceprint_version", __version__)])
        if meta.get("format") != "faceprint.gallery":
            raise GalleryError(f"{self.path}: not a faceprint gallery")
        if meta["model_fingerprint"] != fingerprint:
            raise GalleryMismatchError(
                f"{self.path}: gallery was built with model {meta['model_fingerprint']}, not with this model "
                f"({fingerprint}); embeddings of different models cannot be compared: use that model or a new gallery"
            )

    def _open(self, path: str | Path, create: bool, header: list[tuple[str, str]]) -> dict[str, str]:
        """Connect (creating the schema and header if asked and absent); returns the gallery's header."""
        self.path = Path(path)
        if not self.path.exists() and not create:
            raise GalleryError(f"{self.path}: no such gallery")
        if self.path.is_dir():
            raise GalleryError(f"{self.path}: a folder, not a gallery file")
        try:
            # autocommit mode: transactions are explicit (BEGIN IMMEDIATE ... COMMIT), never implicit
            self.db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
            self.db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            if self.db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                self.db.execute("PRAGMA journal_mode = WAL")
            self.db.execute("PRAGMA synchronous = FULL")  # a committed enrolment survives a power cut
            with self.transaction():
                for statement in filter(str.strip, SCHEMA.split(";")):  # not executescript: it would COMMIT
                    self.db.execute(statement)
                # first writer wins; a second one creating the same file at the same moment finds its rows
                for row in header:
                    self._exec("INSERT OR IGNORE INTO meta VALUES (?, ?)", row)
            return dict(self.db.execute("SELECT key, value FROM meta").fetchall())
        except sqlite3.DatabaseError as e:
            raise GalleryError(f"{self.path}: not a faceprint gallery, or damaged ({e})") from None

    def _exec(self, sql: str, params: Sequence = ()):  # type: ignore[no-untyped-def]
        """One statement, written in SQLite's dialect (a subclass translates it for its database)."""
        return self.db.execute(sql, params)

    @property
    def index_path(self) -> Path:
        """Where a kept FAISS index of this gallery lives: beside the file."""
        return Path(f"{self.path}.faiss")

    @contextmanager
    def _transaction(self, begin: str) -> Iterator[None]:
        """`begin`, then COMMIT, or ROLLBACK on any exception."""
        self.db.execute(begin)
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    @contextmanager
    def transaction(self, write: bool = True) -> Iterator[None]:
        """All or nothing, holding the write lock from the start (BEGIN IMMEDIATE); write=False: one consistent
        snapshot for reading, which never waits for a writer (WAL)."""
        with self._transaction("BEGIN IMMEDIATE" if write else "BEGIN"):
            yield

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Gallery:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def enroll(self, items: Iterable[tuple[str, str, str, int, np.ndarray]]) -> tuple[int, int]:
        """Add (name, source, content_sha256, face_index, embedding) rows in one transaction.

        The same image content again is skipped (idempotent); under another name it is an error, and nothing of
        this call is written. Returns (added, already present).
        """
        added = present = 0
        with self.transaction():
            for name, source, sha, face_index, emb in items:
                if emb.shape != (self.embedding_size,):
                    raise GalleryError(f"{source}: embedding of size {emb.shape} for a {self.embedding_size}-d gallery")
                if not np.isfinite(emb).all():
                    raise GalleryError(f"{source}: embedding holds NaN or infinity; nothing enrolled")
                row = self._exec(
                    "SELECT i.name FROM faces f JOIN identities i ON f.identity_id = i.id "
                    "WHERE f.content_sha256 = ? AND f.face_index = ?", (sha, face_index)).fetchone()
                if row is not None:
                    if row[0] != name:
                        raise GalleryError(f"{source}: this image is already enrolled as {row[0]!r}, not {name!r}")
                    present += 1
                    continue
                self._exec("INSERT OR IGNORE INTO identities (name) VALUES (?)", (name,))
                ident = self._exec("SELECT id FROM identities WHERE name = ?", (name,)).fetchone()[0]
                self._exec(
                    "INSERT INTO faces (identity_id, source, content_sha256, face_index, embedding) "
                    "VALUES (?, ?, ?, ?, ?)", (ident, source, sha, face_index, emb.astype(np.float32).tobytes()))
                added += 1
        self._matrix = None
        return added, present

    def remove(self, name: str) -> int:
        with self.transaction():
            row = self._exec("SELECT id FROM identities WHERE name = ?", (name,)).fetchone()
            if row is None:
                raise GalleryError(f"no identity {name!r} in {self.path}")
            n = self._exec("DELETE FROM faces WHERE identity_id = ?", (row[0],)).rowcount
            self._exec("DELETE FROM identities WHERE id = ?", (row[0],))
        self._matrix = None
        return n

    def identities(self) -> list[tuple[str, int]]:
        return self._exec(
            "SELECT i.name, COUNT(f.id) FROM identities i LEFT JOIN faces f ON f.identity_id = i.id "
            "GROUP BY i.id ORDER BY i.name").fetchall()

    def __len__(self) -> int:
        return int(self._exec("SELECT COUNT(*) FROM faces").fetchone()[0])

    def face_ids_digest(self) -> str:
        """A hash of the ids of the faces in the gallery, in one snapshot: it changes with any enrolment or removal
        (an id that SQLite reuses after a removal still changes the set's count or order)."""
        with self.transaction(write=False):
            ids = np.array([r[0] for r in self._exec("SELECT id FROM faces ORDER BY id")], np.int64)
            n = self._exec("SELECT COUNT(*) FROM identities").fetchone()[0]
        return hashlib.sha256(ids.tobytes() + str(n).encode()).hexdigest()[:32]

    def version(self) -> int:
        """Changes whenever another connection (another process) commits to the file."""
        return int(self.db.execute("PRAGMA data_version").fetchone()[0])

    def matrix(self) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """(embeddings (N, D), identity index per face (N,), identity names), kept until the gallery changes
        (here or in another process)."""
        version = self.version()
        if self._matrix is None or version != self._version:
            self._version = version
            with self.transaction(write=False):  # one consistent snapshot of both tables
                rows = self._exec("SELECT identity_id, embedding FROM faces ORDER BY id").fetchall()
                names = dict(self._exec("SELECT id, name FROM identities").fetchall())
            ids = sorted(names)
            pos = {i: k for k, i in enumerate(ids)}
            emb = (np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), -1)
                   if rows else np.zeros((0, self.embedding_size), np.float32))
            self._matrix = (emb, np.array([pos[r[0]] for r in rows], dtype=np.int64), [names[i] for i in ids])
        return self._matrix

    def identify(self, queries: np.ndarray, threshold: float, k: int = 5, vote: int = 1,
                 index: SearchIndex | None = None) -> list[Identification]:
        """Top-k identities per query; the decision is the nearest face's identity (vote = 1) or a majority of
        the `vote` nearest faces under the threshold, and "unknown" when the nearest face is not under it."""
        emb, owner, names = self.matrix()
        if len(emb) == 0:
            raise GalleryError(f"{self.path} is empty: enroll some faces first")
        index = index or ExactIndex(emb, self.distance)
        depth = min(len(emb), max(k * 8, vote, 32))  # enough faces to find k distinct identities in most cases
        dist, nn = index.search(np.atleast_2d(queries), depth)
        out = []
        for d_row, n_row in zip(dist, nn):
            seen: dict[int, float] = {}
            for d, n in zip(d_row, n_row):
                if n >= 0 and owner[n] not in seen:
                    seen[int(owner[n])] = float(d)
            cands = [Match(names[i], d) for i, d in sorted(seen.items(), key=lambda kv: kv[1])[:k]]
            nearest = float(d_row[0])
            if not self.distance.same(nearest, threshold):
                decision = "unknown"
            elif vote <= 1:
                decision = names[int(owner[n_row[0]])]
            else:
                close = [int(owner[n]) for d, n in zip(d_row[:vote], n_row[:vote])
                         if self.distance.same(d, threshold) and n >= 0]
                decision = names[Counter(close).most_common(1)[0][0]]
            out.append(Identification(decision, nearest, threshold, cands))
        return out


def gallery_index(gallery: Gallery, kind: str = "auto") -> SearchIndex:
    """The gallery's search index. A FAISS index is kept beside the gallery file (G.db.faiss, with G.db.faiss.json
    naming the faces it holds) and rebuilt only when the gallery's faces changed, here or in another process."""
    emb, _, _ = gallery.matrix()
    if not use_faiss(len(emb), kind):
        return ExactIndex(emb, gallery.distance)
    path = gallery.index_path
    meta_path = Path(f"{path}.json")
    state = {"fingerprint": gallery.fingerprint, "faces": gallery.face_ids_digest()}
    try:
        if json.loads(meta_path.read_text()) == state and path.exists():
            return FaissIndex.load(path, gallery.distance)
    except (OSError, ValueError, RuntimeError):
        pass  # missing, stale or unreadable: rebuilt below
    index = FaissIndex(emb, gallery.distance)
    index.save(path)
    from faceprint.utils.io import atomic_write_text

    atomic_write_text(meta_path, json.dumps(state))
    return index


def enroll_rows(names: Sequence[str], sources: Sequence[str], embeddings: np.ndarray
                ) -> list[tuple[str, str, str, int, np.ndarray]]:
    return [(n, s, file_sha256(s), 0, e) for n, s, e in zip(names, sources, embeddings)]
