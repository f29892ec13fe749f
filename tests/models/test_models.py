"""Every registered backbone: forward, backward, unit-norm output; model files: round trip and refusals."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from faceprint.data import Preprocessing
from faceprint.models import (
    FaceEmbedder,
    ModelConfig,
    ModelFileError,
    backbone_spec,
    fingerprint,
    list_backbones,
    load_model,
    save_model,
)
from faceprint.models.modelfile import read_model_file


def _model(backbone: str, size: int | None = None, emb: int = 32) -> FaceEmbedder:
    size = size or backbone_spec(backbone).input_size
    torch.manual_seed(0)
    return FaceEmbedder(ModelConfig(backbone=backbone, embedding_size=emb, preprocessing=Preprocessing(input_size=size)))


@pytest.mark.parametrize("backbone", list_backbones(graph=False))  # graph backbones: tests/models/test_openvino_import.py
def test_forward_backward_unit_norm(backbone):
    m = _model(backbone)
    size = m.config.preprocessing.input_size
    x = torch.randn(2, 3, size, size).contiguous(memory_format=torch.channels_last)
    y = m(x)
    assert y.shape == (2, 32)
    assert torch.allclose(y.norm(dim=1), torch.ones(2), atol=1e-5)
    y[:, 0].sum().backward()
    assert all(p.grad is not None for p in m.parameters() if p.requires_grad)


@pytest.mark.parametrize("size", [64, 96, 112])
def test_compact_backbone_takes_other_sizes(size):
    assert _model("resnet10_quarter", size)(torch.randn(2, 3, size, size)).shape == (2, 32)


def test_round_trip_gives_identical_embeddings(tmp_path):
    m = _model("resnet10_quarter").eval()
    m.config.threshold = 1.1
    fp = save_model(m, tmp_path / "m.pt")
    m2 = load_model(tmp_path / "m.pt")
    assert m2.fingerprint == fp and m2.config.threshold == 1.1 and m2.config.preprocessing == m.config.preprocessing
    imgs = np.random.default_rng(0).integers(0, 255, (3, 80, 80, 3), dtype=np.uint8)
    np.testing.assert_array_equal(m.embed(list(imgs)), m2.embed(list(imgs)))
    # The threshold is not part of the fingerprint: a calibrated copy still matches galleries of the original.
    m2.config.threshold = 0.7
    assert save_model(m2, tmp_path / "m2.pt") == fp


def test_embed_flip_and_shapes():
    m = _model("resnet10_quarter").eval()
    imgs = np.random.default_rng(1).integers(0, 255, (5, 50, 70, 3), dtype=np.uint8)
    e = m.embed(list(imgs), batch_size=2, flip=True)
    assert e.shape == (5, 32) and np.allclose(np.linalg.norm(e, axis=1), 1, atol=1e-5)
    mirrored = m.embed([im[:, ::-1].copy() for im in imgs], flip=True)
    np.testing.assert_allclose(e, mirrored, atol=2e-2)  # flip TTA is (nearly) mirror invariant


def test_refuses_non_models(tmp_path):
    (tmp_path / "text.pt").write_text("hello")
    torch.save({"weights": torch.zeros(3)}, tmp_path / "other.pt")
    for name, msg in [("text.pt", "not a faceprint model"), ("other.pt", "not a faceprint model"),
                      ("missing.pt", "no such")]:
        with pytest.raises(ModelFileError, match=msg):
            load_model(tmp_path / name)


class _Exploit:
    """Unpickling this writes a file: proof that code ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('code ran on load')",))


def test_never_unpickles_code(tmp_path, capsys):
    marker = tmp_path / "pwned.txt"
    with open(tmp_path / "evil.pt", "wb") as f:
        pickle.dump({"format": "faceprint.model", "x": _Exploit(marker)}, f)
    torch.save({"format": "faceprint.model", "x": _Exploit(marker)}, tmp_path / "evil2.pt")
    for name in ("evil.pt", "evil2.pt"):
        with pytest.raises(ModelFileError):
            load_model(tmp_path / name)
    assert not marker.exists()
    pickle.loads(pickle.dumps(_Exploit(marker)))  # the exploit itself works: unpickled the unsafe way, it writes
    assert marker.exists()


