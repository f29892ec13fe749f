"""The gallery on PostgreSQL (`--gallery postgresql://user@host/db`), for replicas and enrollment jobs on several hosts
sharing one gallery. Same tables, header, model check, idempotent enrollment and all-or-nothing writes as the SQLite
file; search stays in faceprint's indexes, refreshed when any client commits (a generation counter in the header).

Writers take a table lock that only writers contend for (SHARE ROW EXCLUSIVE on faces), so two enrollments run one
after the other, as BEGIN IMMEDIATE makes them on SQLite; readers read one snapshot (REPEATABLE READ) and never wait.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from faceprint.applications.identification import BUSY_TIMEOUT_S, Gallery, GalleryError

SCHEMA = [
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS identities (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
    "name TEXT NOT NULL UNIQUE)",
    "CREATE TABLE IF NOT EXISTS faces (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
    "identity_id BIGINT NOT NULL REFERENCES identities(id), source TEXT NOT NULL, content_sha256 TEXT NOT NULL, "
    "face_index INTEGER NOT NULL DEFAULT 0, embedding BYTEA NOT NULL, UNIQUE (content_sha256, face_index))",
    "CREATE TABLE IF NOT EXISTS crops (face_id BIGINT PRIMARY KEY, jpeg BYTEA NOT NULL, box TEXT, landmarks TEXT)",
    "CREATE TABLE IF NOT EXISTS migration (face_id BIGINT PRIMARY KEY, target TEXT NOT NULL, embedding BYTEA, "
    "note TEXT NOT NULL DEFAULT '')",
    "CREATE TABLE IF NOT EXISTS audit (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, at TEXT NOT NULL, "
    "actor TEXT NOT NULL, user_name TEXT, action TEXT NOT NULL, person TEXT, change TEXT NOT NULL, "
    "detail TEXT NOT NULL DEFAULT '{}')",
]
SCHEMA_LOCK = 0x66616365  # pg_advisory_xact_lock key: clients creating the schema at once take turns
URL_PREFIXES = ("postgresql://", "postgres://")


def is_postgres_url(location: str | Path) -> bool:
    return str(location).startswith(URL_PREFIXES)


def redact(url: str) -> str:
    """The URL without its password, for messages and file names."""
    return re.sub(r"(://[^:/@]+):[^@/]*@", r"\1:***@", url)


class PostgresGallery(Gallery):
    def _open(self, path: str | Path, create: bool, header: list[tuple[str, str]]) -> dict[str, str]:
        try:
            import psycopg
        except ImportError:
            raise GalleryError("a PostgreSQL gallery needs psycopg: pip install 'faceprint[postgres]'") from None
        self.url = str(path)
        self.path = redact(self.url)  # type: ignore[assignment]  # what messages show
        self._operational = psycopg.OperationalError
        try:
            self.db = psycopg.connect(self.url, autocommit=True, connect_timeout=10)
            self.db.execute(f"SET lock_timeout = '{int(BUSY_TIMEOUT_S * 1000)}ms'")
            exists = self.db.execute("SELECT to_regclass('meta') IS NOT NULL").fetchone()[0]
            if not exists and not create:
                raise GalleryError("no faceprint gallery in this database", self.path)
            # the schema (tables added since a gallery was made, too) and, when making one, its header
            with self._transaction("BEGIN"):
                self.db.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
                for statement in SCHEMA:
                    self.db.execute(statement)
                for row in [*header, ("generation", "0")] if header else []:
                    self._exec("INSERT OR IGNORE INTO meta VALUES (?, ?)", row)
            return dict(self.db.execute("SELECT key, value FROM meta").fetchall())
        except psycopg.Error as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise GalleryError(f"cannot open the gallery ({first})", self.path) from None

    def _exec(self, sql: str, params: Sequence = ()) -> Any:
        sql = sql.replace("?", "%s")
        if sql.startswith("INSERT OR IGNORE INTO "):
            sql = "INSERT INTO " + sql[len("INSERT OR IGNORE INTO "):] + " ON CONFLICT DO NOTHING"
        try:
            return self.db.execute(sql, params)
        except self._operational as e:  # lost connection, lock wait over BUSY_TIMEOUT_S, server shutting down
            raise GalleryError(str(e).strip().splitlines()[0], self.path) from None

    @contextmanager
    def transaction(self, write: bool = True) -> Iterator[None]:
        """Writers one at a time (a lock only writers take), each commit bumping the generation; readers one
        REPEATABLE READ snapshot."""
        if not write:
            with self._transaction("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"):
                yield
            return
        with self._transaction("BEGIN"):
            self.db.execute("LOCK TABLE faces IN SHARE ROW EXCLUSIVE MODE")
            yield
            self.db.execute("UPDATE meta SET value = (value::bigint + 1)::text WHERE key = 'generation'")

    def _erase_freed(self) -> None:
        """Deleted rows stay in PostgreSQL's pages until vacuumed: reclaim them now."""
        self.db.execute("VACUUM FULL crops")

    def version(self) -> int:
        return int(self.db.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()[0])

    @property
    def index_path(self) -> Path:
        """A kept FAISS index lives in faceprint's cache folder, named after the database (not its password)."""
        from faceprint.data.cache import default_cache_dir

        key = hashlib.sha256(redact(self.url).encode()).hexdigest()[:16]
        folder = default_cache_dir()
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f"gallery-{key}.faiss"

    def drop(self) -> None:
        """Remove the gallery's tables (tests and tear-down)."""
        with self._transaction("BEGIN"):
            for table in ("crops", "migration", "audit", "faces", "identities", "meta"):
                self.db.execute(f"DROP TABLE IF EXISTS {table}")


def open_gallery_at(location: str | Path, fingerprint: str | None, embedding_size: int | None = None,
                    distance: Any = None, create: bool = True, keep_crops: bool = True) -> Gallery:
    """A SQLite file, or a PostgreSQL database given as postgresql://... (fingerprint None: an existing gallery,
    whatever its model)."""
    cls = PostgresGallery if is_postgres_url(location) else Gallery
    return cls(location, fingerprint, embedding_size, distance, create=create, keep_crops=keep_crops)
