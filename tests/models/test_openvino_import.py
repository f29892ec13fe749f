"""`faceprint import openvino`: faceprint's own reader of an OpenVINO IR against the openvino runtime on real faces,
broken layers that the parity check must catch, and files it must refuse without writing anything."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from faceprint.models import load_model, save_model
from faceprint.models.openvino_import import OpenVinoFormatError, convert_openvino, read_openvino_ir

REID = Path(__file__).resolve().parents[2].parent / "shared" / "models" / "face-reid-0095"
XML = REID / "face-reidentification-retail-0095.xml"
TOLERANCE = 1e-3  # per component of the unit embeddings (issue 29)


@pytest.fixture(scope="module")
def ir() -> Path:
    if not XML.exists():
        pytest.skip("../shared/models/face-reid-0095 is not here")
    return XML


@pytest.fixture(scope="module")
def model(ir):
    return convert_openvino(ir)


@pytest.fixture(scope="module")
def faces(model, photos_dir):
    """The shipped photos' faces, detected and aligned onto the network's own template, as its input tensor."""
    from faceprint.detection.pipeline import FaceAligner

    paths = sorted(photos_dir.rglob("*.jpg"))
    aligner = FaceAligner(model.preprocessing, select="best")
    crops = [f.image for _, fs in aligner.align_many(paths, workers=1) if isinstance(fs, list) for f in fs]
    assert len(crops) == len(paths)
    return model.preprocess(crops)


@pytest.fixture(scope="module")
def photos_dir():
    from faceprint.demo import PHOTOS

    return PHOTOS


def openvino_embeddings(xml: Path, x: np.ndarray) -> np.ndarray:
    """The openvino runtime on the same tensors, in float32 (its default on CPUs with bf16 is bf16), unit length."""
    ov = pytest.importorskip("openvino")
    core = ov.Core()
    compiled = core.compile_model(core.read_model(str(xml)), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    out = np.concatenate([compiled(x[i : i + 1])[compiled.output(0)].reshape(1, -1) for i in range(len(x))])
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def largest_difference(model, xml: Path, x: np.ndarray) -> float:
    with torch.no_grad():
        ours = model(torch.from_numpy(x)).numpy()
    return float(np.abs(ours - openvino_embeddings(xml, x)).max())


def test_parity_with_the_openvino_runtime_on_real_faces(model, ir, faces):
    assert faces.shape == (22, 3, 128, 128)
    assert largest_difference(model, ir, faces) < TOLERANCE
    with torch.enable_grad():  # the unfused path (training, export) is the same network
        ours = model(torch.from_numpy(faces)).detach().numpy()
    assert float(np.abs(ours - openvino_embeddings(ir, faces)).max()) < TOLERANCE


def _break(model, how: str):
    """A copy of the network with one layer read wrongly, the ways a reader gets an IR wrong."""
    broken = copy.deepcopy(model)
    net = broken.backbone
    nodes = broken.config.graph["nodes"]
    by_id = {n["id"]: n for n in nodes}
    with torch.no_grad():
        if how == "depthwise kernel transposed":  # kh and kw swapped in one 3x3 GroupConvolution
            conv = next(n for n in nodes if n["op"] == "GroupConvolution")
            w = net.consts[f"c{conv['inputs'][1]}"]
            w.copy_(w.transpose(2, 3).clone())
        elif how == "a bias left out":
            conv = [n for n in nodes if n["op"] == "Convolution" and len(n["inputs"]) == 3][5]
            net.consts[f"c{conv['inputs'][2]}"].zero_()
        elif how == "PReLU slope of the next layer":
            prelus = [n for n in nodes if n["op"] == "PReLU"]
            a, b = (net.consts[f"c{p['inputs'][1]}"] for p in prelus[3:5])
            a.copy_(b.clone())
        elif how == "padding on one side only":
            conv = next(n for n in nodes if n["op"] == "GroupConvolution" and n["attrs"]["pads_begin"] == [1, 1])
            conv["attrs"]["pads_end"] = [0, 0]
            conv["attrs"]["pads_begin"] = [2, 2]
        elif how == "channel order of the input":
            first = by_id[nodes[[n["op"] for n in nodes].index("Multiply")]["inputs"][1]]
            c = net.consts[f"c{first['id']}"]
            c.copy_(c.flip(1).clone())
    return broken


@pytest.mark.parametrize("how", ["depthwise kernel transposed", "a bias left out", "PReLU slope of the next layer",
                                 "padding on one side only", "channel order of the input"])
def test_parity_check_catches_a_layer_read_wrongly(model, ir, faces, how):
    assert largest_difference(_break(model, how), ir, faces) > TOLERANCE


def test_model_file_round_trip_and_preprocessing(model, tmp_path, faces):
    fp = save_model(model, tmp_path / "reid.pt")
    again = load_model(tmp_path / "reid.pt")
    assert again.fingerprint == fp and again.config.graph == model.config.graph
    pre = again.preprocessing
    assert (pre.input_size, pre.channels, pre.alignment, pre.mean, pre.std) == (128, "bgr", "five_point_reid", 0, 1)
    with torch.no_grad():
        np.testing.assert_array_equal(again(torch.from_numpy(faces)).numpy(), model(torch.from_numpy(faces)).numpy())
    # float16 storage rounds the float32 PReLU slopes: measured, and why float32 is the default
    model16 = convert_openvino(XML, weights_dtype="float16")
    save_model(model16, tmp_path / "reid16.pt")
    half = load_model(tmp_path / "reid16.pt")
    with torch.no_grad():
        d = float((half(torch.from_numpy(faces)) - model(torch.from_numpy(faces))).abs().max())
    assert 0 < d < 2e-3
    assert (tmp_path / "reid16.pt").stat().st_size < 0.6 * (tmp_path / "reid.pt").stat().st_size


def test_bgr_is_applied_last_in_both_input_paths(model):
    """model.preprocess (what the ONNX file takes) and the tensor path agree, and both swap R and B."""
    rgb = np.random.default_rng(0).integers(0, 256, (2, 128, 128, 3), dtype=np.uint8)
    x = model.preprocess(list(rgb))
    np.testing.assert_array_equal(x[:, 0], rgb[..., 2].astype(np.float32))
    t = model.preprocessing.to_tensor(rgb).contiguous().numpy()
    np.testing.assert_array_equal(t, x)


def test_graph_backbone_trains(model):
    m = copy.deepcopy(model).train()
    x = torch.rand(2, 3, 128, 128) * 255
    y = m(x)
    assert torch.allclose(y.norm(dim=1), torch.ones(2), atol=1e-5)
    y[:, 0].sum().backward()
    assert all(p.grad is not None for p in m.parameters())


def _run_import(*args: str, capsys=None) -> subprocess.CompletedProcess:  # type: ignore[no-untyped-def]
    """The command in a fresh interpreter, or in this one (capsys given: as fast as a function call)."""
    if capsys is None:
        return subprocess.run([sys.executable, "-m", "faceprint", "import", "openvino", *args], capture_output=True,
                              text=True, timeout=120)
    from faceprint.cli import main

    rc = main(["import", "openvino", *args])
    out = capsys.readouterr()
    return subprocess.CompletedProcess([], rc, out.out, out.err)


def _bad_copy(tmp_path: Path, edit) -> Path:  # type: ignore[no-untyped-def]
    xml = tmp_path / "net.xml"
    xml.write_text(edit(XML.read_text()))
    (tmp_path / "net.bin").write_bytes(XML.with_suffix(".bin").read_bytes())
    return xml


@pytest.mark.parametrize("edit, says", [
    (lambda t: t.replace('type="Sigmoid"', 'type="HSigmoid"', 1), "'HSigmoid', which faceprint's OpenVINO reader"),
    (lambda t: t.replace('version="10"', 'version="11"', 1), "IR version 11"),
    (lambda t: t[: len(t) // 2], "XML does not parse"),
    (lambda t: t.replace('offset="1951580"', 'offset="9951580"'), "do not fit the 2213724-byte weights file"),
    (lambda t: t.replace('to-layer="476"', 'to-layer="999"'), "not in the graph"),
    (lambda t: t.replace('strides="2,2"', 'strides="two"', 1), "malformed OpenVINO IR"),
])
def test_import_refuses_with_one_line_and_writes_nothing(ir, tmp_path, edit, says, capsys):
    out = tmp_path / "out.pt"
    r = _run_import("--xml", str(_bad_copy(tmp_path, edit)), "--out", str(out), capsys=capsys)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0] and "Traceback" not in r.stderr, r.stderr
    assert not out.exists()


def test_truncated_weights_and_missing_files(ir, tmp_path):
    xml = _bad_copy(tmp_path, lambda t: t)
    (tmp_path / "net.bin").write_bytes(XML.with_suffix(".bin").read_bytes()[:1000])
    with pytest.raises(OpenVinoFormatError, match="do not fit the 1000-byte weights file"):
        read_openvino_ir(xml)
    with pytest.raises(OpenVinoFormatError, match="no such file"):
        read_openvino_ir(tmp_path / "absent.xml")


def test_import_command_writes_a_model(ir, tmp_path):
    out = tmp_path / "reid.pt"
    r = _run_import("--xml", str(ir), "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert "1.11 M parameters" in r.stdout and "BGR" in r.stdout and out.exists()
    assert load_model(out).config.embedding_size == 256


LANDMARKS_XML = REID.parent / "landmarks-0009" / "landmarks-regression-retail-0009.xml"


@pytest.mark.parametrize("rounding", ["floor", "ceil"])
def test_max_pool_against_loops(rounding):
    """MaxPool as OpenVINO's opset1 defines it: the largest value of each window; "ceil" keeps a last, partial window."""
    from faceprint.models.openvino_net import OpenVinoNet

    graph = {"input_shape": [2, 8, 8], "out_features": 2 * (4 if rounding == "ceil" else 3) ** 2, "nodes": [
        {"id": "0", "op": "Parameter", "shape": [1, 2, 8, 8]},
        {"id": "1", "op": "MaxPool", "inputs": ["0"], "attrs": {"kernel": [3, 3], "strides": [2, 2], "pads_begin": [0, 0],
                                                                 "pads_end": [0, 0], "rounding_type": rounding}},
        {"id": "2", "op": "Result", "inputs": ["1"]}]}
    x = np.random.default_rng(0).normal(size=(3, 2, 8, 8)).astype(np.float32)
    with torch.no_grad():
        got = OpenVinoNet(graph)(torch.from_numpy(x)).numpy()
    n = 4 if rounding == "ceil" else 3
    ref = np.array([[[[x[b, c, 2 * i : 2 * i + 3, 2 * j : 2 * j + 3].max() for j in range(n)] for i in range(n)]
                     for c in range(2)] for b in range(3)]).reshape(3, -1)
    np.testing.assert_array_equal(got, ref)


