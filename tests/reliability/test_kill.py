"""kill -9 at random moments during `align`, `embed`, `enroll` and `train`, several times each: the next run finishes
the job, and what was written before is neither lost, duplicated nor corrupt."""

from __future__ import annotations

import json
import random
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from faceprint.demo import PHOTOS


def _start(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "faceprint", *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def _kill_at_random(args: list[str], times: int, window: tuple[float, float], seed: int) -> int:
    """Start the command and SIGKILL it after a random delay, `times` times; returns how many were killed while
    still running (the rest had finished)."""
    rng = random.Random(seed)
    killed = 0
    for _ in range(times):
        p = _start(*args)
        time.sleep(rng.uniform(*window))
        if p.poll() is None:
            p.kill()
            killed += 1
        p.wait()
    return killed


def _processes_mentioning(text: str) -> list[int]:
    """Live processes whose command line contains `text` (zombies excluded)."""
    found = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (d / "stat").read_text().split(")")[-1].split()[0]
        except OSError:
            continue
        if text in cmd and state != "Z":
            found.append(int(d.name))
    return found


def _finish(*args: str) -> subprocess.CompletedProcess:
    out = subprocess.run([sys.executable, "-m", "faceprint", *args], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    root = tmp_path_factory.mktemp("photos")
    for d in sorted(PHOTOS.iterdir())[:4]:
        shutil.copytree(d, root / d.name)
    return root


@pytest.fixture(scope="module")
def many_photos(tmp_path_factory):
    """The 4 people's photos, each 24 times under other names: seconds of aligning, so that a kill finds it at work
    (64 photos took under half a second with YuNet, the default detector)."""
    root = tmp_path_factory.mktemp("many")
    for d in sorted(PHOTOS.iterdir())[:4]:
        (root / d.name).mkdir()
        for f in sorted(d.glob("*.jpg")):
            for k in range(24):
                shutil.copy(f, root / d.name / f"{f.stem}_{k}.jpg")
    return root


def test_align_killed_again_and_again_then_resumed(many_photos, tmp_path):
    photos = many_photos
    dst = tmp_path / "aligned"
    args = ["align", str(photos), str(dst), "--no-progress", "--workers", "2"]
    assert _kill_at_random(args, times=3, window=(0.5, 2.0), seed=1) >= 1
    for k in range(3):  # and killed as soon as its worker processes exist: they must die with it
        fresh = tmp_path / f"killed{k}"
        p = _start("align", str(photos), str(fresh), "--no-progress", "--workers", "2")
        for _ in range(400):
            if len(_processes_mentioning(str(fresh))) >= 3 or p.poll() is not None:
                break
            time.sleep(0.02)
        p.kill()
        p.wait()
        time.sleep(0.5)
        assert _processes_mentioning(str(fresh)) == []  # no orphaned worker left holding memory
    _finish(*args)
    lines = [json.loads(line) for line in (dst / "manifest.jsonl").read_text().splitlines() if line.strip()]
    sources = [r["source"] for r in lines]
    expected = sorted(str(p) for p in photos.rglob("*.jpg"))
    assert sorted(set(sources)) == expected  # every photo recorded...
    clean = tmp_path / "clean"
    _finish("align", str(photos), str(clean), "--no-progress")
    for p in expected:  # ...and its output complete and the same as an uninterrupted run's
        rel = Path(p).relative_to(photos)
        a, b = dst / rel, clean / rel
        assert a.exists() and b.exists()
        from faceprint.data import read_image

        assert np.abs(read_image(a).astype(int) - read_image(b)).max() <= 2
    assert not list(dst.rglob("*.tmp*"))  # no half-written files left behind


def _gallery_rows(location: str) -> dict[tuple[str, str, int], np.ndarray]:
    """{(identity, content hash, face index): embedding} of a SQLite or PostgreSQL gallery."""
    from faceprint.applications.postgres import open_gallery_at

    with open_gallery_at(location, None, create=False) as g:
        rows = g._exec("SELECT i.name, f.content_sha256, f.face_index, f.embedding FROM faces f "
                       "JOIN identities i ON f.identity_id = i.id").fetchall()
    return {(r[0], r[1], int(r[2])): np.frombuffer(bytes(r[3]), np.float32) for r in rows}


def _faces_in(location: str) -> int:
    from faceprint.applications.identification import GalleryError

    try:
        return len(_gallery_rows(location))
    except GalleryError:  # killed before its first transaction: no gallery yet
        return 0


def _enroll_killed_at_random(location: str, photos: Path, reference: dict, seed: int) -> None:
    """kill -9 enrollment (a transaction per person) at random moments while it commits people: each time the
    gallery holds whole people only; then a rerun finishes, and the gallery is the uninterrupted run's."""
    args = ["enroll", "--gallery", location, str(photos), "--no-progress", "--batch", "1"]
    per_person: dict[str, int] = {}
    for name, _, _ in reference:
        per_person[name] = per_person.get(name, 0) + 1
    rng = random.Random(seed)
    killed = 0
    for _ in range(3):
        before = _faces_in(location)
        p = _start(*args)
        while p.poll() is None and _faces_in(location) == before:  # until it commits someone (or ends)
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 0.3))
        if p.poll() is None:
            p.kill()
            killed += 1
        p.wait()
        counts: dict[str, int] = {}
        for name, _, _ in _gallery_rows(location):
            counts[name] = counts.get(name, 0) + 1
        assert all(counts[n] == per_person[n] for n in counts), (counts, per_person)  # never half a person
    assert killed >= 2
    out = _finish(*args)
    assert "enrolled already (an earlier run): not read again" in out.stdout
    _finish(*args)  # and once more: idempotent
    got = _gallery_rows(location)
    assert got.keys() == reference.keys()
    for key, e in reference.items():
        np.testing.assert_allclose(got[key], e, atol=1e-4)


