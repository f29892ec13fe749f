"""The core: the shipped models and MTCNN in onnxruntime give PyTorch's answers (embeddings within 1e-5 per component
on real faces, boxes and points within 1e-3 px), with the fingerprints galleries and files already record; model
files round-trip and both runtimes read what either writes; nothing the core runs imports torch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from faceprint.api import DEFAULT_MODEL, NAMED_MODELS  # noqa: E402
from faceprint.data.images import read_image  # noqa: E402
from faceprint.demo import PHOTOS  # noqa: E402
from faceprint.detection.pipeline import FaceAligner  # noqa: E402
from faceprint.models.io import load_model, save_model  # noqa: E402
from faceprint.models.modelfile import ModelFile, read_model_file, write_model_file  # noqa: E402
from faceprint.models.onnx_model import OnnxModel  # noqa: E402

LFW = Path(__file__).resolve().parents[3] / "shared" / "data" / "lfw" / "lfw-deepfunneled"
# what galleries, embedding files and exports made before the core recorded for the shipped models
FINGERPRINTS = {"default": ("48f31366221dc2b5", "b6df298e600ab305"), "dlib": ("22195353176d97bf", "7be67ed2a92adbff")}


def _photos() -> list[Path]:
    shipped = sorted(PHOTOS.rglob("*.jpg"))
    return shipped + (sorted(LFW.rglob("*.jpg"))[::97][:100] if LFW.is_dir() else [])


@pytest.mark.parametrize("name", ["default", "dlib"])
def test_the_shipped_models_give_pytorchs_embeddings_and_fingerprints(name):
    path = DEFAULT_MODEL if name == "default" else NAMED_MODELS[name]
    core, net = OnnxModel.from_file(path), load_model(path)
    assert (core.fingerprint, core.embedding_identity("sum")[0]) == FINGERPRINTS[name]
    assert (net.fingerprint, net.embedding_identity("sum")[0]) == FINGERPRINTS[name]
    assert core.config.to_dict() == net.config.to_dict()  # the same thresholds, preprocessing, distance
    aligner = FaceAligner(core.preprocessing, select="best")
    faces = [f.image for _, fs in aligner.align_many(_photos(), workers=1) if isinstance(fs, list) for f in fs]
    assert len(faces) >= 22
    for batch in (1, 64):
        a, b = core.embed(faces, batch_size=batch), net.embed(faces, batch_size=batch)
        assert np.abs(a - b).max() < 1e-5, np.abs(a - b).max()
    assert np.abs(core.embed(faces[:8], flip="sum") - net.embed(faces[:8], flip="sum")).max() < 1e-5


def test_mtcnn_in_onnxruntime_finds_what_pytorchs_found():
    from faceprint.detection.mtcnn import MTCNN
    from tests.detection.reference_mtcnn import MTCNN as TorchMTCNN

    core, ref = MTCNN(), TorchMTCNN()
    images = [read_image(p) for p in _photos()]
    big = np.concatenate([np.concatenate(images[i * 4:(i + 1) * 4], 1) for i in range(3)], 0)  # 12 faces at once
    worst_px, worst_score, faces = 0.0, 0.0, 0
    for found, expected in zip(core.detect(images + [big]), ref.detect(images + [big])):
        assert len(found) == len(expected)
        for a, b in zip(found, expected):
            worst_px = max(worst_px, float(np.abs(a.box - b.box).max()), float(np.abs(a.landmarks - b.landmarks).max()))
            worst_score = max(worst_score, abs(a.score - b.score))
            faces += 1
    assert faces >= 34 and worst_px < 1e-3 and worst_score < 1e-4, (worst_px, worst_score)


def test_model_files_round_trip_and_both_runtimes_read_what_either_writes(tmp_path):
    from faceprint.models import FaceEmbedder, ModelConfig

    torch.manual_seed(0)
    net = FaceEmbedder(ModelConfig(backbone="resnet10_quarter", weights_dtype="float16")).eval()
    fp = save_model(net, tmp_path / "m.pt")
    mf = read_model_file(tmp_path / "m.pt")
    assert mf.fingerprint == fp and all(v.dtype == np.float16 for k, v in mf.tensors.items() if "weight" in k)
    import onnx

    graph = onnx.load_from_string(mf.network).graph  # the graph without the weights it reads: they are stored once
    assert max((int(np.prod(i.dims)) for i in graph.initializer), default=0) < 64
    assert set(mf.network_weights) >= {k for k in mf.tensors if "num_batches" not in k} - {"bn.num_batches_tracked"}
    core = OnnxModel.from_file(tmp_path / "m.pt")
    x = np.random.default_rng(0).integers(0, 255, (5, 112, 112, 3), np.uint8)
    back = load_model(tmp_path / "m.pt")
    assert np.abs(core.embed(x) - back.embed(x)).max() < 1e-5  # the graph runs the weights as stored
    core.config.threshold = 0.9  # what calibrate does in the core: a copy with new thresholds
    assert core.save(tmp_path / "c.pt") == fp
    assert load_model(tmp_path / "c.pt").config.threshold == 0.9
    write_model_file(tmp_path / "n.pt", ModelFile(mf.config, mf.fingerprint, mf.tensors))  # no graph
    with pytest.raises(ValueError, match="no network graph"):
        OnnxModel.from_file(tmp_path / "n.pt")


def test_nothing_the_core_runs_imports_torch(tmp_path):
    code = f"""
import sys
class NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "torch":
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
sys.meta_path.insert(0, NoTorch())
import faceprint
from faceprint.pipeline import Pipeline
model = faceprint.load()
photos = sorted(__import__("pathlib").Path({str(PHOTOS)!r}).glob("Laura_Bush/*.jpg"))
assert faceprint.verify(model, photos[0], photos[1], select="central").same  # LFW photos: the subject is centred
faceprint.cluster(model, {str(PHOTOS)!r})
g = faceprint.open_gallery({str(tmp_path / 'g.db')!r}, model)
faceprint.load("dlib").embed([__import__("numpy").zeros((150, 150, 3), "uint8")])
from faceprint.cli import build_parser
build_parser()
assert "torch" not in sys.modules
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-3000:]
