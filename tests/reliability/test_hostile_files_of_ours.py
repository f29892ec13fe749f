"""Hostile model files, checkpoints and galleries: refused in one line, without running anything they carry."""

from __future__ import annotations

import pickle
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import torch

from faceprint.api import DEFAULT_MODEL
from faceprint.demo import PHOTOS


class _Exploit:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('code ran')",))


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "faceprint", *args], capture_output=True, text=True, timeout=300)


def _one_line_error(out: subprocess.CompletedProcess, *words: str) -> None:
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr[-2000:]
    lines = [line for line in out.stderr.splitlines() if "error" in line]
    assert len(lines) == 1 and all(w in lines[0] for w in words), out.stderr


def test_model_files_truncated_tampered_or_malicious(tmp_path):
    photo = str(sorted(PHOTOS.rglob("*.jpg"))[0])
    data = DEFAULT_MODEL.read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    marker = tmp_path / "pwned.txt"
    with open(tmp_path / "evil.pt", "wb") as f:
        pickle.dump({"format": "faceprint.model", "x": _Exploit(marker)}, f)
    from faceprint.models.modelfile import ModelFile, read_model_file, write_model_file

    mf = read_model_file(DEFAULT_MODEL)
    config = {**mf.config, "preprocessing": {**mf.config["preprocessing"], "input_size": 160}}
    # the weights' record no longer matches; a graph that is not one; a first-format file tampered with the same way
    write_model_file(tmp_path / "tampered.pt", ModelFile(config, mf.fingerprint, mf.tensors, mf.network,
                                                         mf.network_weights, mf.network_io))
    write_model_file(tmp_path / "graph.pt", ModelFile(mf.config, mf.fingerprint, mf.tensors, b"not a graph",
                                                      mf.network_weights, mf.network_io))
    torch.save({"format": "faceprint.model", "format_version": 1, "config": config, "fingerprint": mf.fingerprint,
                "state_dict": {k: torch.from_numpy(v.copy()) for k, v in mf.tensors.items()}}, tmp_path / "old.pt")
    cases = [("cut.pt", ("cut.pt", "not a faceprint model")), ("evil.pt", ("evil.pt",)),
             ("tampered.pt", ("tampered.pt", "fingerprint")), ("graph.pt", ("graph.pt", "network graph")),
             ("old.pt", ("old.pt",))]
    with ThreadPoolExecutor(2) as pool:
        outs = list(pool.map(lambda c: _cli("verify", photo, photo, "--model", str(tmp_path / c[0])), cases))
    for (_, words), out in zip(cases, outs):
        _one_line_error(out, *words)
    assert not marker.exists()


def test_malicious_checkpoint_is_not_resumed(tmp_path):
    from faceprint.data.synthetic import make_synthetic_faces

    faces = make_synthetic_faces(tmp_path / "faces", identities=6, images_per_identity=3, size=48, seed=4)
    run = tmp_path / "run"
    run.mkdir()
    marker = tmp_path / "pwned.txt"
    with open(run / "checkpoint.pt", "wb") as f:
        pickle.dump({"format": "faceprint.checkpoint", "x": _Exploit(marker)}, f)
    out = _cli("train", "--data", str(faces), "--out", str(run), "--resume", "--steps", "2", "--no-progress",
               "--val-split", "0.34", "--val-num-pairs", "200",
               "--backbone", "resnet10_quarter", "--input-size", "48", "--p", "3", "--k", "2")
    assert out.returncode != 0 and "Traceback" not in out.stderr, out.stderr[-2000:]
    assert not marker.exists()


def test_galleries_that_are_not_galleries(tmp_path):
    photo = str(sorted(PHOTOS.rglob("*.jpg"))[0])
    (tmp_path / "random.db").write_bytes(bytes(range(256)) * 64)
    (tmp_path / "text.db").write_text("not a database\n" * 100)
    g = tmp_path / "g.db"
    assert _cli("enroll", "--gallery", str(g), "--name", "x", photo).returncode == 0
    data = g.read_bytes()
    (tmp_path / "cut.db").write_bytes(data[: len(data) // 3])
    (tmp_path / "folder.db").mkdir()
    names = ("random.db", "text.db", "cut.db", "folder.db")
    with ThreadPoolExecutor(2) as pool:  # one process each, two at a time (2 cores): most of each is loading
        outs = list(pool.map(lambda n: _cli("identify", "--gallery", str(tmp_path / n), photo), names))
    for name, out in zip(names, outs):
        _one_line_error(out, name)
