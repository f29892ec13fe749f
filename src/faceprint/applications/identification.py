"""Identification (who is this?) with a persistent gallery: a SQLite file of identities, source images and embeddings.

The gallery records the fingerprint of the model that made its embeddings and refuses any other model. Every
write is one transaction: an interrupted enrollment leaves the gallery as it was before it.

So that a gallery outlives its model, it keeps by default a small JPEG of the region around each enrolled face
(`crops`, written in the same transaction as the face's embedding; faceprint.detection.crops): another model can
then embed every face again (`migrate`, faceprint.applications.migration) without the original photos. Face images
are biometric data: a gallery made with keep_crops=False never stores them (fixed at creation, header key `crops`),
and `forget_crops` erases them from one that did. A migration stages the new embeddings in `migration` as they
are made (resumable), and `switch` replaces the old ones and the model in one transaction.
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
from faceprint.applications.audit import Actor, AuditRow
from faceprint.applications.audit import now as audit_now
from faceprint.applications.audit import row as audit_row
from faceprint.detection.crops import FaceCrop
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
CREATE TABLE IF NOT EXISTS crops (face_id INTEGER PRIMARY KEY, jpeg BLOB NOT NULL, box TEXT, landmarks TEXT);
CREATE TABLE IF NOT EXISTS migration (
    face_id INTEGER PRIMARY KEY, target TEXT NOT NULL, embedding BLOB, note TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY, at TEXT NOT NULL, actor TEXT NOT NULL, user_name TEXT, action TEXT NOT NULL,
    person TEXT, change TEXT NOT NULL, detail TEXT NOT NULL DEFAULT '{}'
);
"""
CROPS_KEEP, CROPS_NONE = "keep", "none"


class GalleryError(FaceprintError, ValueError):
    """A gallery that cannot be opened or used as asked. `reason` says what, without where: a front end that serves
    other people (the service) shows only the reason, never the gallery's path or URL on the server."""

    def __init__(self, reason: str, where: object = None) -> None:
        self.reason, self.where = reason, where
        super().__init__(reason if where is None else f"{where}: {reason}")


class GalleryMismatchError(GalleryError, ModelMismatchError):
    """A gallery built with another model."""


class UnknownPersonError(GalleryError, LookupError):
    """No person of that name in the gallery."""


class EmptyGalleryError(GalleryError):
    """Nobody enrolled yet: nothing to search."""


class EnrolledAsOtherError(GalleryError):
    """The same face is enrolled under another name already (nothing of the request is written)."""


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


@dataclass
class StoredFace:
    """An enrolled face as a migration reads it."""

    id: int
    identity: str
    source: str
    content_sha256: str
    face_index: int
    crop: FaceCrop | None


