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


def test_typed_errors_get_the_flag_to_use(faces, tmp_path, capsys):
    """The library's message, plus how to act on it with this command's flags (the library knows none)."""
    run = tmp_path / "run"
    argv = ["train", "--data", str(faces), "--out", str(run), "--steps", "1", "--p", "4", "--k", "2",
            "--val-split", "0.3", "--val-num-pairs", "40", "--no-progress"]
    assert main(argv) == 0
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "holds a run already" in err and "pass --resume" in err


def test_a_bug_is_not_dressed_up_as_a_user_error(monkeypatch, capsys):
    """Only faceprint's own errors (and missing files) become one-line messages; anything else keeps its
    traceback, so a bug is reported as one."""
    import faceprint.cli.jobs as jobs

    def broken(args):
        raise ValueError("an internal bug")

    monkeypatch.setattr(jobs, "cmd_align", broken)
    with pytest.raises(ValueError, match="an internal bug"):
        main(["align", "a", "b"])
