"""The job commands end to end on the small trained model."""

from __future__ import annotations

import json
import shutil

import pytest

import faceprint
from faceprint.cli import main
from faceprint.data.lfw import lfw_image


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main([str(a) for a in argv])
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_verify_embed_calibrate(synthetic, tmp_path, capsys):
    m = synthetic["model_path"]
    a, b = sorted((synthetic["unseen"] / "id_031").iterdir())[:2]
    model = synthetic["model"]
    lib = faceprint.verify(model, a, b, input="crops")
    rc, out, _ = _run(capsys, "verify", a, b, "--model", m, "--input", "crops")
    verdict = "SAME" if lib.same else "DIFFERENT"
    assert rc == 0 and out.strip() == f"squared_l2 distance {lib.distance:.4f}  threshold {lib.threshold:.4f}  {verdict}"
    assert lib.threshold == model.config.threshold
    rc, out, _ = _run(capsys, "verify", a, b, "--model", m, "--json", "--threshold", "4.5", "--input", "crops")
    r = json.loads(out)
    assert r["same"] is True and r["threshold"] == 4.5 and r["distance"] == pytest.approx(lib.distance, abs=1e-6)
    rc, out, _ = _run(capsys, "embed", synthetic["unseen"], "--out", tmp_path / "e.npz", "--model", m, "--no-progress",
                      "--input", "crops")
    assert rc == 0 and "wrote 80 embeddings" in out
    rc, out, _ = _run(capsys, "evaluate", "cluster", "--model", m, "--data", tmp_path / "e.npz")
    assert rc == 0 and "NMI" in out  # the embeddings file is reused, not recomputed
    rc, _, err = _run(capsys, "cluster", tmp_path / "e.npz", "--out", tmp_path / "c", "--model", m, "--threshold", "1",
                      "--input", "crops")
    assert rc == 0
    from faceprint.embeddings import EmbeddingSet

    es = EmbeddingSet.load(tmp_path / "e.npz")
    es.fingerprint = "someothermodel00"
    es.save(tmp_path / "other.npz")
    rc, _, err = _run(capsys, "evaluate", "cluster", "--model", m, "--data", tmp_path / "other.npz")
    assert rc == 2 and "made by model someothermodel00" in err
    # calibrate on a CSV of pairs of unseen identities
    imgs = sorted(synthetic["unseen"].glob("*/*.jpg"))
    rows = ["path1,path2,same,fold"]
    for i in range(0, 80, 8):
        rows.append(f"{imgs[i]},{imgs[i + 1]},1,0")
        rows.append(f"{imgs[i]},{imgs[(i + 8) % 80]},0,0")
    (tmp_path / "p.csv").write_text("\n".join(rows) + "\n")
    rc, out, _ = _run(capsys, "calibrate", "--model", m, "--pairs", tmp_path / "p.csv", "--far", "0.1",
                      "--out", tmp_path / "cal.pt")
    assert rc == 0 and "FAR" in out
    rc, out, _ = _run(capsys, "info", tmp_path / "cal.pt")
    info = json.loads(out)
    assert info["info"]["calibration"]["rule"].startswith("largest threshold with FAR <= 0.1")
    assert info["fingerprint"] == synthetic["model"].fingerprint