class Gallery:
    """One SQLite file. Many processes may read and write it at once: WAL journal (readers never block the writer),
    writers queue on SQLite's lock for up to BUSY_TIMEOUT_S, and every write takes the lock first (BEGIN
    IMMEDIATE), so two writers never deadlock half-way through a transaction.

    fingerprint=None opens an existing gallery whatever its model (for `gallery info`, `migrate`,
    `forget-crops`): the fingerprint, size and distance are then the gallery's own."""

    def __init__(self, path: str | Path, fingerprint: str | None, embedding_size: int | None = None,
                 distance: str | Distance | None = None, create: bool = True, keep_crops: bool = True) -> None:
        self._matrix: tuple[np.ndarray, np.ndarray, list[str]] | None = None
        self._version: int | None = None
        if fingerprint is None:
            meta = self._open(path, False, [])
        else:
            meta = self._open(path, create, [
                ("format", "faceprint.gallery"), ("model_fingerprint", fingerprint),
                ("embedding_size", str(embedding_size)), ("distance", get_distance(distance).name),  # type: ignore[arg-type]
                ("created", time.strftime("%Y-%m-%dT%H:%M:%S")), ("faceprint_version", __version__),
                # fixed when the gallery is made; a gallery made before crops existed keeps them from now on
                ("crops", CROPS_KEEP if keep_crops else CROPS_NONE)])
        if meta.get("format") != "faceprint.gallery":
            raise GalleryError("not a faceprint gallery", self.path)
        self.fingerprint = meta["model_fingerprint"] if fingerprint is None else fingerprint
        self.embedding_size = int(meta["embedding_size"]) if fingerprint is None else int(embedding_size)  # type: ignore[arg-type]
        self.distance = get_distance(meta["distance"] if fingerprint is None else distance)  # type: ignore[arg-type]
        self.crops_policy = meta.get("crops", CROPS_KEEP)
        if meta["model_fingerprint"] != self.fingerprint:
            raise GalleryMismatchError(self.mismatch_advice(meta["model_fingerprint"]), self.path)

    def mismatch_advice(self, built_with: str) -> str:
        """What happened and what to do, in one line, when this gallery is opened with a model it was not built with."""
        stored = int(self._exec("SELECT COUNT(*) FROM crops").fetchone()[0])
        faces = len(self)
        bare = faces - stored
        return (f"gallery was built with model {built_with}, not with this model ({self.fingerprint}); embeddings "
                f"of different models cannot be compared: use that model, or move the gallery to this one with "
                f"`faceprint gallery migrate --gallery {self.path}{' --photos DIR' if bare else ''}` (with --model "
                "FILE unless this is the default model)"
                + (f"; it keeps no face crops for {bare} of its {faces} faces, so their original photos are read "
                   "again from their enrolled paths under DIR" if bare else ""))

    def _open(self, path: str | Path, create: bool, header: list[tuple[str, str]]) -> dict[str, str]:
        """Connect (creating the schema and header if asked and absent); returns the gallery's header."""
        self.path = Path(path)
        if not self.path.exists() and not create:
            raise GalleryError("no such gallery", self.path)
        if self.path.is_dir():
            raise GalleryError("a folder, not a gallery file", self.path)
        try:
            # autocommit mode: transactions are explicit (BEGIN IMMEDIATE ... COMMIT), never implicit
            self.db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
            self.db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            if self.db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                self.db.execute("PRAGMA journal_mode = WAL")
            self.db.execute("PRAGMA synchronous = FULL")  # a committed enrollment survives a power cut
            with self.transaction():
                for statement in filter(str.strip, SCHEMA.split(";")):  # not executescript: it would COMMIT
                    self.db.execute(statement)
                # first writer wins; a second one creating the same file at the same moment finds its rows
                for row in header:
                    self._exec("INSERT OR IGNORE INTO meta VALUES (?, ?)", row)
            return dict(self.db.execute("SELECT key, value FROM meta").fetchall())
        except sqlite3.DatabaseError as e:
            raise GalleryError(f"not a faceprint gallery, or damaged ({e})", self.path) from None

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

    def _check_model(self) -> None:
        """Inside a transaction: the gallery still belongs to this model (a migration may have moved it since)."""
        now = self._exec("SELECT value FROM meta WHERE key = 'model_fingerprint'").fetchone()[0]
        if now != self.fingerprint:
            raise GalleryMismatchError(f"the gallery was moved to model {now} while it was open with model "
                                       f"{self.fingerprint}; open it again with that model", self.path)

    def enroll(self, items: Iterable[tuple], actor: Actor | None = None) -> tuple[int, int]:
        """Add (name, source, content_sha256, face_index, embedding[, crop]) rows in one transaction.

        The same image content again is skipped (idempotent); under another name it is an error, and nothing of
        this call is written. A FaceCrop is stored with its face unless the gallery keeps none. Each person who
        gained faces gets an audit row by `actor` (this process when None), in the same transaction. Returns
        (added, already present).
        """
        added = present = 0
        per_person: dict[str, list[str]] = {}
        with self.transaction():
            self._check_model()
            for name, source, sha, face_index, emb, *rest in items:
                crop = rest[0] if rest else None
                if emb.shape != (self.embedding_size,):
                    raise GalleryError(f"{source}: embedding of size {emb.shape} for a {self.embedding_size}-d gallery")
                if not np.isfinite(emb).all():
                    raise GalleryError(f"{source}: embedding holds NaN or infinity; nothing enrolled")
                row = self._exec(
                    "SELECT i.name FROM faces f JOIN identities i ON f.identity_id = i.id "
                    "WHERE f.content_sha256 = ? AND f.face_index = ?", (sha, face_index)).fetchone()
                if row is not None:
                    if row[0] != name:
                        raise EnrolledAsOtherError(f"{source}: this image is already enrolled as {row[0]!r}, "
                                                   f"not {name!r}")
                    present += 1
                    continue
                self._exec("INSERT OR IGNORE INTO identities (name) VALUES (?)", (name,))
                ident = self._exec("SELECT id FROM identities WHERE name = ?", (name,)).fetchone()[0]
                self._exec(
                    "INSERT INTO faces (identity_id, source, content_sha256, face_index, embedding) "
                    "VALUES (?, ?, ?, ?, ?)", (ident, source, sha, face_index, emb.astype(np.float32).tobytes()))
                if crop is not None and self.crops_policy == CROPS_KEEP:
                    face_id = self._exec("SELECT id FROM faces WHERE content_sha256 = ? AND face_index = ?",
                                         (sha, face_index)).fetchone()[0]
                    self._exec("INSERT INTO crops (face_id, jpeg, box, landmarks) VALUES (?, ?, ?, ?)",
                               (face_id, crop.jpeg, _points(crop.box), _points(crop.landmarks)))
                added += 1
                per_person.setdefault(name, []).append(source)
            for name, sources in per_person.items():
                self._audit(actor, name, f"enrolled {len(sources)} face{'s' * (len(sources) != 1)}",
                            {"added": len(sources), "sources": sources})
        self._matrix = None
        return added, present

    def enrolled_content(self) -> dict[str, tuple[str, int]]:
        """{content hash: (identity, faces)} of the photos with a face in the gallery: what a rerun of an enrollment
        skips."""
        rows = self._exec("SELECT f.content_sha256, MIN(i.name), COUNT(*) FROM faces f JOIN identities i "
                          "ON f.identity_id = i.id GROUP BY f.content_sha256").fetchall()
        return {r[0]: (r[1], int(r[2])) for r in rows}

    def remove(self, name: str, actor: Actor | None = None) -> int:
        """Remove a person and their faces (with crops and staged rows); returns the faces removed."""
        with self.transaction():
            row = self._exec("SELECT id FROM identities WHERE name = ?", (name,)).fetchone()
            if row is None:
                raise UnknownPersonError(f"no identity {name!r} in the gallery", self.path)
            for table in ("crops", "migration"):
                self._exec(f"DELETE FROM {table} WHERE face_id IN (SELECT id FROM faces WHERE identity_id = ?)",
                           (row[0],))
            n = self._exec("DELETE FROM faces WHERE identity_id = ?", (row[0],)).rowcount
            self._exec("DELETE FROM identities WHERE id = ?", (row[0],))
            self._audit(actor, name, f"removed the person and {n} face{'s' * (n != 1)}", {"faces_removed": n})
        self._matrix = None
        return n

    def identities(self) -> list[tuple[str, int]]:
        return self._exec(
            "SELECT i.name, COUNT(f.id) FROM identities i LEFT JOIN faces f ON f.identity_id = i.id "
            "GROUP BY i.id ORDER BY i.name").fetchall()

    def __len__(self) -> int:
        return int(self._exec("SELECT COUNT(*) FROM faces").fetchone()[0])

    def face_ids_digest(self) -> str:
        """A hash of the ids of the faces in the gallery, in one snapshot: it changes with any enrollment or removal
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
                self._check_model()
                rows = self._exec("SELECT identity_id, embedding FROM faces ORDER BY id").fetchall()
                names = dict(self._exec("SELECT id, name FROM identities").fetchall())
            ids = sorted(names)
            pos = {i: k for k, i in enumerate(ids)}
            emb = (np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), -1)
                   if rows else np.zeros((0, self.embedding_size), np.float32))
            self._matrix = (emb, np.array([pos[r[0]] for r in rows], dtype=np.int64), [names[i] for i in ids])
        return self._matrix

    # -- what the gallery holds, its crops, and moving it to another model ----------------------------------------
    def info(self) -> dict[str, object]:
        """Model, people, faces, crops and any migration under way, from one snapshot."""
        with self.transaction(write=False):
            meta = dict(self._exec("SELECT key, value FROM meta").fetchall())
            people = int(self._exec("SELECT COUNT(*) FROM identities").fetchone()[0])
            faces = int(self._exec("SELECT COUNT(*) FROM faces").fetchone()[0])
            crops = int(self._exec("SELECT COUNT(*) FROM crops").fetchone()[0])
            staged = self._exec("SELECT target, COUNT(*) FROM migration GROUP BY target").fetchall()
        return {"gallery": str(self.path), "model_fingerprint": meta["model_fingerprint"],
                "embedding_size": int(meta["embedding_size"]), "distance": meta["distance"],
                "people": people, "faces": faces, "crops": meta.get("crops", CROPS_KEEP), "faces_with_crops": crops,
                "created": meta.get("created"), "migration": {t: int(n) for t, n in staged}}

    def forget_crops(self, actor: Actor | None = None) -> int:
        """Erase every stored face crop and keep none from now on; returns how many were erased."""
        with self.transaction():
            n = int(self._exec("SELECT COUNT(*) FROM crops").fetchone()[0])
            self._audit(actor, None, f"erased {n} face crop{'s' * (n != 1)}; keeps none from now on",
                        {"crops_erased": n})
            self._exec("DELETE FROM crops")
            self._exec("INSERT OR IGNORE INTO meta VALUES ('crops', ?)", (CROPS_NONE,))
            self._exec("UPDATE meta SET value = ? WHERE key = 'crops'", (CROPS_NONE,))
        self.crops_policy = CROPS_NONE
        self._erase_freed()
        return n

    def _erase_freed(self) -> None:
        """Overwrite what deleted rows left in the file: SQLite keeps freed pages (and the WAL) until rewritten."""
        self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.db.execute("VACUUM")
        self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def stored_faces(self) -> list[StoredFace]:
        """Every enrolled face with its crop (None where the gallery keeps none), in enrollment order."""
        with self.transaction(write=False):
            rows = self._exec(
                "SELECT f.id, i.name, f.source, f.content_sha256, f.face_index, c.jpeg, c.box, c.landmarks "
                "FROM faces f JOIN identities i ON f.identity_id = i.id LEFT JOIN crops c ON c.face_id = f.id "
                "ORDER BY f.id").fetchall()
        return [StoredFace(int(r[0]), r[1], r[2], r[3], int(r[4]),
                           None if r[5] is None else FaceCrop(bytes(r[5]), _unpoints(r[6], (4,)),
                                                              _unpoints(r[7], (5, 2))))
                for r in rows]

    def portrait(self, name: str) -> FaceCrop | None:
        """The stored crop of a person's first enrolled face that has one (None when none has: a gallery without
        crops, or faces enrolled before crops were kept)."""
        row = self._exec(
            "SELECT c.jpeg, c.box, c.landmarks FROM faces f JOIN identities i ON f.identity_id = i.id "
            "JOIN crops c ON c.face_id = f.id WHERE i.name = ? ORDER BY f.id LIMIT 1", (name,)).fetchone()
        return None if row is None else FaceCrop(bytes(row[0]), _unpoints(row[1], (4,)), _unpoints(row[2], (5, 2)))

    def staged(self, target: str) -> set[int]:
        """Ids of the faces whose embedding by model `target` is already staged."""
        return {int(r[0]) for r in self._exec("SELECT face_id FROM migration WHERE target = ?", (target,))}

    def stage(self, target: str, rows: Iterable[tuple[int, np.ndarray | None, str]]) -> None:
        """Keep (face id, new embedding or None if the face cannot be embedded again, note) for a migration to
        model `target`; staging for any other model (an abandoned migration) is dropped. One transaction."""
        with self.transaction():
            self._exec("DELETE FROM migration WHERE target <> ?", (target,))
            for face_id, emb, note in rows:
                self._exec("DELETE FROM migration WHERE face_id = ?", (face_id,))
                self._exec("INSERT INTO migration (face_id, target, embedding, note) VALUES (?, ?, ?, ?)",
                           (face_id, target, None if emb is None else emb.astype(np.float32).tobytes(), note))

    def switch(self, target: str, embedding_size: int, distance: str | Distance, actor: Actor | None = None
               ) -> tuple[int, list[str], list[str]] | None:
        """Move the gallery to model `target` in one transaction, if every face has a staged row: each embedding
        is replaced, faces staged without one are removed (and people left without a face), and the header names
        the new model. Returns (faces moved, "source: note" of each removed face, and of each moved face with a
        note), or None when faces without a staged row remain (enrolled meanwhile): stage those, then switch
        again."""
        dist = get_distance(distance)
        with self.transaction():
            missing = self._exec("SELECT COUNT(*) FROM faces f LEFT JOIN migration m ON m.face_id = f.id "
                                 "AND m.target = ? WHERE m.face_id IS NULL", (target,)).fetchone()[0]
            if missing:
                return None
            rows = self._exec("SELECT m.face_id, m.embedding, m.note, f.source FROM migration m JOIN faces f "
                              "ON f.id = m.face_id WHERE m.target = ?", (target,)).fetchall()
            dropped, noted = [], []
            for face_id, emb, note, source in rows:
                if emb is None:
                    self._exec("DELETE FROM crops WHERE face_id = ?", (face_id,))
                    self._exec("DELETE FROM faces WHERE id = ?", (face_id,))
                    dropped.append(f"{source}: {note}")
                else:
                    self._exec("UPDATE faces SET embedding = ? WHERE id = ?", (bytes(emb), face_id))
                    if note:
                        noted.append(f"{source}: {note}")
            gone = [r[0] for r in self._exec("SELECT name FROM identities WHERE id NOT IN "
                                             "(SELECT identity_id FROM faces) ORDER BY name")]
            self._exec("DELETE FROM identities WHERE id NOT IN (SELECT identity_id FROM faces)")
            moved = len(rows) - len(dropped)
            self._audit(actor, None, f"moved to model {target}: {moved} faces embedded again, {len(dropped)} "
                                     f"removed", {"from": self.fingerprint, "to": target, "moved": moved,
                                                  "removed": dropped, "people_removed": gone})
            for key, value in (("model_fingerprint", target), ("embedding_size", str(embedding_size)),
                               ("distance", dist.name)):
                self._exec("UPDATE meta SET value = ? WHERE key = ?", (value, key))
            self._exec("DELETE FROM migration")
        self.fingerprint, self.embedding_size, self.distance = target, embedding_size, dist
        self._matrix = None
        return len(rows) - len(dropped), dropped, noted

    # -- the audit trail (faceprint.applications.audit) ------------------------------------------------------------
    def _audit(self, actor: Actor | None, person: str | None, change: str, detail: dict) -> None:
        """Inside the change's transaction: one row of who did it."""
        a = actor or Actor.local()
        self._exec("INSERT INTO audit (at, actor, user_name, action, person, change, detail) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?)",
                   (audit_now(), a.label, a.user, a.action, person, change, json.dumps(detail)))

    def audit_log(self, since: str | None = None, limit: int | None = None) -> list[AuditRow]:
        """The trail, oldest first: every row at or after `since` (the trail's UTC form; see audit.parse_since),
        the newest `limit` of them when given."""
        sql = "SELECT id, at, actor, user_name, action, person, change, detail FROM audit"
        params: list = []
        if since is not None:
            sql += " WHERE at >= ?"
            params.append(since)
        sql += " ORDER BY id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        return [audit_row(r) for r in self._exec(sql, params).fetchall()][::-1]

    def identify(self, queries: np.ndarray, threshold: float, k: int = 5, vote: int = 1,
                 index: SearchIndex | None = None) -> list[Identification]:
        """Top-k identities per query; the decision is the nearest face's identity (vote = 1) or a majority of
        the `vote` nearest faces under the threshold, and "unknown" when the nearest face is not under it."""
        emb, owner, names = self.matrix()
        if len(emb) == 0:
            raise EmptyGalleryError("the gallery is empty: enroll some faces first", self.path)
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


def _points(a: np.ndarray | None) -> str | None:
    return None if a is None else json.dumps([round(float(v), 2) for v in np.asarray(a).ravel()])


def _unpoints(text: str | None, shape: tuple[int, ...]) -> np.ndarray | None:
    return None if text is None else np.asarray(json.loads(text), np.float32).reshape(shape)


def enroll_rows(names: Sequence[str], sources: Sequence[str], embeddings: np.ndarray
                ) -> list[tuple[str, str, str, int, np.ndarray]]:
    return [(n, s, file_sha256(s), 0, e) for n, s, e in zip(names, sources, embeddings)]
