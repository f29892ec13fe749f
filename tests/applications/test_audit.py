"""The audit trail: every write to a gallery leaves one row per person it touched (who, when, route or command, what
changed) in the same transaction as the change, on SQLite and PostgreSQL alike; `faceprint gallery log` prints it."""

from __future__ import annotations

import getpass
import json
from datetime import UTC, datetime

import numpy as np
import pytest

from faceprint.applications import audit
from faceprint.applications.audit import Actor, parse_since
from faceprint.applications.identification import EnrolledAsOtherError, Gallery, UnknownPersonError
from faceprint.applications.postgres import open_gallery_at
from faceprint.errors import InputError

D = 8
ALICE, BOB = Actor("alice", "POST /enroll"), Actor("bob", "DELETE /people/{name}")


def _rows(rng, people, per, tag="x"):  # type: ignore[no-untyped-def]
    return [(f"p{i}", f"{tag}{i}_{j}.jpg", f"sha-{tag}-{i}-{j}", 0, rng.normal(size=D).astype(np.float32))
            for i in range(people) for j in range(per)]


def _scenario(location) -> list[tuple]:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(0)
    with open_gallery_at(location, "fp", D, "squared_l2") as g:
        rows = _rows(rng, 3, 2)
        g.enroll(rows, actor=ALICE)
        g.enroll(rows, actor=ALICE)  # nothing new: no row
        with pytest.raises(EnrolledAsOtherError):  # refused whole: no faces, no row
            g.enroll([*_rows(rng, 1, 1, "new"), ("p1", "x", rows[0][2], 0, rows[0][4])], actor=ALICE)
        g.remove("p0", actor=BOB)
        with pytest.raises(UnknownPersonError):
            g.remove("nobody", actor=BOB)
        g.forget_crops(actor=Actor("carol", "POST /gallery/forget-crops"))
        faces = g.stored_faces()
        g.stage("fp2", [(f.id, np.ones(D, np.float32) if f.identity == "p1" else None, "no face found")
                        for f in faces])
        g.switch("fp2", D, "squared_l2", actor=Actor("cli", "faceprint gallery migrate", "ops"))
        trail = g.audit_log()
    assert all(r.at.endswith("Z") and datetime.fromisoformat(r.at.replace("Z", "+00:00")) for r in trail)
    assert [r.id for r in trail] == sorted(r.id for r in trail)
    return [(r.actor, r.user, r.action, r.person, r.change, r.detail) for r in trail]


EXPECTED = [
    ("alice", None, "POST /enroll", "p0", "enrolled 2 faces", {"added": 2, "sources": ["x0_0.jpg", "x0_1.jpg"]}),
    ("alice", None, "POST /enroll", "p1", "enrolled 2 faces", {"added": 2, "sources": ["x1_0.jpg", "x1_1.jpg"]}),
    ("alice", None, "POST /enroll", "p2", "enrolled 2 faces", {"added": 2, "sources": ["x2_0.jpg", "x2_1.jpg"]}),
    ("bob", None, "DELETE /people/{name}", "p0", "removed the person and 2 faces", {"faces_removed": 2}),
    ("carol", None, "POST /gallery/forget-crops", None, "erased 0 face crops; keeps none from now on",
     {"crops_erased": 0}),
    ("cli", "ops", "faceprint gallery migrate", None, "moved to model fp2: 2 faces embedded again, 2 removed",
     {"from": "fp", "to": "fp2", "moved": 2, "removed": ["x2_0.jpg: no face found", "x2_1.jpg: no face found"],
      "people_removed": ["p2"]}),
]


def test_the_trail_on_sqlite(tmp_path):
    assert _scenario(tmp_path / "g.db") == EXPECTED


def test_the_trail_on_postgres(postgres_url):
    assert _scenario(postgres_url) == EXPECTED