def test_calibrate_open_set_and_identify_uses_it(synthetic, tmp_path, capsys):
    m = synthetic["model_path"]
    rc, out, _ = _run(capsys, "calibrate", "--model", m, "--open-set", "--data", synthetic["unseen"], "--far", "0.05",
                      "--out", tmp_path / "os.pt", "--no-progress")
    assert rc == 0 and "open-set thresholds for FAR 0.05" in out
    rc, out, _ = _run(capsys, "info", tmp_path / "os.pt")
    info = json.loads(out)
    cal = info["info"]["open_set_calibration"]
    assert info["fingerprint"] == synthetic["model"].fingerprint and max(cal["far"]) <= 0.05 and cal["identities"] == 10
    assert info["open_set_thresholds"] == [[n, t] for n, t in zip(cal["gallery_sizes"], cal["thresholds"])]
    rc, _, err = _run(capsys, "calibrate", "--model", m, "--open-set", "--out", tmp_path / "x.pt")
    assert rc == 2 and "--data" in err and not (tmp_path / "x.pt").exists()
    # identify decides with the model's open-set threshold; a model without one says so on stderr
    gallery = tmp_path / "g.db"
    _run(capsys, "enroll", "--gallery", gallery, "--name", "id_030", *sorted((synthetic["unseen"] / "id_030").iterdir())[:2],
         "--model", tmp_path / "os.pt", "--no-progress", "--input", "crops")
    probe = sorted((synthetic["unseen"] / "id_030").iterdir())[5]
    rc, out, err = _run(capsys, "identify", "--gallery", gallery, probe, "--model", tmp_path / "os.pt", "--json",
                        "--input", "crops")
    # a one-person gallery: the threshold calibrated for galleries of one identity
    assert json.loads(out)[0]["threshold"] == pytest.approx(cal["thresholds"][0]) and "warning" not in err
    from faceprint.models import load_model, save_model

    bare = load_model(tmp_path / "os.pt")
    bare.config.open_set_thresholds = None
    save_model(bare, tmp_path / "bare.pt")
    rc, out, err = _run(capsys, "identify", "--gallery", gallery, probe, "--model", tmp_path / "bare.pt", "--json",
                        "--input", "crops")
    assert rc == 0 and "no open-set threshold" in err
    assert json.loads(out)[0]["threshold"] == pytest.approx(synthetic["model"].config.threshold)


def test_enroll_identify_cluster(synthetic, tmp_path, capsys):
    m = synthetic["model_path"]
    gallery = tmp_path / "g.db"
    enroll = tmp_path / "enroll"
    for d in sorted(p for p in synthetic["unseen"].iterdir() if p.is_dir())[:9]:
        (enroll / d.name).mkdir(parents=True)
        for f in sorted(d.iterdir())[:3]:
            shutil.copy(f, enroll / d.name / f.name)
    (enroll / "id_030" / "broken.jpg").write_text("oops")
    rc, out, _ = _run(capsys, "enroll", "--gallery", gallery, enroll, "--model", m, "--no-progress", "--input", "crops")
    assert rc == 0 and "27 faces added" in out and "broken.jpg" in out
    rc, out, _ = _run(capsys, "enroll", "--gallery", gallery, enroll, "--model", m, "--no-progress", "--input", "crops")
    assert "0 faces added, 27 already enrolled" in out
    probe = sorted((synthetic["unseen"] / "id_032").iterdir())[6]
    stranger = sorted((synthetic["unseen"] / "id_039").iterdir())[6]
    rc, out, _ = _run(capsys, "identify", "--gallery", gallery, probe, stranger, "--model", m, "--json", "--k", "3",
                      "--input", "crops")
    res = json.loads(out)
    assert res[0]["identity"] == "id_032" and res[1]["identity"] == "unknown" and len(res[0]["candidates"]) == 3
    # a gallery built with another model is refused in one line
    other = tmp_path / "other.db"
    from faceprint.applications.identification import Gallery

    Gallery(other, "0123456789abcdef", 128, "squared_l2").close()
    rc, _, err = _run(capsys, "identify", "--gallery", other, probe, "--model", m, "--input", "crops")
    assert rc == 2 and "built with model 0123456789abcdef" in err and len(err.strip().splitlines()) == 1
    rc, out, _ = _run(capsys, "cluster", synthetic["unseen"], "--out", tmp_path / "cl", "--model", m, "--no-progress",
                      "--input", "crops")
    assert rc == 0 and (tmp_path / "cl" / "clusters.csv").exists()


