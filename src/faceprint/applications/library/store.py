"""The library's storage: a gallery (SQLite file or PostgreSQL database) with library tables beside the gallery's.

    lib_photos    a file under the library's folder: path (relative), size, mtime, content hash
    lib_contents  a photo's content (by hash): its size as shown, taken date, faces found, or why it is unreadable
    lib_faces     a face of a content: box, points, score, embedding, its person, whether the user said it is no face
    lib_crops     the region around each face (faceprint.detection.crops), for thumbnails and for migration
    lib_people    a person: a name (the user's) or none (a suggestion), hidden or not, kept (made by the user's
                  merge: a suggestion no re-grouping takes apart)
    lib_rejections  (face, person): the user moved this face out of this person; never offered as them again

Faces hang on contents, not files: a photo moved or renamed keeps its faces, people and names. Named people are
also the gallery's identities (the gallery's own tables, kept in step in the same transaction as every change), so
`faceprint identify --gallery L.db`, the service and everything else that reads a gallery answer with them.
Corrections are facts: a scan or a re-grouping only ever adds faces to people or groups the faces nobody sorted.
Every write is one transaction; a scan commits as it goes, so a killed scan loses only its last uncommitted photos.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from faceprint.applications.audit import Actor
from faceprint.applications.identification import Gallery, GalleryError, StoredFace
from faceprint.applications.postgres import PostgresGallery, is_postgres_url
from faceprint.detection.crops import FaceCrop

SCHEMA = [
    "CREATE TABLE IF NOT EXISTS lib_photos (path TEXT PRIMARY KEY, content_sha256 TEXT NOT NULL, "
    "size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL)",
    "CREATE INDEX IF NOT EXISTS lib_photos_content ON lib_photos (content_sha256)",
    "CREATE TABLE IF NOT EXISTS lib_contents (content_sha256 TEXT PRIMARY KEY, width INTEGER, height INTEGER, "
    "taken TEXT, faces INTEGER NOT NULL DEFAULT 0, error TEXT)",
    "CREATE TABLE IF NOT EXISTS lib_faces (id INTEGER PRIMARY KEY, content_sha256 TEXT NOT NULL, "
    "face_index INTEGER NOT NULL, box TEXT NOT NULL, points TEXT, score REAL, embedding BLOB NOT NULL, "
    "person_id INTEGER, not_face INTEGER NOT NULL DEFAULT 0, UNIQUE (content_sha256, face_index))",
    "CREATE INDEX IF NOT EXISTS lib_faces_person ON lib_faces (person_id)",
    "CREATE TABLE IF NOT EXISTS lib_crops (face_id INTEGER PRIMARY KEY, jpeg BLOB NOT NULL, box TEXT, landmarks TEXT)",
    "CREATE TABLE IF NOT EXISTS lib_people (id INTEGER PRIMARY KEY, name TEXT UNIQUE, hidden INTEGER NOT NULL "
    "DEFAULT 0, kept INTEGER NOT NULL DEFAULT 0, identity_id INTEGER)",
    "CREATE TABLE IF NOT EXISTS lib_rejections (face_id INTEGER NOT NULL, person_id INTEGER NOT NULL, "
    "PRIMARY KEY (face_id, person_id))",
]
# meta keys: library_root (the scanned folder), library_grouping ("" grouped, "new" faces to group, "full": group
# everything again, e.g. after a migration)
ROOT, GROUPING, GROUPED = "library_root", "library_grouping", "library_grouped_upto"  # the last face id grouped


class LibraryError(GalleryError):
    """A library that cannot be used as asked (another folder, a gallery that is not a library, a bad name)."""


class NotFoundInLibrary(LibraryError, LookupError):
    """No such person, face or photo in the library."""


class NameTakenError(LibraryError):
    """Another person has that name already (merge the two instead)."""


@dataclass
class NewFace:
    face_index: int
    box: np.ndarray  # (4,) x1 y1 x2 y2 in the photo's pixels (EXIF orientation applied)
    points: np.ndarray | None  # (5, 2)
    score: float
    embedding: np.ndarray
    crop: FaceCrop | None


@dataclass
class NewContent:
    """What a scan learnt of one photo's content, with the files that hold it."""

    sha: str
    paths: list[tuple[str, int, int]]  # (relative path, size, mtime_ns)
    width: int = 0
    height: int = 0
    taken: str | None = None
    error: str | None = None
    faces: list[NewFace] | None = None


@dataclass
class PersonRow:
    id: int
    name: str | None
    hidden: bool
    faces: int
    photos: int
    cover: int | None  # a face to show for them


