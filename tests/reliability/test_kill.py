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


def test_align_killed_again_and_again_then_resumed(photos, tmp_path):
    dst = tmp_path / "aligned"
    args = ["align", str(photos), str(dst), "--no-progress", "--workers", "2"]
    assert _kill_at_random(args, times=3, window=(1.0, 4.0), seed=1) >= 1
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


def test_enroll_killed_again_and_again_then_finished(photos, tmp_path):
    g = tmp_path / "g.db"
    args = ["enroll", "--gallery", str(g), str(photos), "--no-progress"]
    assert _kill_at_random(args, times=5, window=(0.5, 6.0), seed=2) >= 2
    _finish(*args)
    _finish(*args)  # and once more: idempotent
    db = sqlite3.connect(g)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    n = db.execute("SELECT COUNT(*) FROM faces").fetchone()[0]
    dup = db.execute("SELECT COUNT(*) FROM (SELECT content_sha256, face_index FROM faces GROUP BY 1, 2 "
                     "HAVING COUNT(*) > 1)").fetchone()[0]
    assert dup == 0 and n == len(list(photos.rglob("*.jpg")))


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
