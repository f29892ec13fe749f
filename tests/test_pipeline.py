"""The one path from a photo to a decision: the library, the command line and a hand-assembled reference agree."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

import faceprint
from faceprint.api import DEFAULT_MODEL
from faceprint.cli import main
from faceprint.data import read_image
from faceprint.detection.alignment import align_face
from faceprint.detection.registry import make_detector
from faceprint.pipeline import Pipeline, resolve_input

shipped = pytest.mark.skipif(not DEFAULT_MODEL.exists(), reason="no model shipped")


@pytest.fixture(scope="module")
def model():
    return faceprint.load()


def _reference_embedding(model, path) -> np.ndarray:
    """Detect (the default detector), take the best face (score x area), align and embed by hand from the lower-level
    parts."""
    image = read_image(path)
    faces = make_detector().detect([image])[0]
    best = max(faces, key=lambda f: f.score * (f.box[2] - f.box[0]) * (f.box[3] - f.box[1]))
    pre = model.preprocessing
    crop = align_face(image, best, pre.alignment, pre.align_size, pre.margin)
    return model.embed(pre.from_array(crop)[None])[0]


def _cli_json(capsys, *argv) -> object:
    assert main([str(a) for a in argv]) == 0
    return json.loads(capsys.readouterr().out)


@shipped
def test_verify_is_the_same_in_the_library_the_cli_and_by_hand(model, photos, capsys):
    a, b = photos / "Tony_Blair" / "Tony_Blair_0001.jpg", photos / "Tony_Blair" / "Tony_Blair_0002.jpg"
    c = photos / "Laura_Bush" / "Laura_Bush_0001.jpg"
    ea, eb, ec = (_reference_embedding(model, p) for p in (a, b, c))
    for x, y, ex, ey, same in ((a, b, ea, eb, True), (a, c, ea, ec, False)):
        lib = faceprint.verify(model, x, y)
        cli = _cli_json(capsys, "verify", x, y, "--json")
        by_hand = float(((ex - ey) ** 2).sum())
        assert lib.distance == pytest.approx(by_hand, abs=1e-5)
        assert cli["distance"] == pytest.approx(lib.distance, abs=1e-6)
        assert lib.threshold == cli["threshold"] == model.config.threshold
        assert lib.same is cli["same"] is (by_hand < model.config.threshold) is same
        assert cli["box_a"] == lib.box_a and lib.box_a is not None


@shipped
def test_arrays_and_files_give_the_same_embeddings(model, photos):
    paths = sorted((photos / "Serena_Williams").iterdir())[:2]
    pipe = Pipeline(model)
    from_files = pipe.embed(paths)
    from_arrays = pipe.embed([read_image(p) for p in paths])
    np.testing.assert_allclose(from_arrays.embeddings, from_files.embeddings, atol=1e-6)
    np.testing.assert_array_equal(from_arrays.boxes, from_files.boxes)
    assert from_arrays.paths == ["<array 0>", "<array 1>"]


@shipped
def test_crops_skip_detection_and_faceless_photos_are_reported(model, photos, tmp_path):
    """input="crops" embeds the image as the model's crop (no detector); a photo without a face is skipped with
    its reason, or embedded from its centre crop when asked (the LFW protocol's rule)."""
    crop = tmp_path / "crop.png"
    pipe = Pipeline(model)
    face = pipe.faces(read_image(photos / "Hugo_Chavez" / "Hugo_Chavez_0001.jpg"))[0]
    Image.fromarray(face.image).save(crop)
    as_crop = Pipeline(model, input="crops").embed([crop])
    np.testing.assert_allclose(as_crop.embeddings[0], pipe.embed_faces([face])[0], atol=1e-5)
    assert np.isnan(as_crop.boxes).all()
    blank = tmp_path / "blank.png"
    Image.new("RGB", (200, 200), (128, 128, 128)).save(blank)
    es = pipe.embed([blank, crop.with_name("missing.jpg")])
    assert len(es.paths) == 0 and len(es.skipped) == 2 and es.skipped[0].endswith("no face found")
    fb = Pipeline(model, no_face="centre_crop").embed([blank])
    assert fb.fallbacks == [str(blank)] and len(fb.paths) == 1 and not fb.skipped
    with pytest.raises(faceprint.FaceprintError, match="no face found"):
        faceprint.verify(model, blank, crop)


@shipped
def test_identify_and_cluster_in_one_call_match_the_cli(model, photos, tmp_path, capsys):
    from faceprint.demo import ENROLLED_PER_PERSON, STRANGER

    people = sorted(p for p in photos.iterdir() if p.is_dir())
    enroll = {p.name: sorted(p.iterdir())[:ENROLLED_PER_PERSON] for p in people if p.name != STRANGER}
    probes = [f for p in people for f in sorted(p.iterdir())[ENROLLED_PER_PERSON if p.name != STRANGER else 0:]]
    db = tmp_path / "g.db"
    for name, files in enroll.items():
        assert main(["enroll", "--gallery", str(db), "--name", name, *map(str, files), "--no-progress"]) == 0
    capsys.readouterr()
    lib = faceprint.identify(model, db, probes)
    cli = _cli_json(capsys, "identify", "--gallery", db, *probes, "--json", "--no-progress")
    assert [f.identity for f in lib.faces] == [r["identity"] for r in cli]
    np.testing.assert_allclose([f.distance for f in lib.faces], [r["distance"] for r in cli], atol=1e-6)
    # each photo's subject is its largest face (YuNet also finds people in the background of LFW's photos)
    subjects = {}
    for f in lib.faces:
        area = (f.box[2] - f.box[0]) * (f.box[3] - f.box[1])
        if area > subjects.get(f.image, (0, None))[0]:
            subjects[f.image] = (area, f)
    assert len(subjects) == len(probes)
    truth = {img: "unknown" if STRANGER in img else img.split("/")[-2] for img in subjects}
    assert sum(truth[img] == f.identity for img, (_, f) in subjects.items()) >= len(truth) - 1
    assert all(f.identity == "unknown" for img, (_, f) in subjects.items() if truth[img] == "unknown")

    clusters = faceprint.cluster(model, photos)
    assert main(["cluster", str(photos), "--out", str(tmp_path / "c"), "--no-progress"]) == 0
    rows = (tmp_path / "c" / "clusters.csv").read_text().splitlines()[1:]
    es = clusters.embeddings
    assert len(rows) == len(es.paths) == 26  # 22 photos, three with people in the background (YuNet: 4 such faces)
    assert [int(r.rsplit("_", 1)[-1]) for r in rows] == clusters.result.labels.tolist()
    # each person's main face in one cluster of their own: the folder names are the truth
    main_faces = es.face_index == 0
    truth = np.unique([p.split("/")[-2] for p in np.array(es.paths)[main_faces]], return_inverse=True)[1]
    from faceprint.evaluation.clustering import clustering_report

    assert clustering_report(truth, clusters.result.labels[main_faces]).nmi > 0.9


def test_input_auto_reads_only_the_models_own_crops_as_crops(tmp_path):
    """A folder is read as crops only when `faceprint align` made it with the model's alignment (it says so in
    alignment.json); any other folder, or a single file, goes through detection and alignment."""
    from types import SimpleNamespace

    def model(alignment):
        return SimpleNamespace(preprocessing=SimpleNamespace(alignment=alignment))

    plain = tmp_path / "plain"
    plain.mkdir()
    aligned = tmp_path / "aligned"
    aligned.mkdir()
    (aligned / "alignment.json").write_text(json.dumps({"method": "dlib_chip", "size": 150}))
    assert resolve_input(model("lfw"), "auto", plain) == "photos"  # was crops before: 75.0% vs 90.7% (issue 11)
    assert resolve_input(model("dlib_chip"), "auto", plain) == "photos"
    assert resolve_input(model("dlib_chip"), "auto", aligned) == "crops"
    assert resolve_input(model("lfw"), "auto", aligned) == "photos"
    assert resolve_input(model("dlib_chip"), "auto", aligned / "x.jpg") == "photos"
    assert resolve_input(model("dlib_chip"), "crops", plain) == "crops"  # an explicit choice stands
    with pytest.raises(faceprint.FaceprintError, match="input must be"):
        resolve_input(model("lfw"), "faces", plain)