@pytest.mark.parametrize("where", ["sqlite", "postgres"])
def test_a_change_and_its_row_commit_together(where, tmp_path, request, monkeypatch):
    """The row is written inside the change's transaction: when writing the row fails, the change is rolled back."""
    location = tmp_path / "g.db" if where == "sqlite" else request.getfixturevalue("postgres_url")
    rng = np.random.default_rng(1)
    with open_gallery_at(location, "fp", D, "squared_l2") as g:
        g.enroll(_rows(rng, 1, 1, "kept"), actor=ALICE)

        def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
            raise RuntimeError("the trail could not be written")

        monkeypatch.setattr(type(g), "_audit", broken)
        with pytest.raises(RuntimeError):
            g.enroll(_rows(rng, 2, 2, "lost"), actor=ALICE)
        with pytest.raises(RuntimeError):
            g.remove("p0", actor=BOB)
        monkeypatch.undo()
        assert len(g) == 1 and g.identities() == [("p0", 1)]
        assert [r.person for r in g.audit_log()] == ["p0"]


def test_who_a_local_process_is(monkeypatch):
    monkeypatch.setattr(audit, "_cli_command", None)
    me = Actor.local()
    assert me.label == "python" and me.action.startswith("python ") and me.user == getpass.getuser()
    audit.set_cli_command("faceprint enroll")
    assert Actor.local() == Actor("cli", "faceprint enroll", getpass.getuser())


def test_since():
    clock = datetime(2026, 12, 7, 12, 0, 0, tzinfo=UTC)
    assert parse_since("30m", clock) == "2026-12-07T11:30:00.000Z"
    assert parse_since("2d", clock) == "2026-12-05T12:00:00.000Z"
    assert parse_since("2026-12-01") == "2026-12-01T00:00:00.000Z"
    assert parse_since("2026-12-01T10:00+02:00") == "2026-12-01T08:00:00.000Z"
    assert parse_since("99999999999999w", clock) == "0001-01-01T00:00:00.000Z"
    with pytest.raises(InputError, match="ISO date"):
        parse_since("yesterday")


def test_since_filters_the_trail(tmp_path):
    rng = np.random.default_rng(2)
    with Gallery(tmp_path / "g.db", "fp", D, "squared_l2") as g:
        g.enroll(_rows(rng, 2, 1), actor=ALICE)
        first = g.audit_log()
        assert len(first) == 2
        assert g.audit_log(since=first[1].at) == [r for r in first if r.at >= first[1].at]
        assert g.audit_log(since=parse_since("2999-01-01")) == []
        assert g.audit_log(limit=1) == first[-1:]


def test_the_cli_records_itself_and_prints_the_log(tmp_path, capsys, monkeypatch):
    from faceprint.cli import main
    from faceprint.demo import PHOTOS

    monkeypatch.setattr(audit, "_cli_command", None)
    gallery = tmp_path / "g.db"
    photos = sorted((PHOTOS / "Laura_Bush").glob("*.jpg"))[:2]
    assert main(["enroll", "--gallery", str(gallery), "--name", "Laura", *map(str, photos)]) == 0
    assert main(["gallery", "forget-crops", "--gallery", str(gallery)]) == 0
    capsys.readouterr()
    assert main(["gallery", "log", "--gallery", str(gallery), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["actor"], r["user"], r["action"], r["person"]) for r in rows] == [
        ("cli", getpass.getuser(), "faceprint enroll", "Laura"),
        ("cli", getpass.getuser(), "faceprint gallery forget-crops", None)]
    assert rows[0]["change"] == "enrolled 2 faces" and rows[1]["change"].startswith("erased 2 face crops")
    assert main(["gallery", "log", "--gallery", str(gallery)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:3] == ["time", "(UTC)", "who"] and len(table) == 3
    assert "faceprint enroll" in table[1] and "Laura" in table[1] and "enrolled 2 faces" in table[1]
    assert main(["gallery", "log", "--gallery", str(gallery), "--since", "2999-01-01"]) == 0
    assert "no changes recorded since 2999-01-01" in capsys.readouterr().out
    assert main(["gallery", "log", "--gallery", str(gallery), "--since", "last week"]) == 2
