"""Several processes write one gallery while others read it: no lost or duplicated rows, no "database is locked"
reaching anyone, and every read sees a consistent gallery (each identity's faces whole)."""

from __future__ import annotations

import multiprocessing
import traceback

import numpy as np
import pytest

from faceprint.applications.identification import Gallery
from faceprint.applications.postgres import open_gallery_at

D = 16


def _writer(path: str, w: int, batches: int, per_batch: int, errors) -> None:  # type: ignore[no-untyped-def]
    try:
        rng = np.random.default_rng(w)
        g = open_gallery_at(path, "fp", D, "squared_l2")
        for b in range(batches):
            rows = [(f"person{w}_{b}", f"w{w}b{b}i{i}.jpg", f"sha-{w}-{b}-{i}", 0,
                     rng.normal(size=D).astype(np.float32)) for i in range(per_batch)]
            g.enroll(rows)
            g.enroll(rows[:2])  # idempotent: the same content again adds nothing
        g.close()
    except BaseException:  # noqa: BLE001
        errors.put(f"writer {w}: {traceback.format_exc()}")


def _reader(path: str, stop, per_batch: int, errors, reads) -> None:  # type: ignore[no-untyped-def]
    try:
        g = open_gallery_at(path, "fp", D, "squared_l2")
        n = 0
        while not stop.is_set():
            emb, owner, names = g.matrix()
            counts = np.bincount(owner, minlength=len(names))
            if len(emb) and not (counts == per_batch).all():  # a transaction seen half-done
                errors.put(f"reader saw identities with {sorted(set(counts.tolist()))} faces")
                return
            if len(emb):
                g.identify(emb[:3], threshold=0.5, k=3)
            n += 1
        reads.put(n)
        g.close()
    except BaseException:  # noqa: BLE001
        errors.put(f"reader: {traceback.format_exc()}")


@pytest.fixture(params=["sqlite", "postgres"])
def location(request, tmp_path) -> str:
    """The same tests on the SQLite file and on a real PostgreSQL server."""
    return str(tmp_path / "g.db") if request.param == "sqlite" else request.getfixturevalue("postgres_url")


def test_four_writers_and_two_readers_at_once(location):
    """Readers that never pause (each read loads 20,000 faces) would starve a rollback-journal writer past any busy
    timeout; with WAL they do not block it at all."""
    ctx = multiprocessing.get_context("spawn")  # fork would inherit torch's OpenMP pool, which hangs in a child
    path = location
    rng = np.random.default_rng(99)
    with open_gallery_at(path, "fp", D, "squared_l2") as g:
        g.enroll([(f"base{i // 6}", f"b{i}.jpg", f"base-{i}", 0, rng.normal(size=D).astype(np.float32))
                  for i in range(20_004)])
    errors, reads, stop = ctx.Queue(), ctx.Queue(), ctx.Event()
    writers, batches, per_batch = 4, 25, 6
    procs = [ctx.Process(target=_writer, args=(path, w, batches, per_batch, errors)) for w in range(writers)]
    readers = [ctx.Process(target=_reader, args=(path, stop, per_batch, errors, reads)) for _ in range(2)]
    for p in readers + procs:
        p.start()
    for p in procs:
        p.join(120)
    stop.set()
    for p in readers:
        p.join(60)
    problems = []
    while not errors.empty():
        problems.append(errors.get())
    assert not problems, "\n".join(problems)
    assert all(p.exitcode == 0 for p in procs + readers)
    g = open_gallery_at(path, "fp", D, "squared_l2", create=False)
    assert len(g) == writers * batches * per_batch + 20_004
    assert len(g.identities()) == writers * batches + 3334
    assert all(n == per_batch for _, n in g.identities())
    assert sum(reads.get() for _ in readers) > 0
    if isinstance(g, Gallery) and not location.startswith("postgresql://"):
        assert g.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    g.close()


def test_six_processes_creating_one_gallery_at_once(location):
    """All see no gallery; the first writes the schema and header, the others find them (no duplicate-key error)."""
    ctx = multiprocessing.get_context("spawn")  # fork would inherit torch's OpenMP pool, which hangs in a child
    errors = ctx.Queue()
    path = location
    procs = [ctx.Process(target=_writer, args=(path, w, 2, 3, errors)) for w in range(6)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    problems = []
    while not errors.empty():
        problems.append(errors.get())
    assert not problems, "\n".join(problems)
    with open_gallery_at(path, "fp", D, "squared_l2", create=False) as g:
        assert len(g) == 6 * 2 * 3 and len(g.identities()) == 6 * 2


def test_enroll_commands_at_once_and_identify_while_enrolling(location, tmp_path):
    """The real commands: two `faceprint enroll` processes on one gallery at once, and `faceprint identify` while
    they run; all exit 0, nobody sees "database is locked", every face is in once."""
    import shutil
    import subprocess
    import sys

    import faceprint
    from faceprint.demo import PHOTOS

    people = sorted(d for d in PHOTOS.iterdir() if d.is_dir())
    first, halves = tmp_path / "first", [tmp_path / "a", tmp_path / "b"]
    shutil.copytree(people[0], first / people[0].name)
    for i, d in enumerate(people[1:]):
        shutil.copytree(d, halves[i % 2] / d.name)
    g = location
    cmd = [sys.executable, "-m", "faceprint"]
    seed = subprocess.run([*cmd, "enroll", "--gallery", g, str(first), "--no-progress"], capture_output=True, text=True)
    assert seed.returncode == 0, seed.stderr
    procs = [subprocess.Popen([*cmd, "enroll", "--gallery", g, str(h), "--no-progress"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for h in halves]
    probe = str(sorted(people[0].glob("*.jpg"))[0])
    readers = [subprocess.Popen([*cmd, "identify", "--gallery", g, probe, "--no-progress"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = []
    for p in procs + readers:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0 and "locked" not in err and "Traceback" not in err, err[-2000:]
        outs.append(out)
    assert all(f": {people[0].name} (nearest" in out for out in outs[2:])  # identified while the others wrote
    model = faceprint.load()
    with open_gallery_at(g, model.fingerprint, 128, "squared_l2", create=False) as gal:
        assert len(gal) == len(list(PHOTOS.rglob("*.jpg")))
        assert {n for n, _ in gal.identities()} == {d.name for d in people}
