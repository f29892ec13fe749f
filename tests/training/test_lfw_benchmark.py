"""`faceprint benchmark lfw` on a made-up LFW: the tested people are never trained on."""

import json
import shutil
from pathlib import Path

from faceprint.cli import main
from faceprint.data.lfw import lfw_image
from faceprint.data.synthetic import make_synthetic_faces
from faceprint.models import load_model


def test_unrestricted_protocol_keeps_test_people_out(tmp_path, capsys):
    faces = make_synthetic_faces(tmp_path / "faces", identities=40, images_per_identity=4, size=64, seed=3)
    lfw, proto = tmp_path / "lfw", tmp_path / "protocol"
    proto.mkdir()
    names = [f"Person_{i:02d}" for i in range(40)]
    for name, src in zip(names, sorted(p for p in faces.iterdir() if p.is_dir())):
        (lfw / name).mkdir(parents=True)
        for n, f in enumerate(sorted(src.iterdir()), 1):
            shutil.copy(f, lfw_image(lfw, name, n))
    folds = [names[4 * k : 4 * k + 4] for k in range(10)]
    people = ["10"] + [line for fold in folds for line in [str(len(fold))] + [f"{n} 4" for n in fold]]
    (proto / "people.txt").write_text("\n".join(people) + "\n")
    pairs = ["10 3"]
    for fold in folds:
        pairs += [f"{fold[i]} 1 {2 + i}" for i in range(3)]
        pairs += [f"{fold[i]} 3 {fold[i + 1]} 4" for i in range(3)]
    (proto / "pairs.txt").write_text("\n".join(pairs) + "\n")
    out = tmp_path / "bench"
    rc = main(["benchmark", "lfw", "--lfw-dir", str(lfw), "--protocol-dir", str(proto), "--out", str(out),
               "--backbone", "resnet10_quarter", "--input-size", "48", "--p", "4", "--k", "3", "--steps", "8",
               "--val-split", "0.25", "--val-num-pairs", "40", "--val-every", "8", "--cache-dir", str(tmp_path / "c"),
               "--no-progress", "--threads", "1", "--parallel", "2"])
    assert rc == 0
    rep = json.loads((out / "report.json").read_text())
    assert rep["splits"] == 2 and sorted(f["fold"] for f in rep["folds"]) == list(range(10))
    assert 0 <= rep["accuracy_mean"] <= 1 and "Accuracy" in capsys.readouterr().out
    for split, test_folds in [(0, range(5)), (1, range(5, 10))]:
        held = set((out / f"split{split}_test_people.txt").read_text().split())
        assert held == {n for k in test_folds for n in folds[k]}
        model = load_model(out / f"split{split}" / "best.pt")
        assert model.config.info["identities"] == 15  # 20 people of the other folds, 5 held out for validation
    # Rerunning reuses the trained models (resumable benchmark); with --flip it only re-tests, into its own report.
    stamp = (out / "split0" / "best.pt").stat().st_mtime_ns
    assert main(["benchmark", "lfw", "--lfw-dir", str(lfw), "--protocol-dir", str(proto), "--out", str(out),
                 "--backbone", "resnet10_quarter", "--input-size", "48", "--p", "4", "--k", "3", "--steps", "8",
                 "--cache-dir", str(tmp_path / "c"), "--no-progress", "--flip", "sum"]) == 0
    flipped = json.loads((out / "report_flip-sum.json").read_text())
    assert flipped["flip"] == "sum" and json.loads((out / "report.json").read_text())["flip"] == "none"
    assert (out / "split0" / "best.pt").stat().st_mtime_ns == stamp


def test_split_paused_by_time_budget_continues_on_the_next_run(tmp_path):
    """A long recipe runs in chunks: a split stopped by max_minutes is not done, and the next run resumes it."""
    from faceprint.training import TrainConfig
    from faceprint.training.lfw_benchmark import _steps_done, _train_once

    faces = make_synthetic_faces(tmp_path / "faces", identities=12, images_per_identity=4, size=64, seed=5)
    cfg = TrainConfig(data=[str(faces)], backbone="resnet10_quarter", input_size=48, p=4, k=3, steps=6,
                      val_every=1000, val_split=0.25, val_num_pairs=40, cache_dir=str(tmp_path / "c"), progress=False,
                      threads=1, checkpoint_every=2, max_minutes=1e-9)
    run = tmp_path / "split0"
    _train_once((cfg, run))
    assert not (run / "done").exists() and _steps_done(run) == 1
    _train_once((TrainConfig(**{**cfg.to_dict(), "max_minutes": None}), run))
    assert (run / "done").exists() and _steps_done(run) == 6


def test_training_on_aligned_copies_tests_on_the_photos(tmp_path):
    """--lfw-train-dir: the LFW people are trained on from another folder (e.g. `faceprint align` output), the
    test people are left out of it as well, and a model of another alignment than LFW's meets the test pairs as
    photos (detected and aligned its way; here no face is found in the drawings, so each falls back to its centre)."""
    from faceprint.data.alignment import write_alignment

    faces = make_synthetic_faces(tmp_path / "faces", identities=20, images_per_identity=4, size=64, seed=4)
    lfw, aligned, proto = tmp_path / "lfw", tmp_path / "aligned", tmp_path / "protocol"
    proto.mkdir()
    names = [f"Person_{i:02d}" for i in range(20)]
    for name, src in zip(names, sorted(p for p in faces.iterdir() if p.is_dir())):
        for root in (lfw, aligned):
            (root / name).mkdir(parents=True)
            for n, f in enumerate(sorted(src.iterdir()), 1):
                shutil.copy(f, lfw_image(root, name, n))
    write_alignment(aligned, "box", 64)
    folds = [names[2 * k : 2 * k + 2] for k in range(10)]
    people = ["10"] + [line for fold in folds for line in [str(len(fold))] + [f"{n} 4" for n in fold]]
    (proto / "people.txt").write_text("\n".join(people) + "\n")
    pairs = ["10 1"] + [line for fold in folds for line in (f"{fold[0]} 1 2", f"{fold[0]} 3 {fold[1]} 4")]
    (proto / "pairs.txt").write_text("\n".join(pairs) + "\n")
    out = tmp_path / "bench"
    assert main(["benchmark", "lfw", "--lfw-dir", str(lfw), "--lfw-train-dir", str(aligned), "--protocol-dir",
                 str(proto), "--out", str(out), "--backbone", "resnet10_quarter", "--input-size", "48", "--p", "4",
                 "--k", "3", "--steps", "2", "--val-split", "0", "--cache-dir", str(tmp_path / "c"), "--no-progress",
                 "--threads", "1"]) == 0
    rep = json.loads((out / "report.json").read_text())
    for split, half in enumerate(rep["models"]):
        model = load_model(half["model"])
        assert model.preprocessing.alignment == "box"
        assert model.config.info["data"] == [str(aligned)] and model.config.info["identities"] == 10
        tested = {f"{name}_{n:04d}" for name in names[10 * split : 10 * split + 10] for n in (1, 2, 3, 4)}
        assert half["no_face_centre_crops"]  # photos mode: only there can a face be missing
        assert {Path(p).stem for p in half["no_face_centre_crops"]} <= tested
        assert all(Path(p).parent.parent == lfw for p in half["no_face_centre_crops"])