def test_damaged_weights_are_detected(tmp_path):
    """Both runtimes refuse a file whose weights are not the ones its fingerprint was taken of, in either format."""
    from faceprint.models.modelfile import ModelFile, write_model_file
    from faceprint.models.onnx_model import OnnxModel

    m = _model("resnet10_quarter")
    fp = save_model(m, tmp_path / "m.pt", network=False)
    mf = read_model_file(tmp_path / "m.pt")
    weights = {k: v.copy() for k, v in mf.tensors.items()}
    weights["project.weight"][0, 0] += 1.0
    write_model_file(tmp_path / "bad.pt", ModelFile(mf.config, mf.fingerprint, weights))
    for load in (load_model, OnnxModel.from_file):
        with pytest.raises(ModelFileError, match="fingerprint"):
            load(tmp_path / "bad.pt")
    weights.pop("project.weight")
    write_model_file(tmp_path / "bad2.pt", ModelFile(mf.config, mf.fingerprint, weights))
    with pytest.raises(ModelFileError, match="damaged"):
        load_model(tmp_path / "bad2.pt")
    # format 1 (torch.save, before the core): PyTorch still reads it, and checks it the same way
    payload = {"format": "faceprint.model", "format_version": 1, "config": m.config.to_dict(),
               "state_dict": {k: v.clone() for k, v in m.state_dict().items()}, "fingerprint": fp}
    torch.save(payload, tmp_path / "old.pt")
    assert load_model(tmp_path / "old.pt").fingerprint == fp
    payload["state_dict"]["project.weight"][0, 0] += 1.0
    torch.save(payload, tmp_path / "bad3.pt")
    with pytest.raises(ModelFileError, match="fingerprint"):
        load_model(tmp_path / "bad3.pt")


def test_test_flip_is_bound_to_the_model_and_its_fingerprint(tmp_path):
    """test_flip "sum": embed() flips by default (an explicit flip still wins), the file keeps it, and it changes
    the fingerprint; "none" leaves the fingerprint of files made before the field existed as it was."""
    m = _model("resnet10_quarter").eval()
    fp = save_model(m, tmp_path / "plain.pt")
    d = read_model_file(tmp_path / "plain.pt").config
    d.pop("test_flip")  # a file written before the field existed
    assert fingerprint(read_model_file(tmp_path / "plain.pt").tensors, ModelConfig.from_dict(d)) == fp
    imgs = list(np.random.default_rng(2).integers(0, 255, (3, 80, 80, 3), dtype=np.uint8))
    m.config.test_flip = "sum"
    m.fingerprint = None
    np.testing.assert_array_equal(m.embed(imgs), m.embed(imgs, flip="sum"))
    assert not np.allclose(m.embed(imgs), m.embed(imgs, flip="none"), atol=1e-4)
    fp_flip = save_model(m, tmp_path / "flip.pt")
    loaded = load_model(tmp_path / "flip.pt")
    assert fp_flip != fp and loaded.fingerprint == fp_flip and loaded.config.test_flip == "sum"
    np.testing.assert_array_equal(loaded.embed(imgs), m.embed(imgs))
    with pytest.raises(ValueError, match="test_flip"):
        ModelConfig(backbone="resnet10_quarter", test_flip="concat")


def test_embedding_identity_names_the_flip_the_vectors_were_made_with(tmp_path):
    """Embeddings made with a flip other than the model's own carry the fingerprint of the network with that flip
    bound to it (the file `calibrate --test-flip` would write), never the model's own."""
    m = _model("resnet10_quarter").eval()
    fp = save_model(m, tmp_path / "plain.pt")
    assert m.embedding_identity(None) == m.embedding_identity("none") == (fp, m.config.to_dict())
    fp_sum, cfg_sum = m.embedding_identity("sum")
    m.config.test_flip = "sum"
    m.fingerprint = None
    assert fp_sum == save_model(m, tmp_path / "flip.pt") != fp and cfg_sum == m.config.to_dict()
    assert m.embedding_identity(True)[0] == fp_sum and m.embedding_identity("none")[0] == fp
    fp_cat, cfg_cat = m.embedding_identity("concat")
    assert fp_cat not in (fp, fp_sum) and len(fp_cat) == 16 and cfg_cat["embedding_size"] == 2 * m.config.embedding_size
    with pytest.raises(ValueError, match="flip must be"):
        m.embedding_identity("mirror")


def test_unknown_backbone_and_distance():
    with pytest.raises(ValueError, match="unknown backbone"):  # where a PyTorch network is built from the name
        FaceEmbedder(ModelConfig(backbone="vgg"))
    with pytest.raises(ValueError, match="unknown distance"):
        ModelConfig(distance="cosine")


def test_float16_storage_halves_the_file_and_keeps_the_fingerprint(tmp_path):
    """weights_dtype float16: the file holds half-precision weights; a loaded model runs in float32, and saving
    it again (as `faceprint calibrate` does) gives the same weights and fingerprint."""
    import os

    from faceprint.models import FaceEmbedder, ModelConfig, load_model, save_model

    torch.manual_seed(0)
    full = FaceEmbedder(ModelConfig(backbone="resnet10_quarter")).eval()
    half = FaceEmbedder(ModelConfig(backbone="resnet10_quarter", weights_dtype="float16")).eval()
    half.load_state_dict(full.state_dict())
    save_model(full, tmp_path / "full.pt")
    fp = save_model(half, tmp_path / "half.pt")
    assert os.path.getsize(tmp_path / "half.pt") < 0.6 * os.path.getsize(tmp_path / "full.pt")
    loaded = load_model(tmp_path / "half.pt")
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    loaded.config.threshold = 1.0
    assert save_model(loaded, tmp_path / "again.pt") == fp
    x = torch.randn(4, 3, 96, 96)
    with torch.no_grad():
        assert (loaded(x) - full(x)).abs().max() < 1e-2