def test_evaluate_commands(synthetic, tmp_path, capsys):
    m = synthetic["model_path"]
    lfw = tmp_path / "lfw"
    people = sorted(p for p in synthetic["unseen"].iterdir() if p.is_dir())
    for d in people:
        (lfw / d.name).mkdir(parents=True)
        for n, f in enumerate(sorted(d.iterdir()), 1):
            shutil.copy(f, lfw_image(lfw, d.name, n))
    lines = ["2 5"]
    for fold in range(2):
        group = people[fold * 5 : fold * 5 + 5]
        lines += [f"{d.name} 1 {2 + fold}" for d in group]
        lines += [f"{group[i].name} 3 {group[(i + 1) % 5].name} 4" for i in range(5)]
    (tmp_path / "pairs.txt").write_text("\n".join(lines) + "\n")
    rc, out, _ = _run(capsys, "evaluate", "lfw", "--model", m, "--lfw-dir", lfw, "--pairs", tmp_path / "pairs.txt",
                      "--json", tmp_path / "r.json", "--plot", tmp_path / "roc.png", "--flip", "sum", "--no-progress")
    assert rc == 0 and "2-fold cross-validated" in out
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["options"]["flip"] == "sum" and len(report["report"]["folds"]) == 2
    assert report["model"]["fingerprint"] == synthetic["model"].fingerprint and (tmp_path / "roc.png").exists()
    rc, out, _ = _run(capsys, "evaluate", "lfw", "--model", m, "--lfw-dir", lfw, "--pairs", tmp_path / "pairs.txt",
                      "--mean-subtraction", "--no-progress")
    assert rc == 0
    (tmp_path / "pairs.txt").write_text("1 1\nid_030 1 99\nid_030 1 id_031 1\n")
    rc, _, err = _run(capsys, "evaluate", "lfw", "--model", m, "--lfw-dir", lfw, "--pairs", tmp_path / "pairs.txt")
    assert rc == 2 and "missing image" in err and "id_030_0099.jpg" in err
    rc, out, _ = _run(capsys, "evaluate", "identify", "--model", m, "--data", synthetic["unseen"], "--no-progress")
    assert rc == 0 and "rank-1" in out and "DIR" in out
    rc, out, _ = _run(capsys, "evaluate", "cluster", "--model", m, "--data", synthetic["unseen"], "--no-progress")
    assert rc == 0 and "NMI" in out


def test_no_default_model_is_a_clear_error(tmp_path, photos, capsys, monkeypatch):
    """An installation without a shipped model (e.g. a source checkout before one ships) says what to pass; a bad
    image is named before any model is looked for (it fails in a fraction of a second, without loading torch)."""
    import faceprint.api

    monkeypatch.setattr(faceprint.api, "DEFAULT_MODEL", tmp_path / "none.pt")
    a, b = sorted(photos.rglob("*.jpg"))[:2]
    rc, _, err = _run(capsys, "verify", a, b)
    assert rc == 2 and err.strip() == ("faceprint verify: error: no default model is shipped with this version of "
                                       "faceprint yet: give a model file (one written by training) (pass --model)")
    rc, _, err = _run(capsys, "verify", a, tmp_path / "b.jpg")
    assert rc == 2 and err.strip() == f"faceprint verify: error: {tmp_path / 'b.jpg'}: no such file"


def test_bad_inputs_fail_before_torch_loads(photos, tmp_path):
    """A missing or broken image, or a --gallery that cannot be one, costs a fraction of a second: the parser and
    the error path load neither torch nor the training loop (a fresh interpreter, since this one has both)."""
    import subprocess
    import sys

    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff not a jpeg")
    (tmp_path / "text.db").write_text("not a database\n")
    (tmp_path / "folder.db").mkdir()
    good = str(sorted(photos.rglob("*.jpg"))[0])
    code = ("import sys; from faceprint.cli import main; rc = main(sys.argv[1:]); "
            "print(rc, sorted(m for m in ('torch', 'sklearn', 'faceprint.training.loop') if m in sys.modules))")
    cases = [(["verify", good, str(tmp_path / "broken.jpg")], "broken.jpg: not an image"),
             (["verify", good, str(tmp_path / "missing.jpg")], "missing.jpg: no such file"),
             (["identify", "--gallery", str(tmp_path / "text.db"), good], "text.db: not a faceprint gallery"),
             (["identify", "--gallery", str(tmp_path / "none.db"), good], "none.db: no such gallery"),
             (["enroll", "--gallery", str(tmp_path / "folder.db"), "--name", "x", good], "folder.db: a folder"),
             (["enroll", "--gallery", str(tmp_path / "g.db"), good, good], "give one folder")]
    for argv, message in cases:
        out = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=120)
        assert out.stdout.strip() == "2 []" and message in out.stderr, (argv, out.stdout, out.stderr)
    assert not (tmp_path / "g.db").exists()