def test_landmark_network_read_and_shipped_as_the_openvino_runtime_runs_it():
    """Intel's landmarks-regression-retail-0009 (MaxPool, Sigmoid): faceprint's reader and the shipped ONNX file
    (experiments/landmarks_onnx.py) against the openvino runtime on real face crops, as YuNet's refiner cuts them."""
    if not LANDMARKS_XML.exists():
        pytest.skip("../shared/models/landmarks-0009 is not here")
    ov = pytest.importorskip("openvino")
    from faceprint.data import read_image
    from faceprint.demo import PHOTOS
    from faceprint.detection.landmarks import WEIGHTS, INTEL, crops, enlarge
    from faceprint.detection.yunet import YuNet
    from faceprint.models.openvino_net import OpenVinoNet
    from faceprint.utils.onnx import cpu_session

    images = [read_image(p) for p in sorted(PHOTOS.rglob("*.jpg"))]
    boxes = [enlarge(np.stack([f.box for f in faces]), 1.15) for faces in YuNet(landmarks="own").detect(images)]
    x = crops(images, boxes)
    x = np.ascontiguousarray((x[..., ::-1] * 128 + 127.5).transpose(0, 3, 1, 2))  # BGR, 0-255: the network's input
    graph, consts = read_openvino_ir(LANDMARKS_XML)
    net = OpenVinoNet(graph).eval()
    with torch.no_grad():
        for ident, value in consts.items():
            net.consts[f"c{ident}"].copy_(torch.from_numpy(value.astype(np.float32)))
        ours = net(torch.from_numpy(x)).numpy()
    core = ov.Core()
    compiled = core.compile_model(core.read_model(str(LANDMARKS_XML)), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    ref = np.concatenate([compiled(x[i : i + 1])[compiled.output(0)].reshape(1, -1) for i in range(len(x))])
    shipped = cpu_session(WEIGHTS / INTEL).run(None, {"images": x})[0]
    assert len(x) >= 22 and np.abs(ours - ref).max() < 1e-5 and np.abs(shipped - ref).max() < 1e-5
    assert 0.2 < ref[:, 0].mean() < 0.45 and 0.55 < ref[:, 2].mean() < 0.8  # left eye left of the right eye


def test_import_names_what_it_knows_for_a_landmark_network(tmp_path, capsys):
    if not LANDMARKS_XML.exists():
        pytest.skip("../shared/models/landmarks-0009 is not here")
    r = _run_import("--xml", str(LANDMARKS_XML), "--out", str(tmp_path / "x.pt"), capsys=capsys)
    assert r.returncode == 2 and "face-reidentification-retail" in r.stderr and not (tmp_path / "x.pt").exists()
