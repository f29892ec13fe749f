"""The photo library on the shipped photos (6 LFW people, 22 photos): scans that read only what changed, people that
persist, corrections that no scan or re-grouping undoes, export, sidecars, HEIC and EXIF, migration."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import faceprint
import faceprint.api
from faceprint.applications.library import LibraryError, open_library
from faceprint.applications.library.scan import scan
from faceprint.applications.library.store import open_gallery_or_library
from faceprint.cli import main
from faceprint.demo import PHOTOS
from faceprint.pipeline import Pipeline
from faceprint.thresholds import cluster_threshold


@pytest.fixture(scope="module")
def model():
    return faceprint.load(None)


def _pipeline(model) -> Pipeline:  # type: ignore[no-untyped-def]
    return Pipeline(model, select="all", keep_crops=True)


def _library(model, path):  # type: ignore[no-untyped-def]
    return open_library(path, model.fingerprint, model.config.embedding_size, model.distance)


def _photos(tmp_path: Path) -> Path:
    """The shipped photos in a tree of two levels (people folders under two albums)."""
    root = tmp_path / "photos"
    for i, person in enumerate(sorted(p for p in PHOTOS.iterdir() if p.is_dir())):
        shutil.copytree(person, root / f"album{i % 2}" / person.name)
    return root


def _scan(model, lib, root, **kw):  # type: ignore[no-untyped-def]
    """A scan grouped at the model's clustering cut: 22 photos of 6 people are a folder, not the thousands of people
    the library cut is fitted for (the CLI's tests use that default)."""
    return scan(lib, _pipeline(model), root, threshold=cluster_threshold(model)[0], progress=False, **kw)


def _who(data: dict) -> dict[str, tuple[int | None, str | None]]:
    """{photo: (person id, name)} of the face nearest each photo's centre (the LFW person's)."""
    best: dict[str, tuple[float, int | None, str | None]] = {}
    rows = [(f, p["id"], p["name"]) for p in data["people"] for f in p["faces"]]
    rows += [(f, None, None) for f in data["unassigned"]]
    for f, pid, name in rows:
        x1, y1, x2, y2 = f["box"]
        off = abs((x1 + x2) / 2 - 125) + abs((y1 + y2) / 2 - 125)
        if off < best.get(f["photo"], (np.inf,))[0]:
            best[f["photo"]] = (off, pid, name)
    return {photo: (pid, name) for photo, (_, pid, name) in best.items()}


def _person_of(data: dict, person_folder: str) -> set:
    return {pid for photo, (pid, _) in _who(data).items() if f"/{person_folder}/" in f"/{photo}"}


def test_scan_sorts_the_photos_into_people_and_a_rescan_reads_nothing(model, tmp_path):
    root = _photos(tmp_path)
    with _library(model, tmp_path / "L.db") as lib:
        rep = _scan(model, lib, root)
        assert (rep.files, rep.new, rep.unchanged, rep.unreadable) == (22, 22, 0, [])
        data = lib.export()
        people = {p.name for p in PHOTOS.iterdir() if p.is_dir()}
        for person in people:  # each person's photos are one suggestion, and no one else's
            ids = _person_of(data, person)
            assert len(ids) == 1 and None not in ids, (person, ids)
        assert len({next(iter(_person_of(data, p))) for p in people}) == len(people)
        again = _scan(model, lib, root)
        assert (again.unchanged, again.new, again.known, again.faces) == (22, 0, 0, 0)
        assert again.grouping == {"faces": 0, "moved": 0, "new_people": 0, "people_gone": 0}
        assert lib.export() == data
        full = _scan(model, lib, root, full=True)  # every file hashed again: all known, nothing detected
        assert (full.known, full.new, full.unchanged) == (22, 0, 0)
        assert lib.export() == data


def test_moved_renamed_deleted_and_changed_photos(model, tmp_path):
    root = _photos(tmp_path)
    with _library(model, tmp_path / "L.db") as lib:
        _scan(model, lib, root)
        tony = next(iter(_person_of(lib.export(), "Tony_Blair")))
        lib.name(tony, "Tony Blair")
        before = lib.export()
        face = next(p for p in before["people"] if p["id"] == tony)["faces"][0]
        moved = root / "elsewhere" / "renamed.jpg"
        moved.parent.mkdir()
        (root / face["photo"]).rename(moved)
        gone = next(root.rglob("Colin_Powell_0001.jpg"))
        gone.unlink()
        changed = next(root.rglob("Laura_Bush_0003.jpg"))
        shutil.copy(next(root.rglob("Serena_Williams_0001.jpg")), changed)  # new content under an old name
        rep = _scan(model, lib, root)
        assert (rep.known, rep.new, rep.forgotten_files) == (2, 0, 2)  # the move and the copy: hashes it knows
        assert rep.forgotten_faces >= 2  # Colin Powell's photo and Laura Bush's old content
        after = lib.export()
        tony_faces = {f["id"]: f["photo"] for p in after["people"] if p["id"] == tony for f in p["faces"]}
        assert tony_faces[face["id"]] == "elsewhere/renamed.jpg"  # same face, same name, new place
        photos = {f["photo"] for p in after["people"] for f in p["faces"]} | {f["photo"] for f in after["unassigned"]}
        assert not any(p.endswith("Colin_Powell_0001.jpg") for p in photos)
        serena = _person_of(after, "Serena_Williams")
        assert _who(after)[changed.relative_to(root).as_posix()][0] in serena


def test_corrections_are_facts_that_survive_rescans_and_regrouping(model, tmp_path):
    root = _photos(tmp_path)
    with _library(model, tmp_path / "L.db") as lib:
        _scan(model, lib, root)
        data = lib.export()
        laura, serena, putin, chavez = (next(iter(_person_of(data, p))) for p in
                                        ("Laura_Bush", "Serena_Williams", "Vladimir_Putin", "Hugo_Chavez"))
        lib.name(laura, "Laura")
        lib.name(laura, "Laura Bush")  # a rename
        lib.hide(putin)
        out = next(p for p in data["people"] if p["id"] == laura)["faces"][0]["id"]
        lib.remove_face(out)  # "not this person"
        noface = next(p for p in data["people"] if p["id"] == serena)["faces"][0]["id"]
        lib.remove_face(noface, not_a_face=True)
        into = lib.merge([serena, chavez])  # a wrong merge, but the user's: it holds
        lib.name(into, "Two people")
        with pytest.raises(LibraryError, match="person"):
            lib.name(putin, "Laura Bush")  # a name is one person's
        with pytest.raises(LibraryError, match="no person"):
            lib.hide(99999)

        def check() -> None:
            d = lib.export()
            people = {p["id"]: p for p in d["people"]}
            assert people[laura]["name"] == "Laura Bush" and people[putin]["hidden"]
            assert out not in {f["id"] for f in people[laura]["faces"]}
            assert noface not in {f["id"] for p in d["people"] for f in p["faces"]} | {f["id"] for f in d["unassigned"]}
            assert chavez not in people and people[into]["name"] == "Two people"
            assert _person_of(d, "Hugo_Chavez") == _person_of(d, "Serena_Williams") - {None} == {into}

        check()
        _scan(model, lib, root)
        check()
        _scan(model, lib, root, full=True)
        check()
        lib.group(cluster_threshold(model)[0], full=True)  # every suggestion made again from scratch
        check()
        # the removed face is close to Laura: without the fact it would go straight back
        lib._exec("DELETE FROM lib_rejections")
        lib.group(cluster_threshold(model)[0], full=True, force=True)
        assert out in {f["id"] for p in lib.export()["people"] if p["id"] == laura for f in p["faces"]}


def test_named_people_answer_as_a_gallery(model, tmp_path):
    root = _photos(tmp_path)
    with _library(model, tmp_path / "L.db") as lib:
        _scan(model, lib, root)
        tony = next(iter(_person_of(lib.export(), "Tony_Blair")))
        lib.name(tony, "Tony Blair")
        with pytest.raises(LibraryError, match="photo library"):
            lib.enroll([])
    g = faceprint.api.open_gallery(tmp_path / "L.db", model, create=False)
    assert type(g).__name__ == "Library"
    assert [n for n, _ in g.identities()] == ["Tony Blair"]
    probe = faceprint.embed(model, [PHOTOS / "Tony_Blair" / "Tony_Blair_0002.jpg"]).embeddings
    assert g.identify(probe, threshold=model.config.threshold)[0].decision == "Tony Blair"
    assert g.portrait("Tony Blair") is not None  # crops come along: the page and the service show them
    g.close()


def test_two_faces_of_one_photo_are_never_one_person(model, tmp_path):
    root = tmp_path / "photos"
    root.mkdir()
    for p in sorted((PHOTOS / "Laura_Bush").glob("*.jpg")):
        shutil.copy(p, root / p.name)
    a, b = (Image.open(PHOTOS / "Laura_Bush" / f"Laura_Bush_000{i}.jpg").convert("RGB") for i in (1, 3))
    pair = Image.new("RGB", (500, 250))
    pair.paste(a, (0, 0))
    pair.paste(b, (250, 0))
    pair.save(root / "twice.jpg", quality=95)
    with _library(model, tmp_path / "L.db") as lib:
        _scan(model, lib, root)
        d = lib.export()
    owners = [p["id"] for p in d["people"] for f in p["faces"] if f["photo"] == "twice.jpg"]
    assert len(owners) == len(set(owners))
    assert sum(len(p["faces"]) for p in d["people"]) >= 4  # the photo's faces were found and grouped


def test_unreadable_heic_and_exif(model, tmp_path):
    root = tmp_path / "photos"
    root.mkdir()
    (root / "broken.jpg").write_bytes(b"not a photo")
    src = Image.open(PHOTOS / "Tony_Blair" / "Tony_Blair_0001.jpg")
    # stored on its side, shown upright: EXIF orientation 6 (rotate 90 clockwise to show); and a taken date
    exif = Image.Exif()
    exif[0x0112] = 6
    exif.get_ifd(0x8769)[0x9003] = "2004:07:14 10:20:30"
    src.rotate(90, expand=True).save(root / "sideways.jpg", exif=exif, quality=95)
    pytest.importorskip("pillow_heif")
    # encoded in another process: the HEVC encoder leaves threads behind, and this one forks workers in later tests
    subprocess.run([sys.executable, "-c", "import pillow_heif, sys; from PIL import Image; "
                    "pillow_heif.register_heif_opener(); Image.open(sys.argv[1]).save(sys.argv[2])",
                    str(PHOTOS / "Colin_Powell" / "Colin_Powell_0001.jpg"), str(root / "phone.heic")], check=True)
    with _library(model, tmp_path / "L.db") as lib:
        rep = _scan(model, lib, root)
        assert rep.unreadable == ["broken.jpg: not an image Pillow can read"] and rep.new == 3
        d = lib.export()
        faces = {f["photo"]: f["box"] for f in d["unassigned"]}
        assert "phone.heic" in faces and "sideways.jpg" in faces
        x1, y1, x2, y2 = faces["sideways.jpg"]  # in the upright photo: a face taller than wide, near the centre
        assert y2 - y1 > (x2 - x1) * 0.9 and abs((y1 + y2) / 2 - 125) < 40
        row = lib._exec("SELECT c.taken, c.width, c.height FROM lib_contents c JOIN lib_photos p ON "
                        "p.content_sha256 = c.content_sha256 WHERE p.path = 'sideways.jpg'").fetchone()
        assert tuple(row) == ("2004-07-14T10:20:30", 250, 250)
        assert lib.unreadable() == [("broken.jpg", "not an image Pillow can read")]
        again = _scan(model, lib, root)  # not read again until it changes
        assert again.unchanged == 3 and again.unreadable == []


def test_cli_export_json_shape_csv_people_and_errors(tmp_path, capsys):
    root = _photos(tmp_path)
    lib = str(tmp_path / "L.db")
    assert main(["library", "scan", str(root), "--library", lib, "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["library", "export", "--library", lib]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) == {"people", "unassigned"}
    for p in data["people"]:
        assert set(p) == {"id", "name", "hidden", "faces"} and p["name"] is None and p["hidden"] is False
        for f in p["faces"]:
            assert set(f) == {"id", "photo", "box"} and len(f["box"]) == 4 and (root / f["photo"]).is_file()
    for f in data["unassigned"]:
        assert set(f) == {"id", "photo", "box"}
    first = data["people"][0]["id"]
    assert main(["library", "name", "--library", lib, str(first), "Somebody"]) == 0
    assert main(["library", "export", "--library", lib, "--format", "csv", "--out", str(tmp_path / "w.csv")]) == 0
    rows = list(csv.DictReader(io.StringIO((tmp_path / "w.csv").read_text())))
    assert len(rows) == sum(len(p["faces"]) for p in data["people"]) + len(data["unassigned"])
    assert {r["name"] for r in rows if r["person"] == str(first)} == {"Somebody"}
    capsys.readouterr()
    assert main(["library", "people", "--library", lib]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["person", "name", "faces", "photos"] and table[1].split()[1] == "Somebody"
    assert main(["library", "hide", "--library", lib, "424242"]) == 2
    assert "no person 424242" in capsys.readouterr().err
    assert main(["library", "scan", str(tmp_path), "--library", lib, "--no-progress"]) == 2  # another folder
    assert "holds the photos of" in capsys.readouterr().err
    (tmp_path / "g.db").write_bytes(b"")
    assert main(["enroll", str(PHOTOS), "--gallery", str(tmp_path / "g.db"), "--no-progress"]) == 0
    assert main(["library", "scan", str(root), "--library", str(tmp_path / "g.db"), "--no-progress"]) == 2
    assert "not a photo library" in capsys.readouterr().err


def _exiftool(path: Path) -> dict:
    if shutil.which("exiftool") is None:
        pytest.skip("exiftool is not installed (apt-get install libimage-exiftool-perl)")
    out = subprocess.run(["exiftool", "-j", "-struct", "-XMP-mwg-rs:all", str(path)], capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout)[0]


def test_write_xmp_sidecars_read_back_by_exiftool(model, tmp_path):
    root = _photos(tmp_path)
    with _library(model, tmp_path / "L.db") as lib:
        _scan(model, lib, root)
        tony = next(iter(_person_of(lib.export(), "Tony_Blair")))
        lib.name(tony, "Tony Blair")
        photo = next(root.rglob("Tony_Blair_0001.jpg"))
        foreign = next(root.rglob("Colin_Powell_0002.jpg"))
        before = photo.read_bytes()
        # another tool's sidecar of a photo faceprint names a face in later: its other data must stay
        foreign.with_name(foreign.name + ".xmp").write_text(
            '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
            '<rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:Rating="4"/></rdf:RDF>'
            '</x:xmpmeta>')
        from faceprint.applications.library.sidecars import write_sidecars

        rep = write_sidecars(lib, progress=False)
        assert rep.written == 4 and not rep.skipped  # Tony Blair's four photos
        assert photo.read_bytes() == before  # the photo itself untouched
        got = _exiftool(photo.with_name(photo.name + ".xmp"))
        region = got["RegionInfo"]["RegionList"][0]
        assert region["Name"] == "Tony Blair" and region["Type"] == "Face"
        box = next(f["box"] for p in lib.export()["people"] for f in p["faces"]
                   if f["photo"].endswith("Tony_Blair_0001.jpg"))
        assert region["Area"]["X"] == pytest.approx((box[0] + box[2]) / 2 / 250, abs=1e-4)
        assert region["Area"]["W"] == pytest.approx((box[2] - box[0]) / 250, abs=1e-4)
        assert got["RegionInfo"]["AppliedToDimensions"] == {"W": 250, "H": 250, "Unit": "pixel"}

        colin = next(iter(_person_of(lib.export(), "Colin_Powell")))
        lib.name(colin, "Colin Powell")
        lib.name(tony, "T. Blair")
        rep = write_sidecars(lib, progress=False)
        assert _exiftool(photo.with_name(photo.name + ".xmp"))["RegionInfo"]["RegionList"][0]["Name"] == "T. Blair"
        side = foreign.with_name(foreign.name + ".xmp")
        assert 'xmp:Rating="4"' in side.read_text()  # the other tool's data kept, in its own words
        assert _exiftool(side)["RegionInfo"]["RegionList"][0]["Name"] == "Colin Powell"
        lib.hide(tony)  # hidden people are not written: their sidecars go
        rep = write_sidecars(lib, progress=False)
        assert rep.removed == 4 and not photo.with_name(photo.name + ".xmp").exists()
        lib.hide(colin)
        write_sidecars(lib, progress=False)
        assert 'xmp:Rating="4"' in side.read_text() and "Regions" not in side.read_text()


def test_migration_keeps_names_and_corrections(model, tmp_path):
    from faceprint.applications.migration import migrate

    root = _photos(tmp_path)
    with _library(model, tmp_path / "L.db") as lib:
        _scan(model, lib, root)
        d = lib.export()
        laura = next(iter(_person_of(d, "Laura_Bush")))
        lib.name(laura, "Laura Bush")
        out = next(p for p in d["people"] if p["id"] == laura)["faces"][-1]["id"]
        lib.remove_face(out)
        serena, chavez, putin = (next(iter(_person_of(d, p))) for p in
                                 ("Serena_Williams", "Hugo_Chavez", "Vladimir_Putin"))
        both = lib.merge([serena, chavez])
        lib.hide(putin)
        noface = next(p for p in d["people"] if p["id"] == both)["faces"][0]["id"]
        lib.remove_face(noface, not_a_face=True)
    dlib = faceprint.load("dlib")
    g = open_gallery_or_library(tmp_path / "L.db", None, create=False)
    rep = migrate(g, dlib, progress=False)
    assert rep.moved == sum(len(p["faces"]) for p in d["people"]) + len(d["unassigned"]) and not rep.dropped
    g.close()
    with _library(dlib, tmp_path / "L.db") as lib:
        assert lib.grouping_due() == "full"
        lib.group(cluster_threshold(dlib)[0])
        after = lib.export()
        people = {p["id"]: p for p in after["people"]}
        assert people[laura]["name"] == "Laura Bush" and out not in {f["id"] for f in people[laura]["faces"]}
        assert people[putin]["hidden"] and chavez not in people  # the merge and the hiding hold
        assert _person_of(after, "Hugo_Chavez") == _person_of(after, "Serena_Williams") - {None} == {both}
        every = {f["id"] for p in after["people"] for f in p["faces"]} | {f["id"] for f in after["unassigned"]}
        assert noface not in every
        assert len(_person_of(after, "Laura_Bush") - {None}) == 1
        probe = faceprint.embed(dlib, [PHOTOS / "Laura_Bush" / "Laura_Bush_0001.jpg"], select="central").embeddings
        assert lib.identify(probe, threshold=dlib.config.threshold)[0].decision == "Laura Bush"
    with pytest.raises(Exception, match="model"):
        _library(model, tmp_path / "L.db")  # the library belongs to the new model now


def _variants(tmp_path: Path, copies: int = 4) -> Path:
    """The shipped photos and `copies` altered versions of each (mirrored, shrunk, brightened): distinct contents of
    the same people, enough photos for a scan to be killed in the middle of."""
    from PIL import ImageEnhance, ImageOps

    root = tmp_path / "photos"
    for photo in sorted(PHOTOS.rglob("*.jpg")):
        im = Image.open(photo).convert("RGB")
        out = root / photo.parent.name
        out.mkdir(parents=True, exist_ok=True)
        shutil.copy(photo, out / photo.name)
        for k in range(copies):
            v = ImageOps.mirror(im) if k % 2 else im
            v = ImageEnhance.Brightness(v).enhance(1.0 + 0.08 * (k + 1))
            v.save(out / f"{photo.stem}_v{k}.jpg", quality=90 - k)
    return root


def _partition(data: dict) -> set[frozenset]:
    """The grouping as sets of (photo, rounded box): comparable across libraries whatever their ids."""
    key = lambda f: (f["photo"], tuple(round(v) for v in f["box"]))  # noqa: E731
    return {frozenset(key(f) for f in p["faces"]) for p in data["people"]} | {
        frozenset([key(f)]) for f in data["unassigned"]}


def _export(lib: Path | str) -> dict:
    with open_library(lib, None, create=False) as g:
        return g.export()


def _cli(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    out = subprocess.run([sys.executable, "-m", "faceprint", *args], capture_output=True, text=True, timeout=600)
    assert not check or (out.returncode == 0 and "Traceback" not in out.stderr), out.stderr[-3000:]
    return out


def _committed(lib: str) -> bool:
    """Whether a scan has committed a photo to the library yet (False while the library is not even made)."""
    try:
        with open_library(lib, None, create=False) as g:
            return g.summary()["photos"] > 0
    except Exception:  # noqa: BLE001  # not made yet, or half-way through its first transaction
        return False


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_scan_killed_again_and_again_ends_as_one_uninterrupted_scan(tmp_path, backend, request):
    import random
    import time

    root = _variants(tmp_path)
    _cli("library", "scan", str(root), "--library", str(tmp_path / "once.db"), "--no-progress")
    once = _export(tmp_path / "once.db")
    lib = request.getfixturevalue("postgres_url") if backend == "postgres" else str(tmp_path / "killed.db")
    rng = random.Random(0)
    killed = 0
    for _ in range(4):
        p = subprocess.Popen([sys.executable, "-m", "faceprint", "library", "scan", str(root), "--library", lib,
                              "--no-progress", "--batch", "3"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while p.poll() is None and time.monotonic() < deadline and not _committed(lib):
            time.sleep(0.05)  # until something is committed, then a little more
        time.sleep(rng.uniform(0.0, 0.6))
        if p.poll() is None:
            p.kill()
            killed += 1
        p.wait()
    assert killed >= 2
    if backend == "sqlite":
        import sqlite3

        with sqlite3.connect(lib) as con:
            assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    _cli("library", "scan", str(root), "--library", lib, "--no-progress")
    again = _export(lib)
    assert _partition(again) == _partition(once)
    assert len(again["people"]) == len(once["people"])


def _die_in_grouping(lib: str) -> subprocess.CompletedProcess:
    """`library group --full` that dies (os._exit, as kill -9 would) after its writes, before its commit."""
    code = ("import os, sys\nfrom faceprint.applications.library import store\n"
            "def die(self): os._exit(9)\n"
            "store.LibraryMixin._drop_empty_suggestions = die\n"
            "from faceprint.cli import main\n"
            f"sys.exit(main(['library', 'group', '--library', {lib!r}, '--full']))\n")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_grouping_killed_before_its_commit_leaves_the_library_as_it_was(tmp_path, backend, request):
    root = _photos(tmp_path)
    lib = request.getfixturevalue("postgres_url") if backend == "postgres" else str(tmp_path / "L.db")
    _cli("library", "scan", str(root), "--library", lib, "--no-progress", "--threshold", "0.5")  # a tight cut
    before = _export(lib)
    died = _die_in_grouping(lib)
    assert died.returncode == 9, died.stderr[-2000:]
    assert _export(lib) == before
    _cli("library", "group", "--library", lib, "--full")
    assert _export(lib) != before  # the model's cut groups otherwise: the dead grouping really had work to do


def test_sharded_scans_fill_one_postgres_library(tmp_path, postgres_url):
    root = _photos(tmp_path)
    _cli("library", "scan", str(root), "--library", str(tmp_path / "one.db"), "--no-progress")
    for i in range(2):
        out = _cli("library", "scan", str(root), "--library", postgres_url, "--shard", f"{i}/2", "--no-progress")
        assert "library group" in out.stdout
    shards = _export(postgres_url)
    assert not shards["people"]  # nothing grouped before `group`
    _cli("library", "group", "--library", postgres_url)
    assert _partition(_export(postgres_url)) == _partition(_export(tmp_path / "one.db"))
    (next(root.rglob("Tony_Blair_0001.jpg"))).unlink()  # gone: a shard forgets the file, `group` its faces
    for i in range(2):
        _cli("library", "scan", str(root), "--library", postgres_url, "--shard", f"{i}/2", "--no-progress")
    _cli("library", "group", "--library", postgres_url)
    d = _export(postgres_url)
    photos = {f["photo"] for p in d["people"] for f in p["faces"]} | {f["photo"] for f in d["unassigned"]}
    assert len(photos) == 21 and not any("Tony_Blair_0001" in p for p in photos)


def test_a_face_left_alone_pairs_up_with_a_new_one(model, tmp_path):
    """A face alone after one scan is not searched again by the next (only new faces are), yet a new photo of the
    same person still finds it: the two become a suggestion."""
    root = tmp_path / "photos"
    root.mkdir()
    serena = sorted((PHOTOS / "Serena_Williams").glob("*.jpg"))
    shutil.copy(serena[0], root / "one.jpg")
    with _library(model, tmp_path / "L.db") as lib:
        _scan(model, lib, root)
        assert not lib.export()["people"] and len(lib.export()["unassigned"]) == 1
        shutil.copy(serena[1], root / "two.jpg")
        rep = _scan(model, lib, root)
        assert rep.new == 1 and rep.grouping["new_people"] == 1
        people = lib.export()["people"]
        assert len(people) == 1 and {f["photo"] for f in people[0]["faces"]} == {"one.jpg", "two.jpg"}