def test_raw_photos_are_detected_and_aligned(synthetic, photos, tmp_path, capsys):
    """Real photos: faces are found, aligned and embedded; a photo without a face says so and the batch goes on."""
    import numpy as np
    from PIL import Image

    m = synthetic["model_path"]
    a, b = photos / "Colin_Powell" / "Colin_Powell_0001.jpg", photos / "Colin_Powell" / "Colin_Powell_0002.jpg"
    rc, out, _ = _run(capsys, "verify", a, b, "--model", m, "--json", "--threshold", "4.5")
    r = json.loads(out)
    lib = faceprint.verify(synthetic["model"], a, b, threshold=4.5)
    assert rc == 0 and r["same"] and r["distance"] == pytest.approx(lib.distance, abs=1e-6) and r["box_a"] == lib.box_a
    assert 60 < r["box_a"][0] < 120 and r["box_a"][2] > r["box_a"][0] + 60  # the centred face of a 250 px photo
    blank = tmp_path / "blank.png"
    Image.fromarray(np.full((200, 200, 3), 128, np.uint8)).save(blank)
    rc, _, err = _run(capsys, "verify", a, blank, "--model", m)
    assert rc == 2 and "blank.png: no face found" in err
    gallery = tmp_path / "g.db"
    rc, out, _ = _run(capsys, "enroll", "--gallery", gallery, "--name", "Colin", a, "--model", m, "--no-progress")
    assert rc == 0 and "1 faces added" in out
    rc, out, _ = _run(capsys, "identify", "--gallery", gallery, b, blank, "--model", m, "--json", "--threshold", "4.5")
    res = json.loads(out)
    assert res[0]["identity"] == "Colin" and res[0]["box"] == lib.box_b
    assert res[0]["distance"] == pytest.approx(lib.distance, abs=1e-6)  # one face enrolled: the pair's distance
    assert res[1]["error"].endswith("no face found")


def test_evaluate_pairs_on_photos_falls_back_to_the_centre_crop(synthetic, photos, tmp_path, capsys):
    import numpy as np
    from PIL import Image

    a1, a2 = photos / "Tony_Blair" / "Tony_Blair_0001.jpg", photos / "Tony_Blair" / "Tony_Blair_0002.jpg"
    b1 = photos / "Laura_Bush" / "Laura_Bush_0001.jpg"
    blank = tmp_path / "blank.jpg"
    Image.fromarray(np.full((250, 250, 3), 100, np.uint8)).save(blank)
    (tmp_path / "p.csv").write_text(f"{a1},{a2},1,0\n{a1},{b1},0,0\n{a2},{blank},0,0\n")
    rc, out, _ = _run(capsys, "evaluate", "pairs", "--model", synthetic["model_path"], "--pairs", tmp_path / "p.csv",
                      "--no-progress", "--json", tmp_path / "r.json")  # default --input auto: photos here
    assert rc == 0 and "1 image(s) without a detected face used their centre crop" in out
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["centre_crop_fallbacks"] == [str(blank)] and report["options"]["input"] == "photos"


def test_photo_demo_runs_end_to_end(synthetic, tmp_path, capsys):
    """The demo's pipeline on the shipped sample photos (the small synthetic model's answers are not judged)."""
    rc, out, _ = _run(capsys, "demo", "--model", synthetic["model_path"], "--out", tmp_path / "demo")
    assert rc == 0 and "22 photos: 22 faces detected and aligned" in out
    report = (tmp_path / "demo" / "report.html").read_text()
    assert "Identification" in report and "Vladimir_Putin" in report
    for name in ("verification.png", "gallery.db", "clusters/clusters.csv", "faces/Colin_Powell_Colin_Powell_0001.jpg"):
        assert (tmp_path / "demo" / name).exists(), name


