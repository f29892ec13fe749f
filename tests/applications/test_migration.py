"""Galleries that survive a model change: crops kept with each face, `gallery migrate` to another model (its answers
those of a gallery enrolled with that model), killed half way, galleries without crops, and erasing the crops."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import faceprint
from faceprint.applications.enrollment import enroll
from faceprint.applications.identification import Gallery, GalleryError, GalleryMismatchError
from faceprint.applications.migration import migrate
from faceprint.applications.postgres import open_gallery_at
from faceprint.demo import PHOTOS
from faceprint.embeddings import list_images
from faceprint.pipeline import Pipeline

ENROLLED = 2  # photos per person in the gallery; the rest are probes


@pytest.fixture(scope="module")
def models():
    return {"old": faceprint.load("dlib"), "new": faceprint.load()}


@pytest.fixture(scope="module")
def split():
    """Two photos of each of the first five people enrolled; their other photos and the sixth person probe."""
    paths, ids = list_images(PHOTOS)
    people = sorted(set(ids))[:5]
    seen: dict[str, int] = {}
    gallery, probes = [], []
    for p, i in zip(paths, ids):
        seen[i] = seen.get(i, 0) + 1
        (gallery if i in people and seen[i] <= ENROLLED else probes).append((p, i))
    return gallery, probes


def _enroll(location, model, rows, keep_crops=True) -> None:
    with open_gallery_at(location, model.fingerprint, model.config.embedding_size, model.distance,
                         keep_crops=keep_crops) as g:
        enroll(g, Pipeline(model, workers=1), [p for p, _ in rows], [i for _, i in rows], batch=4, progress=False)


def _answers(location, model, probes) -> list[str]:
    with open_gallery_at(location, model.fingerprint, model.config.embedding_size, model.distance, create=False) as g:
        res = faceprint.identify(model, g, [p for p, _ in probes], workers=1, select="best")
    return [f.identity for f in res.faces]


def _inside(crop) -> bool:  # type: ignore[no-untyped-def]
    """The face's box lies within its crop, and so within its photo (a crop is cut to the photo)."""
    h, w = crop.image().shape[:2]
    x1, y1, x2, y2 = crop.box
    return bool(x1 >= 0 and y1 >= 0 and x2 <= w and y2 <= h)


def test_migrated_gallery_answers_as_one_enrolled_with_the_new_model(models, split, tmp_path):
    gallery, probes = split
    old, new = models["old"], models["new"]
    _enroll(tmp_path / "g.db", old, gallery)
    _enroll(tmp_path / "direct.db", new, gallery)
    with Gallery(tmp_path / "g.db", None, create=False) as g:
        assert g.info()["faces_with_crops"] == g.info()["faces"] == 2 * 5
        crops = [f.crop for f in g.stored_faces()]
        assert all(c is not None and 2_000 < len(c.jpeg) < 40_000 for c in crops)  # a few kB each
        rep = migrate(g, new, progress=False)
        assert rep.moved == 10 and not rep.dropped and not rep.from_landmarks, rep
        assert g.fingerprint == new.fingerprint
    expected = _answers(tmp_path / "direct.db", new, probes)
    assert expected.count("unknown") == 2 and len(set(expected)) == 6  # the stranger's two photos; five people
    assert _answers(tmp_path / "g.db", new, probes) == expected
    # the embeddings from the kept crops are those of the photos, up to the crop's JPEG, for every face inside its
    # photo; a face the photo's edge cuts (YuNet picks Laura_Bush_0002's neighbour, half out of the frame) gets
    # another box from the crop than from the photo: it is still answered as above
    a, b = (Gallery(tmp_path / n, None, create=False) for n in ("g.db", "direct.db"))
    ea, eb = a.matrix()[0], b.matrix()[0]
    with Gallery(tmp_path / "direct.db", None, create=False) as g:
        inside = np.array([_inside(f.crop) for f in g.stored_faces()])
    assert ea.shape == eb.shape == (10, 256) and inside.sum() >= 8
    assert float(((ea - eb) ** 2).sum(1)[inside].max()) < 0.1
    with pytest.raises(GalleryMismatchError, match="built with model"):  # the old model no longer opens it
        Gallery(tmp_path / "g.db", old.fingerprint, 128, "squared_l2")