def _json(a: Any) -> str | None:
    return None if a is None else json.dumps([round(float(v), 1) for v in np.asarray(a).ravel()])


def _unjson(text: str | None, shape: tuple[int, ...]) -> np.ndarray | None:
    return None if text is None else np.asarray(json.loads(text), np.float32).reshape(shape)


class LibraryMixin:
    """The library's tables and operations, over either gallery backend (Library, PostgresLibrary)."""

    # the gallery's, which the backend class (Gallery, PostgresGallery) brings
    db: Any
    path: Any
    fingerprint: str
    embedding_size: int
    distance: Any
    _matrix: Any
    _exec: Any
    transaction: Any
    _audit: Any
    _check_model: Any

    # -- opening ---------------------------------------------------------------------------------------------------
    def _open(self, path: str | Path, create: bool, header: list[tuple[str, str]]) -> dict[str, str]:
        meta = super()._open(path, create, header)  # type: ignore[misc]
        with self.transaction():
            for statement in SCHEMA:
                self._exec(self._ddl(statement))
            if "kept" not in self._columns("lib_people"):  # a library made before people could be kept
                self._exec(self._ddl("ALTER TABLE lib_people ADD COLUMN kept INTEGER NOT NULL DEFAULT 0"))
            if "library" not in meta:
                if self._exec("SELECT COUNT(*) FROM faces").fetchone()[0]:
                    raise LibraryError("a gallery of enrolled people, not a photo library (give a new file for "
                                       "`faceprint library scan`)", self.path)
                for row in (("library", "1"), (ROOT, ""), (GROUPING, ""), (GROUPED, "0")):
                    self._exec("INSERT OR IGNORE INTO meta VALUES (?, ?)", row)
        return dict(self._exec("SELECT key, value FROM meta").fetchall())

    def _ddl(self, statement: str) -> str:
        return statement

    def _columns(self, table: str) -> set[str]:
        return {r[1] for r in self._exec(f"PRAGMA table_info({table})").fetchall()}

    def _many(self, sql: str, rows: Sequence[Sequence]) -> None:
        self.db.executemany(sql, rows)

    def _meta(self, key: str) -> str:
        row = self._exec("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return "" if row is None else row[0]

    def _set_meta(self, key: str, value: str) -> None:
        self._exec("UPDATE meta SET value = ? WHERE key = ?", (value, key))

    def _needs_grouping(self, how: str = "new") -> None:
        if self._meta(GROUPING) != "full":
            self._set_meta(GROUPING, how)

    @property
    def root(self) -> str:
        """The folder the library's photo paths are relative to ("" before the first scan)."""
        return self._meta(ROOT)

    def set_root(self, root: Path) -> None:
        """The first scan names the library's folder; another folder later is refused, not mixed in."""
        with self.transaction():
            now = self._meta(ROOT)
            if now and now != str(root):
                raise LibraryError(f"this library holds the photos of {now}, not of {root}: scan that folder, or "
                                   "start another library", self.path)
            self._set_meta(ROOT, str(root))

    # -- what a scan reads and writes ------------------------------------------------------------------------------
    def photo_rows(self) -> dict[str, tuple[str, int, int]]:
        """{relative path: (content hash, size, mtime_ns)} of every file the library knows."""
        rows = self._exec("SELECT path, content_sha256, size, mtime_ns FROM lib_photos")
        return {r[0]: (r[1], int(r[2]), int(r[3])) for r in rows.fetchall()}

    def known_contents(self) -> set[str]:
        return {r[0] for r in self._exec("SELECT content_sha256 FROM lib_contents").fetchall()}

    def unreadable(self) -> list[tuple[str, str]]:
        """(path, why) of the library's files that could not be read."""
        return [(r[0], r[1]) for r in self._exec(
            "SELECT p.path, c.error FROM lib_photos p JOIN lib_contents c ON c.content_sha256 = p.content_sha256 "
            "WHERE c.error IS NOT NULL ORDER BY p.path").fetchall()]

    def add(self, contents: Iterable[NewContent], files: Iterable[tuple[str, str, int, int]] = ()) -> int:
        """One transaction: new contents with their faces and files, and `files` (path, hash, size, mtime_ns) whose
        content the library has already (a photo moved, copied, or touched). Returns the faces added."""
        added = 0
        with self.transaction():
            self._check_model()
            photo_rows: list[tuple[str, str, int, int]] = list(files)
            for c in contents:
                self._exec("INSERT OR IGNORE INTO lib_contents (content_sha256, width, height, taken, faces, error) "
                           "VALUES (?, ?, ?, ?, ?, ?)", (c.sha, c.width, c.height, c.taken,
                                                         len(c.faces or []), c.error))
                photo_rows += [(p, c.sha, s, m) for p, s, m in c.paths]
                for f in c.faces or []:
                    if f.embedding.shape != (self.embedding_size,) or not np.isfinite(f.embedding).all():
                        raise LibraryError(f"{c.paths[0][0] if c.paths else c.sha}: bad embedding; nothing written")
                    row = self._exec(
                        "INSERT OR IGNORE INTO lib_faces (content_sha256, face_index, box, points, score, embedding) "
                        "VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                        (c.sha, f.face_index, _json(f.box), _json(f.points), float(f.score),
                         f.embedding.astype(np.float32).tobytes())).fetchone()
                    if row is None:  # the same content from another file in this batch
                        continue
                    added += 1
                    if f.crop is not None:
                        self._exec("INSERT INTO lib_crops (face_id, jpeg, box, landmarks) VALUES (?, ?, ?, ?)",
                                   (row[0], f.crop.jpeg, _json(f.crop.box), _json(f.crop.landmarks)))
            for path, sha, size, mtime in photo_rows:
                self._exec("DELETE FROM lib_photos WHERE path = ?", (path,))
                self._exec("INSERT INTO lib_photos (path, content_sha256, size, mtime_ns) VALUES (?, ?, ?, ?)",
                           (path, sha, size, mtime))
            if added:
                self._needs_grouping()
        return added

    def forget(self, gone: Sequence[str], orphans: bool) -> tuple[int, int]:
        """Forget files that are gone; with `orphans`, also the faces of contents no file holds any more (a sharded
        scan leaves that to `group`: a photo moved to another shard's part must not lose its faces meanwhile).
        Returns (files, faces) forgotten."""
        with self.transaction():
            for path in gone:
                self._exec("DELETE FROM lib_photos WHERE path = ?", (path,))
            faces = self._forget_orphans() if orphans else 0
        return len(gone), faces

    def _forget_orphans(self) -> int:
        orphan = "SELECT content_sha256 FROM lib_contents WHERE content_sha256 NOT IN " \
                 "(SELECT content_sha256 FROM lib_photos)"
        people = [r[0] for r in self._exec(
            f"SELECT DISTINCT person_id FROM lib_faces WHERE person_id IS NOT NULL AND content_sha256 IN ({orphan})")]
        gone = f"SELECT id FROM lib_faces WHERE content_sha256 IN ({orphan})"
        for table in ("lib_crops", "lib_rejections", "migration"):
            self._exec(f"DELETE FROM {table} WHERE face_id IN ({gone})")
        n = self._exec(f"DELETE FROM lib_faces WHERE content_sha256 IN ({orphan})").rowcount
        self._exec(f"DELETE FROM lib_contents WHERE content_sha256 IN ({orphan})")
        if n:
            self._sync(people)
            self._needs_grouping()
        return max(n, 0)

    # -- grouping --------------------------------------------------------------------------------------------------
    def grouping_due(self) -> str:
        """"" when every face is grouped, "new" when new faces wait, "full" when everything is to be grouped again."""
        return self._meta(GROUPING)

    def group(self, threshold: float, full: bool = False, force: bool = False) -> dict[str, int]:
        """Sort the faces into people (faceprint.applications.library.grouping), in one transaction: a grouping
        killed half-way leaves the library as it was. Does nothing when nothing changed since the last one, unless
        `force`. Returns counts of what changed."""
        from faceprint.applications.library.grouping import UNASSIGNED, group_faces

        with self.transaction():
            due = self._meta(GROUPING)
            full = full or due == "full"
            if not due and not full and not force:
                return {"faces": 0, "moved": 0, "new_people": 0, "people_gone": 0}
            self._forget_orphans()
            rows = self._exec("SELECT id, content_sha256, person_id, embedding FROM lib_faces "
                              "WHERE not_face = 0 ORDER BY id").fetchall()
            ids = np.array([r[0] for r in rows], np.int64)
            _, photo = np.unique(np.array([r[1] for r in rows], object), return_inverse=True) if rows else (0, ids)
            person = np.array([UNASSIGNED if r[2] is None else r[2] for r in rows], np.int64)
            emb = (np.frombuffer(b"".join(bytes(r[3]) for r in rows), np.float32).reshape(len(rows), -1)
                   if rows else np.zeros((0, self.embedding_size), np.float32))
            locked = [r[0] for r in self._exec(
                "SELECT id FROM lib_people WHERE name IS NOT NULL OR hidden = 1 OR kept = 1").fetchall()]
            row_of = {int(f): i for i, f in enumerate(ids)}
            rejected = [(row_of[f], int(p)) for f, p in self._exec(
                "SELECT face_id, person_id FROM lib_rejections").fetchall() if f in row_of]
            upto = int(self._meta(GROUPED) or 0)  # faces past it are new since the last grouping
            new, n_new = group_faces(emb, np.asarray(photo).ravel(), person, locked, rejected, threshold, full=full,
                                     new=ids > upto)
            fresh = {}
            for k in range(n_new):
                fresh[-2 - k] = self._exec("INSERT INTO lib_people (name) VALUES (NULL) RETURNING id").fetchone()[0]
            final = np.array([fresh.get(int(p), int(p)) for p in new], np.int64)
            changed = np.flatnonzero(final != person)
            self._many("UPDATE lib_faces SET person_id = ? WHERE id = ?",
                       [(None if final[i] == UNASSIGNED else int(final[i]), int(ids[i])) for i in changed])
            # a suggestion that went into another: what was said of it ("not this person") holds for the whole
            absorbed = {int(person[i]): int(final[i]) for i in changed if person[i] >= 0 and final[i] >= 0}
            for old, into in absorbed.items():
                if not (final == old).any():
                    self._remap_rejections(old, into)
            touched = {int(p) for p in np.concatenate([person[changed], final[changed]]) if p >= 0}
            gone = self._drop_empty_suggestions()
            self._sync(touched & set(locked))
            self._set_meta(GROUPING, "")
            self._exec("INSERT OR IGNORE INTO meta VALUES (?, ?)", (GROUPED, "0"))  # a library made before it
            self._set_meta(GROUPED, str(int(ids.max()) if len(ids) else upto))
        return {"faces": len(ids), "moved": len(changed), "new_people": n_new, "people_gone": gone}

    def _remap_rejections(self, old: int, into: int) -> None:
        self._exec("INSERT OR IGNORE INTO lib_rejections (face_id, person_id) SELECT face_id, ? FROM lib_rejections "
                   "WHERE person_id = ?", (into, old))
        self._exec("DELETE FROM lib_rejections WHERE person_id = ?", (old,))

    def _drop_empty_suggestions(self) -> int:
        return max(0, self._exec(
            "DELETE FROM lib_people WHERE name IS NULL AND hidden = 0 AND id NOT IN "
            "(SELECT person_id FROM lib_faces WHERE person_id IS NOT NULL AND not_face = 0)").rowcount)

    # -- named people are the gallery's identities -----------------------------------------------------------------
    def _sync(self, people: Iterable[int]) -> None:
        """Inside a transaction: the gallery's identities, faces and crops of these people as the library has them
        now (a named person's faces; nothing for a suggestion)."""
        for pid in sorted(set(people)):
            row = self._exec("SELECT name, identity_id FROM lib_people WHERE id = ?", (pid,)).fetchone()
            name, identity = (None, None) if row is None else row
            if identity is not None:
                self._exec("DELETE FROM crops WHERE face_id IN (SELECT id FROM faces WHERE identity_id = ?)",
                           (identity,))
                self._exec("DELETE FROM faces WHERE identity_id = ?", (identity,))
                self._exec("DELETE FROM identities WHERE id = ?", (identity,))
                identity = None
            if name is not None:
                identity = self._exec("INSERT INTO identities (name) VALUES (?) RETURNING id",
                                      (name,)).fetchone()[0]
                self._exec(
                    "INSERT INTO faces (identity_id, source, content_sha256, face_index, embedding) "
                    "SELECT ?, COALESCE((SELECT MIN(p.path) FROM lib_photos p WHERE p.content_sha256 = "
                    "f.content_sha256), f.content_sha256), f.content_sha256, f.face_index, f.embedding "
                    "FROM lib_faces f WHERE f.person_id = ? AND f.not_face = 0", (identity, pid))
                self._exec(
                    "INSERT INTO crops (face_id, jpeg, box, landmarks) SELECT g.id, c.jpeg, c.box, c.landmarks "
                    "FROM faces g JOIN lib_faces f ON f.content_sha256 = g.content_sha256 AND f.face_index = "
                    "g.face_index JOIN lib_crops c ON c.face_id = f.id WHERE g.identity_id = ?", (identity,))
            if row is not None:
                self._exec("UPDATE lib_people SET identity_id = ? WHERE id = ?", (identity, pid))
        self._matrix = None

    # -- corrections: facts no scan or grouping undoes -------------------------------------------------------------
    def _person(self, pid: int) -> tuple[str | None, bool]:
        row = self._exec("SELECT name, hidden FROM lib_people WHERE id = ?", (int(pid),)).fetchone()
        if row is None:
            raise NotFoundInLibrary(f"no person {pid} in the library", self.path)
        return row[0], bool(row[1])

    def name(self, pid: int, name: str, actor: Actor | None = None) -> None:
        """Name a suggestion (it becomes one of the gallery's identities), or rename a person."""
        name = name.strip()
        if not name or any(ord(c) < 32 for c in name):
            raise LibraryError("a name must be printable and not blank")
        with self.transaction():
            old, _ = self._person(pid)
            other = self._exec("SELECT id FROM lib_people WHERE name = ? AND id <> ?", (name, pid)).fetchone()
            if other is not None:
                raise NameTakenError(f"{name!r} is person {other[0]} already: merge the two "
                                   f"(`faceprint library merge {other[0]} {pid}`)", self.path)
            self._exec("UPDATE lib_people SET name = ? WHERE id = ?", (name, pid))
            self._sync([pid])
            change = f"named person {pid}" if old is None else f"renamed {old!r} (person {pid})"
            self._audit(actor, name, change, {"person": pid, "was": old})

    def merge(self, pids: Sequence[int], actor: Actor | None = None) -> int:
        """Merge people into the first: their faces, and what was said of them, go to it. The result keeps the
        first one's name, else the first name among the others; hidden if the first is. Returns the person."""
        pids = [int(p) for p in dict.fromkeys(pids)]
        if len(pids) < 2:
            raise LibraryError("merge needs two people or more")
        with self.transaction():
            rows = [(p, *self._person(p)) for p in pids]
            into = pids[0]
            name = next((n for _, n, _ in rows if n is not None), None)
            for p in pids[1:]:
                self._exec("UPDATE lib_faces SET person_id = ? WHERE person_id = ?", (into, p))
                self._remap_rejections(p, into)
                self._exec("UPDATE lib_people SET name = NULL WHERE id = ?", (p,))
            # a face said not to be one of them stays out, but it was in one of them: that fact is void now
            self._exec("DELETE FROM lib_rejections WHERE person_id = ? AND face_id IN "
                       "(SELECT id FROM lib_faces WHERE person_id = ?)", (into, into))
            # the user's: no re-grouping takes it apart, even unnamed
            self._exec("UPDATE lib_people SET name = ?, kept = 1 WHERE id = ?", (name, into))
            self._sync(pids)
            for p in pids[1:]:
                self._exec("DELETE FROM lib_people WHERE id = ?", (p,))
            self._audit(actor, name, f"merged people {', '.join(map(str, pids[1:]))} into {into}",
                        {"into": into, "merged": pids[1:], "names": [n for _, n, _ in rows]})
        return into

    def remove_face(self, face_id: int, not_a_face: bool = False, actor: Actor | None = None) -> int | None:
        """Move a face out of its person ("not this person": never offered as them again), or mark it as no face at
        all (left out of people and export for good). Returns the person it was in."""
        with self.transaction():
            row = self._exec("SELECT person_id, not_face FROM lib_faces WHERE id = ?", (int(face_id),)).fetchone()
            if row is None:
                raise NotFoundInLibrary(f"no face {face_id} in the library", self.path)
            pid = row[0]
            if pid is not None:
                self._exec("INSERT OR IGNORE INTO lib_rejections (face_id, person_id) VALUES (?, ?)",
                           (face_id, pid))
            self._exec("UPDATE lib_faces SET person_id = NULL, not_face = ? WHERE id = ?",
                       (int(not_a_face or row[1]), face_id))
            name = self._person(pid)[0] if pid is not None else None
            if pid is not None:
                self._sync([pid])
            self._drop_empty_suggestions()
            what = "marked face {} as not a face" if not_a_face else "moved face {} out"
            self._audit(actor, name, what.format(face_id) + (f" of person {pid}" if pid is not None else ""),
                        {"face": face_id, "person": pid, "not_a_face": not_a_face})
        return pid

    def assign(self, face_id: int, name: str, actor: Actor | None = None) -> int:
        """"This face is NAME": the face goes to the named person (made if no one has that name; an earlier "not
        this person" of it is void). Returns the person."""
        name = name.strip()
        if not name or any(ord(c) < 32 for c in name):
            raise LibraryError("a name must be printable and not blank")
        with self.transaction():
            row = self._exec("SELECT person_id FROM lib_faces WHERE id = ? AND not_face = 0",
                             (int(face_id),)).fetchone()
            if row is None:
                raise NotFoundInLibrary(f"no face {face_id} in the library", self.path)
            found = self._exec("SELECT id FROM lib_people WHERE name = ?", (name,)).fetchone()
            pid = found[0] if found else self._exec(
                "INSERT INTO lib_people (name) VALUES (?) RETURNING id", (name,)).fetchone()[0]
            self._exec("UPDATE lib_faces SET person_id = ? WHERE id = ?", (pid, face_id))
            self._exec("DELETE FROM lib_rejections WHERE face_id = ? AND person_id = ?", (face_id, pid))
            self._sync([p for p in (row[0], pid) if p is not None])
            self._drop_empty_suggestions()
            self._audit(actor, name, f"put face {face_id} in person {pid}",
                        {"face": face_id, "person": pid, "was": row[0]})
        return int(pid)

    def hide(self, pid: int, hidden: bool = True, actor: Actor | None = None) -> None:
        """Hide a person from the people list (or show them again); a hidden person still takes in their faces."""
        with self.transaction():
            name, _ = self._person(pid)
            self._exec("UPDATE lib_people SET hidden = ? WHERE id = ?", (int(hidden), pid))
            self._audit(actor, name, f"{'hid' if hidden else 'showed'} person {pid}",
                        {"person": pid, "hidden": hidden})

    # -- reading ---------------------------------------------------------------------------------------------------
    def people(self, offset: int = 0, limit: int | None = None, hidden: bool = True) -> list[PersonRow]:
        """Named people first (by name), then suggestions by size; a page of them."""
        sql = ("SELECT p.id, p.name, p.hidden, COUNT(f.id), COUNT(DISTINCT f.content_sha256), MIN(f.id) "
               "FROM lib_people p LEFT JOIN lib_faces f ON f.person_id = p.id AND f.not_face = 0 "
               + ("" if hidden else "WHERE p.hidden = 0 ")
               + "GROUP BY p.id, p.name, p.hidden "
               "ORDER BY CASE WHEN p.name IS NULL THEN 1 ELSE 0 END, p.name, COUNT(f.id) DESC, p.id")
        if limit is not None:
            sql += f" LIMIT {int(limit)} OFFSET {int(offset)}"
        return [PersonRow(int(r[0]), r[1], bool(r[2]), int(r[3]), int(r[4]), r[5])
                for r in self._exec(sql).fetchall()]

    def count_people(self, hidden: bool = True) -> int:
        return int(self._exec("SELECT COUNT(*) FROM lib_people" + ("" if hidden else " WHERE hidden = 0"))
                   .fetchone()[0])

    def faces_of(self, pid: int | None, offset: int = 0, limit: int = 100) -> tuple[int, list[dict[str, Any]]]:
        """(how many, a page of them) of a person's faces, or of the faces in no person (pid None): id, photo, box,
        the photo's size as shown, its taken date; by taken date then id."""
        where = "f.person_id IS NULL" if pid is None else "f.person_id = ?"
        params: tuple = () if pid is None else (int(pid),)
        with self.transaction(write=False):
            total = int(self._exec(f"SELECT COUNT(*) FROM lib_faces f WHERE f.not_face = 0 AND {where}",
                                   params).fetchone()[0])
            rows = self._exec(
                "SELECT f.id, (SELECT MIN(p.path) FROM lib_photos p WHERE p.content_sha256 = f.content_sha256), "
                "f.box, c.width, c.height, c.taken FROM lib_faces f JOIN lib_contents c ON c.content_sha256 = "
                f"f.content_sha256 WHERE f.not_face = 0 AND {where} ORDER BY c.taken, f.id "
                f"LIMIT {int(limit)} OFFSET {int(offset)}", params).fetchall()
        return total, [{"id": int(r[0]), "photo": r[1] or "", "box": json.loads(r[2]), "width": int(r[3] or 0),
                        "height": int(r[4] or 0), "taken": r[5]} for r in rows]

    def photo_of(self, face_id: int) -> str | None:
        """The path (relative to the library's folder) of the photo a face is in."""
        row = self._exec("SELECT MIN(p.path) FROM lib_faces f JOIN lib_photos p ON p.content_sha256 = "
                         "f.content_sha256 WHERE f.id = ?", (int(face_id),)).fetchone()
        return None if row is None else row[0]

    def faces(self) -> list[tuple[int, str, list[float], int | None]]:
        """(face id, photo path, box, person or None) of every face that is a face, by person then id; a content
        held by several files is shown at the first of them."""
        rows = self._exec(
            "SELECT f.id, (SELECT MIN(p.path) FROM lib_photos p WHERE p.content_sha256 = f.content_sha256), f.box, "
            "f.person_id FROM lib_faces f WHERE f.not_face = 0 ORDER BY f.id").fetchall()
        return [(int(r[0]), r[1] or "", json.loads(r[2]), r[3]) for r in rows if r[1] is not None]

    def export(self) -> dict[str, Any]:
        """Who is where: {"people": [{"id", "name", "hidden", "faces": [{"id", "photo", "box"}]}], "unassigned":
        [...]}, photos relative to the library's folder; one snapshot."""
        with self.transaction(write=False):
            people = self.people()
            faces = self.faces()
        by: dict[int | None, list[dict]] = {}
        for fid, photo, box, pid in faces:
            by.setdefault(pid, []).append({"id": fid, "photo": photo, "box": box})
        return {"people": [{"id": p.id, "name": p.name, "hidden": p.hidden, "faces": by.get(p.id, [])}
                           for p in people],
                "unassigned": by.get(None, [])}

    def named_regions(self) -> dict[str, tuple[int, int, list[tuple[str, list[float]]]]]:
        """{photo path: (width, height, [(name, box)] of its faces in named, shown people)} for every photo."""
        rows = self._exec(
            "SELECT p.path, c.width, c.height, pe.name, f.box FROM lib_photos p JOIN lib_contents c "
            "ON c.content_sha256 = p.content_sha256 LEFT JOIN lib_faces f ON f.content_sha256 = p.content_sha256 "
            "AND f.not_face = 0 AND f.person_id IN (SELECT id FROM lib_people WHERE name IS NOT NULL AND hidden = 0) "
            "LEFT JOIN lib_people pe ON pe.id = f.person_id ORDER BY p.path, f.face_index").fetchall()
        out: dict[str, tuple[int, int, list[tuple[str, list[float]]]]] = {}
        for path, w, h, name, box in rows:
            entry = out.setdefault(path, (int(w or 0), int(h or 0), []))
            if name is not None:
                entry[2].append((name, json.loads(box)))
        return out

    def crop(self, face_id: int) -> FaceCrop | None:
        row = self._exec("SELECT jpeg, box, landmarks FROM lib_crops WHERE face_id = ?", (int(face_id),)).fetchone()
        return None if row is None else FaceCrop(bytes(row[0]), _unjson(row[1], (4,)), _unjson(row[2], (5, 2)))

    def summary(self) -> dict[str, int]:
        with self.transaction(write=False):
            q = lambda sql: int(self._exec(sql).fetchone()[0])  # noqa: E731
            return {"photos": q("SELECT COUNT(*) FROM lib_photos"),
                    "faces": q("SELECT COUNT(*) FROM lib_faces WHERE not_face = 0"),
                    "named": q("SELECT COUNT(*) FROM lib_people WHERE name IS NOT NULL"),
                    "suggested": q("SELECT COUNT(*) FROM lib_people WHERE name IS NULL"),
                    "unassigned": q("SELECT COUNT(*) FROM lib_faces WHERE person_id IS NULL AND not_face = 0")}

    # -- a library is a gallery, but its people are named here, not enrolled ----------------------------------------
    def enroll(self, items: Iterable[tuple], actor: Actor | None = None) -> tuple[int, int]:
        raise LibraryError("this is a photo library: its people come from `faceprint library scan` and are named "
                           "with `faceprint library name`, not enrolled", self.path)

    def remove(self, name: str, actor: Actor | None = None) -> int:
        raise LibraryError("this is a photo library: its people are not removed, their faces are moved out "
                           "(`faceprint library remove --face`) or the person hidden", self.path)

    # -- moving to another model (faceprint.applications.migration): the library's faces, not the mirror ----------
    def stored_faces(self) -> list[StoredFace]:
        with self.transaction(write=False):
            rows = self._exec(
                "SELECT f.id, f.person_id, (SELECT MIN(p.path) FROM lib_photos p WHERE p.content_sha256 = "
                "f.content_sha256), f.content_sha256, f.face_index, c.jpeg, c.box, c.landmarks FROM lib_faces f "
                "LEFT JOIN lib_crops c ON c.face_id = f.id ORDER BY f.id").fetchall()
        return [StoredFace(int(r[0]), "" if r[1] is None else str(r[1]), r[2] or r[3], r[3], int(r[4]),
                           None if r[5] is None else FaceCrop(bytes(r[5]), _unjson(r[6], (4,)),
                                                              _unjson(r[7], (5, 2))))
                for r in rows]

    def switch(self, target: str, embedding_size: int, distance: Any, actor: Actor | None = None
               ) -> tuple[int, list[str], list[str]] | None:
        """Gallery.switch for the library's faces; named people's gallery rows follow, and every suggestion is
        made again with the new model at the next grouping (names and other corrections stay)."""
        from faceprint.distances import get_distance

        dist = get_distance(distance)
        with self.transaction():
            missing = self._exec("SELECT COUNT(*) FROM lib_faces f LEFT JOIN migration m ON m.face_id = f.id "
                                 "AND m.target = ? WHERE m.face_id IS NULL", (target,)).fetchone()[0]
            if missing:
                return None
            rows = self._exec("SELECT m.face_id, m.embedding, m.note FROM migration m WHERE m.target = ?",
                              (target,)).fetchall()
            dropped, noted = [], []
            people = [r[0] for r in self._exec("SELECT id FROM lib_people").fetchall()]
            for face_id, emb, note in rows:
                if emb is None:
                    for table in ("lib_crops", "lib_rejections"):
                        self._exec(f"DELETE FROM {table} WHERE face_id = ?", (face_id,))
                    self._exec("DELETE FROM lib_faces WHERE id = ?", (face_id,))
                    dropped.append(f"face {face_id}: {note}")
                else:
                    self._exec("UPDATE lib_faces SET embedding = ? WHERE id = ?", (bytes(emb), face_id))
                    if note:
                        noted.append(f"face {face_id}: {note}")
            for key, value in (("model_fingerprint", target), ("embedding_size", str(embedding_size)),
                               ("distance", dist.name)):
                self._set_meta(key, value)
            self.fingerprint, self.embedding_size = target, embedding_size
            self._sync(people)
            self._drop_empty_suggestions()
            self._set_meta(GROUPING, "full")
            self._exec("DELETE FROM migration")
            self._audit(actor, None, f"moved to model {target}: {len(rows) - len(dropped)} faces embedded again, "
                                     f"{len(dropped)} removed", {"to": target, "removed": dropped})
        self.distance = dist
        return len(rows) - len(dropped), dropped, noted