def test_calibrate_clustering_and_verification_on_a_folder(synthetic, tmp_path, capsys):
    """`calibrate --clustering` stores a cut that `cluster` then uses by default; `calibrate --data` fits the
    verification threshold on a folder's own pairs. Both keep the weights (same fingerprint)."""
    import numpy as np

    from faceprint.applications.clustering import calibrate_clustering, cluster
    from faceprint.embeddings import embed_paths, list_images
    from faceprint.models import load_model

    m = synthetic["model_path"]
    rc, out, _ = _run(capsys, "calibrate", "--model", m, "--clustering", "--data", synthetic["unseen"], "--sizes",
                      "3,10", "--input", "crops", "--no-progress", "--out", tmp_path / "c.pt")
    assert rc == 0 and "clustering threshold" in out
    cal = load_model(tmp_path / "c.pt")
    assert cal.fingerprint == synthetic["model"].fingerprint
    paths, ids = list_images(synthetic["unseen"])
    es = embed_paths(synthetic["model"], paths, ids, progress=False)
    labels = np.unique(np.array(es.identities), return_inverse=True)[1]
    expected = calibrate_clustering(es.embeddings, labels, "squared_l2", sizes=(3, 10))
    assert cal.config.cluster_threshold == pytest.approx(expected.threshold)
    rc, out, _ = _run(capsys, "cluster", synthetic["unseen"], "--out", tmp_path / "cl", "--model", tmp_path / "c.pt",
                      "--input", "crops", "--no-progress")
    want = cluster(es.embeddings, threshold=expected.threshold).n_clusters
    assert rc == 0 and f"-> {want} clusters" in out and f"threshold {expected.threshold:g}" in out
    rc, out, _ = _run(capsys, "calibrate", "--model", m, "--data", synthetic["unseen"], "--input", "crops",
                      "--no-progress", "--out", tmp_path / "v.pt")
    assert rc == 0 and "threshold of maximum accuracy" in out
    v = load_model(tmp_path / "v.pt")
    assert v.config.info["calibration"]["pairs"] == str(synthetic["unseen"])
    assert v.config.info["calibration"]["accuracy"] > 0.8
    rc, _, err = _run(capsys, "calibrate", "--model", m, "--out", tmp_path / "x.pt")
    assert rc == 2 and "give --pairs, or --data" in err


