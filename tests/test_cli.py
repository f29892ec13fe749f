"""The command line: the train command works, bad input ends in one clear line."""

import json

import pytest

from faceprint.cli import main
from faceprint.data.synthetic import make_synthetic_faces


@pytest.fixture(scope="module")
def faces(tmp_path_factory):
    return make_synthetic_faces(tmp_path_factory.mktemp("faces"), identities=12, images_per_identity=5, size=64)


def test_train_then_info(faces, tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("backbone: resnet10_quarter\ninput_size: 48\np: 4\nk: 3\nsteps: 50\n")
    rc = main(["train", "--data", str(faces), "--out", str(tmp_path / "run"), "--config", str(cfg), "--steps", "3",
               "--val-split", "0.3", "--val-num-pairs", "60", "--no-progress", "--cache-dir", str(tmp_path / "c"),
               "--threads", "1"])
    assert rc == 0
    assert "trained 3 steps" in capsys.readouterr().out
    assert main(["info", str(tmp_path / "run" / "best.pt")]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["backbone"] == "resnet10_quarter" and info["preprocessing"]["input_size"] == 48
    assert info["info"]["recipe"]["steps"] == 3


@pytest.mark.parametrize("argv, message", [
    (["train", "--data", "/nonexistent", "--out", "OUT"], "dataset folder not found"),
    (["train", "--out", "OUT"], "no training data"),
    (["train", "--data", "DATA", "--out", "OUT", "--miner", "hardest"], "miner must be one of"),
    (["info", "/nonexistent.pt"], "no such model file"),
])
def test_errors_are_one_line(faces, tmp_path, capsys, argv, message):
    argv = [a.replace("OUT", str(tmp_path / "o")).replace("DATA", str(faces)) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and err.startswith("faceprint ") and "Traceback" not in err


def test_input_auto_picks_the_models_own_crops_or_photos(tmp_path):
    """--input auto: a folder made by `faceprint align` for the model's alignment (or an LFW-style folder for an
    LFW-style model) is read as crops; anything else goes through detection and alignment."""
    import json
    from types import SimpleNamespace

    from faceprint.cli.common import resolve_input

    def model(alignment):
        return SimpleNamespace(config=SimpleNamespace(preprocessing=SimpleNamespace(alignment=alignment)))

    plain = tmp_path / "plain"
    plain.mkdir()
    aligned = tmp_path / "aligned"
    aligned.mkdir()
    (aligned / "alignment.json").write_text(json.dumps({"method": "dlib_chip", "size": 150}))
    assert resolve_input(model("lfw"), "auto", plain) == "crops"
    assert resolve_input(model("dlib_chip"), "auto", plain) == "photos"
    assert resolve_input(model("dlib_chip"), "auto", aligned) == "crops"
    assert resolve_input(model("lfw"), "auto", aligned) == "photos"
    assert resolve_input(model("dlib_chip"), "crops", plain) == "crops"  # an explicit choice stands