@pytest.fixture(scope="module")
def people(tmp_path_factory):
    """64 "people" of 4 photos: the shipped photos of 4 people, and 15 copies of them under other names whose
    bytes differ by appended bytes (another content hash, the same picture): enough work to kill in the middle
    (24 people were not, at times, once YuNet became the default detector)."""
    root = tmp_path_factory.mktemp("people")
    for copy in range(16):
        for d in sorted(PHOTOS.iterdir())[:4]:
            (root / f"{d.name}_{copy}").mkdir()
            for f in sorted(d.iterdir()):
                (root / f"{d.name}_{copy}" / f.name).write_bytes(f.read_bytes() + b"\0" * copy)
    return root


@pytest.fixture(scope="module")
def enrolled_once(people, tmp_path_factory):
    """The gallery an uninterrupted enrollment of `people` makes."""
    g = tmp_path_factory.mktemp("once") / "g.db"
    _finish("enroll", "--gallery", str(g), str(people), "--no-progress")
    return _gallery_rows(str(g))


def test_enroll_killed_again_and_again_then_finished(people, tmp_path, enrolled_once):
    g = tmp_path / "g.db"
    _enroll_killed_at_random(str(g), people, enrolled_once, seed=2)
    db = sqlite3.connect(g)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    n = db.execute("SELECT COUNT(*) FROM faces").fetchone()[0]
    dup = db.execute("SELECT COUNT(*) FROM (SELECT content_sha256, face_index FROM faces GROUP BY 1, 2 "
                     "HAVING COUNT(*) > 1)").fetchone()[0]
    crops = db.execute("SELECT COUNT(*) FROM crops").fetchone()[0]
    assert dup == 0 and n == crops == len(list(people.rglob("*.jpg")))


def test_enroll_on_postgres_killed_again_and_again_then_finished(people, postgres_url, enrolled_once):
    _enroll_killed_at_random(postgres_url, people, enrolled_once, seed=3)


def test_embed_killed_leaves_no_half_file(photos, tmp_path):
    out = tmp_path / "e.npz"
    args = ["embed", str(photos), "--out", str(out), "--no-progress"]
    for seed in range(4):
        _kill_at_random(args, times=1, window=(0.5, 6.0), seed=10 + seed)
        if out.exists():  # either absent or whole: atomic write
            assert len(np.load(out)["paths"]) > 0
    _finish(*args)
    assert len(np.load(out)["paths"]) >= len(list(photos.rglob("*.jpg")))
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".e.npz")]


def test_train_killed_then_resumed(tmp_path):
    from faceprint.data.synthetic import make_synthetic_faces
    from faceprint.models import load_model

    faces = make_synthetic_faces(tmp_path / "faces", identities=10, images_per_identity=4, size=64, seed=2)
    run = tmp_path / "run"
    base = ["train", "--data", str(faces), "--out", str(run), "--backbone", "resnet10_quarter", "--input-size",
            "48", "--p", "4", "--k", "3", "--steps", "60", "--checkpoint-every", "5", "--val-split", "0.25",
            "--val-num-pairs", "20", "--val-every", "30", "--cache-dir", str(tmp_path / "c"), "--no-progress",
            "--threads", "1"]
    p = _start(*base)
    for _ in range(600):  # wait for the first checkpoint, then kill at a random moment after it
        if (run / "checkpoint.pt").exists():
            break
        time.sleep(0.1)
    time.sleep(random.Random(3).uniform(0.2, 2.0))
    p.kill()
    p.wait()
    for seed in range(2):
        _kill_at_random([*base, "--resume"], times=1, window=(3.0, 8.0), seed=20 + seed)
    _finish(*base, "--resume")
    steps = [int(line.split(",")[0]) for line in (run / "metrics.csv").read_text().splitlines()[1:]]
    assert steps == list(range(1, 61))  # every step once: nothing lost, nothing duplicated
    load_model(run / "best.pt")
    load_model(run / "last.pt")
