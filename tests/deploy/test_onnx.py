"""`faceprint export --format onnx`: onnxruntime gives PyTorch's embeddings on real faces, from the same
preprocessing, at any batch size, without importing torch; a file that does not match its description is refused."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

import faceprint  # noqa: E402
from faceprint.cli import main  # noqa: E402
from faceprint.demo import PHOTOS  # noqa: E402
from faceprint.deploy.runtime import ExportedModelError, OnnxEmbedder, sidecar  # noqa: E402
from faceprint.detection.pipeline import FaceAligner  # noqa: E402


@pytest.fixture(scope="module")
def shipped():
    """The shipped model's PyTorch network (what `faceprint export` exports)."""
    from faceprint.api import DEFAULT_MODEL
    from faceprint.models import load_model

    return load_model(DEFAULT_MODEL)


@pytest.fixture(scope="module")
def exported(shipped, tmp_path_factory):
    from faceprint.deploy.export import export_onnx

    return export_onnx(shipped, tmp_path_factory.mktemp("onnx") / "model.onnx")


@pytest.fixture(scope="module")
def faces(shipped):
    """The shipped photos' faces, aligned as the model expects (real faces, not noise)."""
    aligner = FaceAligner(shipped.preprocessing, select="best")
    return [f.image for _, fs in aligner.align_many(sorted(PHOTOS.rglob("*.jpg")), workers=1) for f in fs]


def test_onnxruntime_matches_pytorch_on_real_faces(shipped, exported, faces):
    onnx = faceprint.load(exported)
    assert isinstance(onnx, OnnxEmbedder) and onnx.fingerprint == shipped.fingerprint
    assert len(faces) >= 20
    ref = shipped.embed(faces)
    for batch in (1, 7, 64):  # dynamic batch
        np.testing.assert_allclose(onnx.embed(faces, batch_size=batch), ref, atol=1e-4, rtol=0)
    np.testing.assert_allclose(onnx.embed(faces, flip="sum"), shipped.embed(faces, flip="sum"), atol=1e-4, rtol=0)
    assert np.allclose(np.linalg.norm(onnx.embed(faces), axis=1), 1, atol=1e-5)
    assert onnx.embed([]).shape == (0, shipped.config.embedding_size)


def test_a_models_own_test_flip_is_kept_in_onnxruntime(shipped, exported, faces):
    """A model whose config binds test-time flip embeds with it by default, in PyTorch and in onnxruntime."""
    import copy

    onnx = faceprint.load(exported)
    onnx.config.test_flip = "sum"
    flipped = copy.deepcopy(shipped)
    flipped.config.test_flip = "sum"
    want = shipped.embed(faces, flip="sum")
    np.testing.assert_allclose(flipped.embed(faces), want, atol=1e-6, rtol=0)
    np.testing.assert_allclose(onnx.embed(faces), want, atol=1e-4, rtol=0)
    np.testing.assert_allclose(onnx.embed(faces, flip="none"), shipped.embed(faces), atol=1e-4, rtol=0)


def test_preprocess_is_the_exported_networks_input(shipped, exported, faces, tmp_path):
    """model.preprocess gives exactly the tensor PyTorch feeds the network (to_tensor at evaluation), for paths and
    arrays alike, and running the ONNX session on it directly gives the embeddings."""
    from PIL import Image

    paths = []
    for i, f in enumerate(faces[:5]):
        paths.append(tmp_path / f"f{i}.png")
        Image.fromarray(f).save(paths[-1])
    x = shipped.preprocess(faces[:5])
    assert x.dtype == np.float32 and x.shape == (5, 3, 128, 128) and x.flags.c_contiguous
    np.testing.assert_array_equal(x, shipped.preprocess(paths))
    pre = shipped.preprocessing
    np.testing.assert_array_equal(x, pre.to_tensor(pre.stack(faces[:5])).contiguous().numpy())
    onnx = OnnxEmbedder(exported)
    np.testing.assert_array_equal(onnx.preprocess(paths), x)
    raw = onnx.session.run(None, {"faces": x})[0]
    np.testing.assert_allclose(raw, shipped.embed(faces[:5]), atol=1e-4, rtol=0)


def test_runs_without_torch(exported, faces, tmp_path):
    """faceprint[onnx] at inference: torch (nor scikit-learn, SciPy, matplotlib, PyYAML) cannot be imported, and
    the embeddings still come out."""
    from PIL import Image

    Image.fromarray(faces[0]).save(tmp_path / "face.png")
    code = ("import sys\n"
            "for m in ('torch', 'sklearn', 'scipy', 'matplotlib', 'yaml'): sys.modules[m] = None\n"
            "import faceprint\n"
            f"e = faceprint.load({str(exported)!r}).embed([{str(tmp_path / 'face.png')!r}])\n"
            "print(e.shape, round(float((e ** 2).sum()), 4))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "(1, 256) 1.0"  # the shipped default's 256-d output


def test_mismatched_or_missing_description_is_refused(exported, tmp_path):
    import shutil

    copy = tmp_path / "m.onnx"
    shutil.copy(exported, copy)
    with pytest.raises(ExportedModelError, match="description"):
        OnnxEmbedder(copy)
    meta = json.loads(sidecar(exported).read_text())
    sidecar(copy).write_text(json.dumps(meta))
    OnnxEmbedder(copy)  # the same bytes: accepted
    with open(copy, "ab") as f:
        f.write(b"\0")
    with pytest.raises(ExportedModelError, match="does not match"):
        OnnxEmbedder(copy)
    with pytest.raises(ExportedModelError, match="no such"):
        OnnxEmbedder(tmp_path / "nothing.onnx")


def test_export_command(tmp_path, capsys):
    out = tmp_path / "default.onnx"
    assert main(["export", "--format", "onnx", "--out", str(out)]) == 0
    msg = capsys.readouterr().out
    assert sidecar(out).exists() and "largest difference" in msg
    diff = float(msg.rsplit("largest difference", 1)[1].strip())
    assert diff <= 1e-4
    assert json.loads(sidecar(out).read_text())["config"]["preprocessing"]["input_size"] == 128
