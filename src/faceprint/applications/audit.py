"""Who changed a gallery, when, and how: the audit trail every write to a gallery leaves.

Each change (faces enrolled, a person removed, crops erased, a move to another model) writes one row per person it
touched, in the same transaction as the change itself: a change is never without its row, and a row never without
its change. A row names the actor (a service key's label, never the key; `cli` or `python` for local processes, with
the local user name), the route or command, the person, and what changed.
"""

from __future__ import annotations

import getpass
import json
import re
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from faceprint.errors import InputError

_cli_command: str | None = None  # set once by the CLI: "faceprint enroll", "faceprint gallery migrate", ...


def set_cli_command(command: str) -> None:
    """The CLI names the command it runs; local writes are then recorded as `cli` with that command."""
    global _cli_command
    _cli_command = command


def _user() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (containers)
        return None


@dataclass(frozen=True)
class Actor:
    label: str  # a key's label; "cli" or "python" for a local process
    action: str  # the route ("POST /enroll") or the command ("faceprint enroll")
    user: str | None = None  # the local user name (local processes only)

    @classmethod
    def local(cls) -> Actor:
        """This process: the CLI command it runs, or the Python program that imported faceprint."""
        if _cli_command is not None:
            return cls("cli", _cli_command, _user())
        script = sys.argv[0] if sys.argv and sys.argv[0] else "python"
        return cls("python", f"python {script}"[:200], _user())


def stamp(at: datetime) -> str:
    """UTC to the millisecond, in a form whose text order is time order (four-digit years, always)."""
    try:
        at = at.astimezone(UTC)
    except OverflowError:  # year 1 or 9999 pushed past the calendar by its zone: the calendar's end
        at = (datetime.min if at.year < 5000 else datetime.max).replace(tzinfo=UTC)
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def now() -> str:
    return stamp(datetime.now(UTC))


@dataclass(frozen=True)
class AuditRow:
    id: int
    at: str
    actor: str
    user: str | None
    action: str
    person: str | None
    change: str
    detail: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "at": self.at, "actor": self.actor, "user": self.user, "action": self.action,
                "person": self.person, "change": self.change, "detail": self.detail}


def row(values: tuple) -> AuditRow:
    i, at, actor, user, action, person, change, detail = values
    return AuditRow(int(i), at, actor, user, action, person, change, json.loads(detail or "{}"))


_AGO = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_since(text: str, clock: datetime | None = None) -> str:
    """`--since`: an ISO 8601 date or time (UTC unless it names its zone), or an age like 30m, 12h, 7d, 2w; returns
    the UTC timestamp in the trail's own form."""
    text = text.strip()
    m = _AGO.match(text)
    if m:
        try:
            at = (clock or datetime.now(UTC)) - timedelta(seconds=float(m.group(1)) * _UNIT_S[m.group(2)])
        except OverflowError:
            at = datetime.min.replace(tzinfo=UTC)  # longer ago than any record
    else:
        try:
            at = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise InputError(f"--since {text!r}: give an ISO date or time (2026-12-07, 2026-12-07T09:30) or an age "
                             "(30m, 12h, 7d, 2w)") from None
        at = at.replace(tzinfo=UTC) if at.tzinfo is None else at
    return stamp(at)