def test_calibrate_test_flip_binds_the_flip_to_the_model(synthetic, tmp_path, capsys):
    """`calibrate --test-flip sum`: the written model embeds each face with its mirror image by default, has a new
    fingerprint (a gallery or embeddings file of the plain model is refused), drops the thresholds fitted without
    the flip and fits the asked one with it; a further calibration of that file keeps its fingerprint."""
    import numpy as np

    from faceprint.embeddings import EmbeddingSet, embed_paths, list_images
    from faceprint.evaluation.identification import calibrate_open_set
    from faceprint.models import load_model

    m, plain = synthetic["model_path"], synthetic["model"]
    assert plain.config.threshold is not None and plain.config.test_flip == "none"
    rc, out, _ = _run(capsys, "calibrate", "--model", m, "--open-set", "--test-flip", "sum", "--data",
                      synthetic["unseen"], "--far", "0.05", "--input", "crops", "--no-progress", "--out", tmp_path / "f.pt")
    assert rc == 0 and "dropped the verification, open-set, clustering threshold(s) fitted without it" in out
    flipped = load_model(tmp_path / "f.pt")
    assert flipped.config.test_flip == "sum" and flipped.fingerprint != plain.fingerprint
    assert flipped.config.threshold is None and f"fingerprint {flipped.fingerprint}" in out
    paths, ids = list_images(synthetic["unseen"])
    es = embed_paths(flipped, paths, ids, progress=False)
    want = embed_paths(plain, paths, ids, flip="sum", progress=False).embeddings
    np.testing.assert_allclose(es.embeddings, want, atol=1e-6)
    assert not np.allclose(es.embeddings, embed_paths(plain, paths, ids, progress=False).embeddings, atol=1e-3)
    labels = np.unique(np.array(es.identities), return_inverse=True)[1]
    expected = calibrate_open_set(want, labels, far=0.05)
    np.testing.assert_allclose(flipped.config.open_set_thresholds, expected.table(), atol=1e-6)
    # embeddings made by the plain model do not meet the flipped one's
    rc, _, _ = _run(capsys, "embed", synthetic["unseen"], "--out", tmp_path / "e.npz", "--model", m, "--no-progress",
                    "--input", "crops")
    rc, _, err = _run(capsys, "evaluate", "cluster", "--model", tmp_path / "f.pt", "--data", tmp_path / "e.npz")
    assert rc == 2 and f"made by model {plain.fingerprint}" in err and "flip none, the model uses sum" in err
    # the plain model with --flip sum makes the flipped model's vectors, and its file says so (in pieces too)
    rc, _, _ = _run(capsys, "embed", synthetic["unseen"], "--out", tmp_path / "s.npz", "--model", m, "--no-progress",
                    "--input", "crops", "--flip", "sum", "--chunk", "7")
    made = EmbeddingSet.load(tmp_path / "s.npz")
    assert rc == 0 and made.fingerprint == flipped.fingerprint and made.config["test_flip"] == "sum"
    np.testing.assert_allclose(made.embeddings, want, atol=1e-6)
    made.check_model(flipped)
    rc, _, err = _run(capsys, "evaluate", "cluster", "--model", m, "--data", tmp_path / "s.npz")
    assert rc == 2 and f"made by model {flipped.fingerprint}" in err and "flip sum, the model uses none" in err
    # and the next calibration of the flipped file keeps it: same fingerprint, flip kept
    rc, out, _ = _run(capsys, "calibrate", "--model", tmp_path / "f.pt", "--data", synthetic["unseen"], "--input",
                      "crops", "--no-progress", "--out", tmp_path / "f2.pt")
    again = load_model(tmp_path / "f2.pt")
    assert rc == 0 and "same weights and fingerprint" in out
    assert again.fingerprint == flipped.fingerprint and again.config.test_flip == "sum"
    assert again.config.threshold is not None and again.config.open_set_thresholds == flipped.config.open_set_thresholds


def test_embed_shards_merge_into_the_single_run(tmp_path):
    """`faceprint embed --shard i/2` twice at once: the merged file has the single run's rows, in its order."""
    import shutil
    import subprocess
    import sys

    import numpy as np

    from faceprint.demo import PHOTOS

    src = tmp_path / "src"
    for d in sorted(PHOTOS.iterdir())[:3]:
        shutil.copytree(d, src / d.name)
    (src / sorted(p.name for p in src.iterdir())[0] / "broken.jpg").write_text("not an image")
    cmd = [sys.executable, "-m", "faceprint", "embed", str(src), "--no-progress"]
    assert subprocess.run([*cmd, "--out", str(tmp_path / "one.npz")], capture_output=True).returncode == 0
    shards = [subprocess.Popen([*cmd, "--out", str(tmp_path / "two.npz"), "--shard", f"{i}/2"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE) for i in range(2)]
    assert all(p.wait(300) == 0 for p in shards)
    one, two = np.load(tmp_path / "one.npz"), np.load(tmp_path / "two.npz")
    assert list(one["paths"]) == list(two["paths"]) and list(one["skipped"]) == list(two["skipped"])
    np.testing.assert_allclose(one["embeddings"], two["embeddings"], atol=1e-4)
    np.testing.assert_array_equal(one["face_index"], two["face_index"])
    assert not list(tmp_path.glob("two.npz.shard-*"))
    again = subprocess.run([*cmd, "--out", str(tmp_path / "two.npz"), "--shard", "1/2"], capture_output=True, text=True)
    assert again.returncode == 0 and "merged already" in again.stdout