class Library(LibraryMixin, Gallery):
    """A library in one SQLite file."""


class PostgresLibrary(LibraryMixin, PostgresGallery):
    """A library in a PostgreSQL database (several `scan --shard` processes on several hosts fill one)."""

    def _ddl(self, statement: str) -> str:
        return (statement.replace("INTEGER PRIMARY KEY", "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY")
                .replace("BLOB", "BYTEA").replace(" INTEGER", " BIGINT").replace(" REAL", " DOUBLE PRECISION"))

    def _columns(self, table: str) -> set[str]:
        return {r[0] for r in self._exec("SELECT column_name FROM information_schema.columns WHERE table_name = ?",
                                         (table,)).fetchall()}

    def _exec(self, sql: str, params: Sequence = ()) -> Any:
        if sql.startswith("INSERT OR IGNORE INTO ") and " RETURNING " in sql:  # ON CONFLICT goes before RETURNING
            head, _, ret = sql.rpartition(" RETURNING ")
            sql = f"INSERT INTO {head[len('INSERT OR IGNORE INTO '):]} ON CONFLICT DO NOTHING RETURNING {ret}"
        return super()._exec(sql, params)

    def _many(self, sql: str, rows: Sequence[Sequence]) -> None:
        with self.db.cursor() as cur:
            cur.executemany(sql.replace("?", "%s"), rows)

    def drop(self) -> None:
        with self._transaction("BEGIN"):
            for table in ("lib_photos", "lib_contents", "lib_faces", "lib_crops", "lib_people", "lib_rejections"):
                self.db.execute(f"DROP TABLE IF EXISTS {table}")
        super().drop()


def open_library(location: str | Path, fingerprint: str | None, embedding_size: int | None = None,
                 distance: Any = None, create: bool = True) -> Library:
    """A library in a SQLite file or a postgresql:// database (fingerprint None: an existing one, whatever its
    model)."""
    cls = PostgresLibrary if is_postgres_url(location) else Library
    return cls(location, fingerprint, embedding_size, distance, create=create)


def is_library(gallery: Gallery) -> bool:
    row = gallery._exec("SELECT value FROM meta WHERE key = 'library'").fetchone()
    return row is not None


def open_gallery_or_library(location: str | Path, fingerprint: str | None, embedding_size: int | None = None,
                            distance: Any = None, create: bool = True, keep_crops: bool = True) -> Gallery:
    """open_gallery_at, but a photo library comes back as one (its people are named there, not enrolled, and it
    moves to a new model its own way)."""
    from faceprint.applications.postgres import open_gallery_at

    gallery = open_gallery_at(location, fingerprint, embedding_size, distance, create=create, keep_crops=keep_crops)
    if not is_library(gallery):
        return gallery
    gallery.close()
    return open_library(location, fingerprint, embedding_size, distance, create=False)