def test_migrate_on_postgres(models, split, postgres_url):
    gallery, probes = split
    old, new = models["old"], models["new"]
    _enroll(postgres_url, old, gallery)
    with open_gallery_at(postgres_url, None, create=False) as g:
        assert g.info()["faces_with_crops"] == 10
        assert migrate(g, new, progress=False).moved == 10
    assert _answers(postgres_url, new, probes).count("unknown") == 2


def _staged(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as con:
            return int(con.execute("SELECT COUNT(*) FROM migration").fetchone()[0])
    except sqlite3.OperationalError:
        return 0


def test_migrate_killed_half_way_leaves_the_old_gallery_and_resumes(models, split, tmp_path):
    gallery, probes = split
    old, new = models["old"], models["new"]
    _enroll(tmp_path / "g.db", old, gallery)
    shutil.copy(tmp_path / "g.db", tmp_path / "whole.db")
    before = _answers(tmp_path / "g.db", old, probes)
    cmd = [sys.executable, "-m", "faceprint", "gallery", "migrate", "--gallery", str(tmp_path / "g.db"), "--batch",
           "2", "--no-progress"]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    for _ in range(1200):
        if _staged(tmp_path / "g.db") >= 2 or p.poll() is not None:
            break
        time.sleep(0.05)
    p.kill()
    p.wait()
    staged = _staged(tmp_path / "g.db")
    assert 2 <= staged < 10, staged  # killed half way, with work staged
    assert _answers(tmp_path / "g.db", old, probes) == before  # still the old model's gallery, answering as before
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert f"({staged} of them staged by an earlier run)" in out.stdout
    with Gallery(tmp_path / "whole.db", None, create=False) as g:
        migrate(g, new, progress=False)
    resumed, whole = (Gallery(tmp_path / n, None, create=False) for n in ("g.db", "whole.db"))
    assert resumed.fingerprint == whole.fingerprint == new.fingerprint
    np.testing.assert_allclose(resumed.matrix()[0], whole.matrix()[0], atol=1e-5)
    assert resumed.info()["migration"] == {}


def test_a_gallery_without_crops_says_how_to_migrate_and_needs_the_photos(models, split, tmp_path):
    gallery, probes = split
    old, new = models["old"], models["new"]
    # a gallery as faceprint made them before it kept crops: faces without one, sources relative to PHOTOS' parent
    es = faceprint.embed(old, [p for p, _ in gallery], workers=1)
    root = PHOTOS.parent
    with Gallery(tmp_path / "old.db", old.fingerprint, 128, "squared_l2") as g:
        from faceprint.utils.io import file_sha256

        g.enroll([(i, str(Path(p).relative_to(root)), file_sha256(p), 0, e)
                  for (p, i), e in zip(gallery, es.embeddings)])
    with pytest.raises(GalleryMismatchError) as e:
        Gallery(tmp_path / "old.db", new.fingerprint, 256, "squared_l2")
    assert "gallery migrate" in str(e.value) and "--photos DIR" in str(e.value) and "\n" not in str(e.value)
    with Gallery(tmp_path / "old.db", None, create=False) as g:
        with pytest.raises(GalleryError, match="10 of its 10 faces have no stored crop"):
            migrate(g, new, progress=False)
        assert g.fingerprint == old.fingerprint  # refused before any work: unchanged
        rep = migrate(g, new, photos=root, progress=False)
        assert rep.moved == 10 and not rep.dropped
    assert _answers(tmp_path / "old.db", new, probes).count("unknown") == 2


def test_a_photo_that_changed_is_not_used(models, split, tmp_path):
    gallery, _ = split
    old, new = models["old"], models["new"]
    photos = tmp_path / "photos"
    shutil.copytree(PHOTOS, photos)
    with Gallery(tmp_path / "old.db", old.fingerprint, 128, "squared_l2", keep_crops=False) as g:
        enroll(g, Pipeline(old, workers=1), [photos / Path(p).relative_to(PHOTOS) for p, _ in gallery],
               [i for _, i in gallery], progress=False)
        assert g.info()["faces_with_crops"] == 0 and g.crops_policy == "none"
    changed = photos / Path(gallery[0][0]).relative_to(PHOTOS)
    changed.write_bytes(changed.read_bytes() + b"\0")  # same picture, other content: not the enrolled photo
    with Gallery(tmp_path / "old.db", None, create=False) as g:
        rep = migrate(g, new, photos=photos, progress=False)
    assert rep.moved == 9 and len(rep.dropped) == 1 and "photo not found" in rep.dropped[0]


def test_forget_crops_erases_them_from_the_file(models, split, tmp_path):
    gallery, _ = split
    _enroll(tmp_path / "g.db", models["old"], gallery)
    with Gallery(tmp_path / "g.db", None, create=False) as g:
        jpegs = [f.crop.jpeg for f in g.stored_faces()]
        assert g.forget_crops() == 10
        assert g.info()["crops"] == "none" and g.info()["faces_with_crops"] == 0
    data = b"".join(p.read_bytes() for p in tmp_path.glob("g.db*"))
    assert not any(j[100:164] in data for j in jpegs)  # not left in free pages or the journal either
    _enroll(tmp_path / "g.db", models["old"], split[1][:3])  # and none are kept from then on
    with Gallery(tmp_path / "g.db", None, create=False) as g:
        assert g.info()["faces_with_crops"] == 0 and g.info()["faces"] > 10


def test_gallery_commands(models, tmp_path):
    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "faceprint", *args], capture_output=True, text=True,
                              timeout=300)

    g = str(tmp_path / "g.db")
    photos = tmp_path / "p"
    for d in sorted(PHOTOS.iterdir())[:2]:
        shutil.copytree(d, photos / d.name)
    r = run("enroll", "--gallery", g, str(photos), "--model", "dlib", "--no-crops", "--no-progress")
    assert r.returncode == 0 and "(no face crops kept)" in r.stdout, r.stderr
    r = run("enroll", "--gallery", g, str(photos), "--model", "dlib", "--no-progress")  # the policy is the gallery's
    assert r.returncode == 0 and "8 already enrolled" in r.stdout, r.stderr
    r = run("gallery", "info", "--gallery", g)
    assert r.returncode == 0 and "faces            8" in r.stdout and "not kept" in r.stdout, r.stderr
    r = run("identify", "--gallery", g, str(next(photos.rglob("*.jpg"))), "--no-progress")  # the default: another
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "--photos DIR" in r.stderr, r.stderr
    r = run("gallery", "migrate", "--gallery", g, "--no-progress")
    assert r.returncode == 2 and "give the folder" in r.stderr and "Traceback" not in r.stderr, r.stderr
    r = run("gallery", "migrate", "--gallery", g, "--photos", ".", "--no-progress")
    assert r.returncode == 0 and "8 faces embedded again" in r.stdout, r.stderr
    r = run("identify", "--gallery", g, str(next(photos.rglob("*.jpg"))), "--no-progress")
    assert r.returncode == 0 and r.stdout.split(": ")[1].split()[0] in {d.name for d in photos.iterdir()}, r.stdout
    k = str(tmp_path / "k.db")
    assert run("enroll", "--gallery", k, str(photos), "--model", "dlib", "--no-progress").returncode == 0
    r = run("enroll", "--gallery", k, str(photos), "--model", "dlib", "--no-crops", "--no-progress")
    assert r.returncode == 2 and "fixed when it was made" in r.stderr, r.stderr
    r = run("gallery", "forget-crops", "--gallery", k)
    assert r.returncode == 0 and "erased 8 face crops" in r.stdout, r.stderr


def test_a_damaged_crop_drops_its_face_and_says_why(models, split, tmp_path):
    gallery, _ = split
    _enroll(tmp_path / "g.db", models["old"], gallery[:4])
    with sqlite3.connect(tmp_path / "g.db") as con:
        con.execute("UPDATE crops SET jpeg = ? WHERE face_id = (SELECT MIN(face_id) FROM crops)", (b"not a jpeg",))
    with Gallery(tmp_path / "g.db", None, create=False) as g:
        rep = migrate(g, models["new"], progress=False)
    assert rep.moved == 3 and len(rep.dropped) == 1 and "cannot be decoded" in rep.dropped[0]
