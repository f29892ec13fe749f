"""Hostile files mixed into folders of good photos: every command that reads images, and the Python API, ends
normally (no traceback, no hang), says one line per bad file, and processes every good one."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from faceprint.data import ImageReadError, read_image
from faceprint.data.hostile import make_hostile_files
from faceprint.demo import PHOTOS

PEOPLE = ["Colin_Powell", "Laura_Bush", "Serena_Williams"]


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """ROOT/<person>/: each person's shipped photos; Laura_Bush's folder also holds every hostile file."""
    root = tmp_path_factory.mktemp("mixed")
    for name in PEOPLE:
        shutil.copytree(PHOTOS / name, root / name)
    faces = [read_image(p) for p in sorted((PHOTOS / "Laura_Bush").glob("*.jpg"))[:3]]
    expect = make_hostile_files(root / "Laura_Bush", faces, large_side=1600)
    good = [str(p) for n in PEOPLE for p in sorted((PHOTOS / n).glob("*.jpg"))]
    good = [g.replace(str(PHOTOS), str(root)) for g in good]
    good += [str(root / "Laura_Bush" / n) for n, e in expect.items() if e == "ok"]
    bad = [str(root / "Laura_Bush" / n) for n, e in expect.items() if e == "error"]
    return root, sorted(good), sorted(bad)


def _run(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "faceprint", *args], capture_output=True, text=True, timeout=timeout)


def _no_crash(out: subprocess.CompletedProcess) -> str:
    text = out.stdout + out.stderr
    assert "Traceback" not in text, text[-3000:]
    return text


def test_read_image_on_every_hostile_file(tmp_path):
    faces = [read_image(p) for p in sorted((PHOTOS / "Tony_Blair").glob("*.jpg"))[:3]]
    expect = make_hostile_files(tmp_path, faces, large_side=1200)
    for name, outcome in expect.items():
        if outcome == "ok":
            img = read_image(tmp_path / name)
            assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3, name
        else:
            with pytest.raises(ImageReadError) as e:
                read_image(tmp_path / name)
            assert name in str(e.value) and e.value.reason, name
    # EXIF orientation applied: the rotated file reads back as the upright original
    upright = read_image(tmp_path / "exif_rotated.jpg").astype(int)
    assert upright.shape == faces[0].shape and np.abs(upright - faces[0]).mean() < 6
    # the pixel limit is configurable and checked before decoding
    with pytest.raises(ImageReadError, match="too large"):
        read_image(tmp_path / "large.jpg", limit=1000 * 1000)


def test_embed_enroll_identify_cluster_align_over_a_mixed_folder(mixed, tmp_path):
    root, good, bad = mixed
    g = str(tmp_path / "g.db")

    def enroll_then_identify():
        return (_run("enroll", "--gallery", g, str(root), "--no-progress"),
                _run("identify", "--gallery", g, *good[:2], *bad, "--json", "--no-progress"))
    # independent commands, two processes at a time (2 cores); each is checked on its own below
    with ThreadPoolExecutor(2) as pool:
        jobs = {"embed": pool.submit(_run, "embed", str(root), "--out", str(tmp_path / "e.npz"), "--no-progress"),
                "enroll": pool.submit(enroll_then_identify),
                "cluster": pool.submit(_run, "cluster", str(root), "--out", str(tmp_path / "clusters"),
                                       "--no-progress"),
                "evaluate": pool.submit(_run, "evaluate", "identify", "--data", str(root), "--no-progress"),
                "align": pool.submit(_run, "align", str(root), str(tmp_path / "aligned"), "--no-progress")}
        out = {k: j.result() for k, j in jobs.items()}

    text = _no_crash(out["embed"])
    assert out["embed"].returncode == 0
    z = np.load(tmp_path / "e.npz")
    assert set(good) <= {str(p) for p in z["paths"]}  # every good photo, in every unusual form, has its face
    for b in bad:
        assert sum(line.startswith(f"skipped {b}: ") for line in text.splitlines()) == 1, (b, text[-2000:])

    enrolled, identified = out["enroll"]
    text = _no_crash(enrolled)
    assert enrolled.returncode == 0 and all(f"skipped {b}: " in text for b in bad)
    _no_crash(identified)
    rows = json.loads(identified.stdout)
    assert {r["image"] for r in rows if "identity" in r} == set(good[:2])
    assert {r["image"] for r in rows if "error" in r} == set(bad)

    text = _no_crash(out["cluster"])
    assert out["cluster"].returncode == 0 and all(b in text for b in bad)

    text = _no_crash(out["evaluate"])
    assert out["evaluate"].returncode == 0 and all(b in text for b in bad), text[-2000:]

    text = _no_crash(out["align"])
    assert out["align"].returncode == 0
    report = json.loads((tmp_path / "aligned" / "align_report.json").read_text())
    assert {r.split(": ")[0] for r in report["unreadable"]} == set(bad)


def test_verify_and_the_python_api_on_bad_files(mixed):
    import faceprint
    from faceprint.embeddings import embed_photos

    root, good, bad = mixed
    # one process per bad file (each must fail on its own); two at a time: most of each is Python's start-up
    with ThreadPoolExecutor(2) as pool:
        outs = list(pool.map(lambda b: _run("verify", good[0], b), bad))
    for b, out in zip(bad, outs):
        text = _no_crash(out)
        assert out.returncode == 2 and text.count("error") == 1 and b in text, text
    es = embed_photos(faceprint.load(), [*good[:3], *bad], select="best", progress=False)
    assert es.paths == good[:3] and len(es.skipped) == len(bad)


def test_training_over_a_folder_with_hostile_files(tmp_path):
    from faceprint.data.synthetic import make_synthetic_faces

    faces = make_synthetic_faces(tmp_path / "faces", identities=8, images_per_identity=4, size=64, seed=1)
    first = sorted(p for p in faces.iterdir() if p.is_dir())[0]
    expect = make_hostile_files(first, [read_image(p) for p in sorted(first.iterdir())[:3]], large_side=800)
    out = _run("train", "--data", str(faces), "--out", str(tmp_path / "run"), "--backbone", "resnet10_quarter",
               "--input-size", "48", "--p", "4", "--k", "3", "--steps", "3", "--val-split", "0.25",
               "--val-num-pairs", "20", "--cache-dir", str(tmp_path / "c"), "--no-progress", "--threads", "1")
    text = _no_crash(out)
    assert out.returncode == 0, text[-2000:]
    for name, outcome in expect.items():
        if outcome == "error":
            assert name in text, name
