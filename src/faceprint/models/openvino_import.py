"""Read an OpenVINO IR (version 10) network and turn it into a faceprint model; OpenVINO itself is never imported.

An IR is two files. The XML lists `<layers>` (each with an id, a type, its `<data>` attributes and numbered input
and output ports with their dimensions) and `<edges>` (from-layer / from-port -> to-layer / to-port). The .bin holds
the constants: each `Const` layer names its element type, shape, offset and size in bytes there. The reader builds
the graph faceprint.models.openvino_net runs, checks every shape it can against the XML's own port dimensions,
folds each convolution's bias (the `Add` of a per-channel constant that follows it) into the convolution, and
refuses with one line anything it does not know: another IR version, a layer type outside `OPS`, a constant past
the end of the .bin, a dangling edge, a graph with several inputs or outputs.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import torch

from faceprint.data.transforms import Preprocessing
from faceprint.models.embedder import FaceEmbedder, ModelConfig
from faceprint.models.io import ModelFileError
from faceprint.models.openvino_net import OPS

DTYPES = {"f16": np.float16, "f32": np.float32}
# The five points of Intel's face-reidentification networks, in [0, 1] of the 128 px crop (the model's README).
REID_NAME = "face-reidentification-retail-0095"
REID_LICENCE = ("face-reidentification-retail-0095: Copyright Intel Corporation, from the Open Model Zoo "
                "(openvinotoolkit/open_model_zoo), Apache License 2.0 (LICENSE-face-reid-0095 beside the weights)")


class OpenVinoFormatError(ModelFileError):
    """A file that is not an OpenVINO IR faceprint can run."""


def _ints(value: str | None) -> list[int]:
    return [int(v) for v in value.split(",")] if value else []


def _port_dims(port: ET.Element) -> list[int]:
    return [int(d.text or 0) for d in port.findall("dim")]


def _attrs(op: str, data: dict[str, str]) -> dict[str, Any]:
    """The attributes an op needs, parsed; unknown values refused (a silently ignored one would run wrongly)."""
    if op in ("Convolution", "GroupConvolution"):
        if data.get("auto_pad", "explicit") not in ("explicit", "notset"):
            raise ValueError(f"auto_pad {data['auto_pad']!r}")
        if any(v != 0 for v in _ints(data.get("output_padding"))):
            raise ValueError("output_padding")
        return {k: _ints(data.get(k)) for k in ("strides", "pads_begin", "pads_end", "dilations")}
    if op in ("AvgPool", "MaxPool"):
        if data.get("auto_pad", "explicit") not in ("explicit", "notset"):
            raise ValueError(f"auto_pad {data['auto_pad']!r}")
        rounding = data.get("rounding_type", "floor")
        if rounding not in ("floor", "ceil"):
            raise ValueError(f"rounding_type {rounding!r}")
        pool = {"kernel": _ints(data["kernel"]), "strides": _ints(data["strides"]),
                "pads_begin": _ints(data.get("pads_begin")), "pads_end": _ints(data.get("pads_end")),
                "rounding_type": rounding}
        if op == "MaxPool":
            return pool
        return {**pool, "exclude_pad": data.get("exclude-pad", "false") == "true"}
    if op in ("Add", "Multiply"):
        if data.get("auto_broadcast", "numpy") != "numpy":
            raise ValueError(f"auto_broadcast {data['auto_broadcast']!r}")
    return {}


def read_openvino_ir(xml: str | Path, bin: str | Path | None = None) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(graph, constants by layer id) of an IR; OpenVinoFormatError on anything faceprint cannot run."""
    try:
        return _read(Path(xml), Path(bin) if bin is not None else Path(xml).with_suffix(".bin"))
    except (ValueError, KeyError, TypeError, IndexError) as e:  # a number or attribute where none can be
        raise OpenVinoFormatError(f"{xml}: malformed OpenVINO IR ({type(e).__name__}: {e})") from None


def _read(xml: Path, bin_path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    for p in (xml, bin_path):
        if not p.is_file():
            raise OpenVinoFormatError(f"{p}: no such file")
    try:
        root = ET.parse(xml).getroot()
    except ET.ParseError as e:
        raise OpenVinoFormatError(f"{xml}: not an OpenVINO IR (XML does not parse: {e})") from None
    if root.tag != "net" or root.find("layers") is None or root.find("edges") is None:
        raise OpenVinoFormatError(f"{xml}: not an OpenVINO IR (no <net> with <layers> and <edges>)")
    if root.get("version") != "10":
        raise OpenVinoFormatError(f"{xml}: OpenVINO IR version {root.get('version')}; faceprint reads version 10")
    blob = bin_path.read_bytes()

    layers: dict[str, ET.Element] = {}
    for layer in root.find("layers"):  # type: ignore[union-attr]
        ident, op = layer.get("id"), layer.get("type")
        if ident is None or not ident.isdigit() or op is None or ident in layers:
            raise OpenVinoFormatError(f"{xml}: a layer without an id or type, or a repeated id ({ident})")
        if op not in OPS:
            raise OpenVinoFormatError(f"{xml}: layer {layer.get('name')!r} (id {ident}) has type {op!r}, which "
                                      f"faceprint's OpenVINO reader does not know (it knows {', '.join(OPS)})")
        layers[ident] = layer

    # inputs of each layer, in port order; every layer here has one output port
    inputs: dict[str, dict[int, str]] = {i: {} for i in layers}
    for e in root.find("edges"):  # type: ignore[union-attr]
        src, dst = e.get("from-layer"), e.get("to-layer")
        if src not in layers or dst not in layers:
            raise OpenVinoFormatError(f"{xml}: an edge from layer {src} to layer {dst}, which is not in the graph")
        inputs[dst][int(e.get("to-port", "0"))] = src  # type: ignore[index]
    nodes: list[dict[str, Any]] = []
    consts: dict[str, np.ndarray] = {}
    shapes: dict[str, list[int]] = {}
    for ident in _topological(layers, inputs, xml):
        layer = layers[ident]
        op = layer.get("type")
        name = f"layer {layer.get('name')!r} (id {ident})"
        data = layer.find("data")
        d = dict(data.attrib) if data is not None else {}
        outs = layer.find("output")
        out_ports = outs.findall("port") if outs is not None else []
        if len(out_ports) > 1:
            raise OpenVinoFormatError(f"{xml}: {name} has {len(out_ports)} outputs; faceprint reads one per layer")
        declared = [int(p.get("id", "0")) for p in (layer.find("input") or [])]
        ins = [inputs[ident][k] for k in sorted(inputs[ident])]
        if sorted(inputs[ident]) != sorted(declared):
            raise OpenVinoFormatError(f"{xml}: {name} declares input ports {declared}, edges reach {sorted(inputs[ident])}")
        try:
            node: dict[str, Any] = {"id": ident, "op": op, "inputs": ins, "attrs": _attrs(op, d)}  # type: ignore[arg-type]
        except (KeyError, ValueError) as e:
            raise OpenVinoFormatError(f"{xml}: {name}: {op} with unsupported or missing attribute {e}") from None
        if op == "Const":
            dtype = DTYPES.get(d.get("element_type", ""))
            if dtype is None:
                raise OpenVinoFormatError(f"{xml}: {name}: constants of type {d.get('element_type')!r} are not read "
                                          f"(f16 and f32 are)")
            shape, offset, size = _ints(d.get("shape")), int(d.get("offset", -1)), int(d.get("size", -1))
            count = int(np.prod(shape)) if shape else 1
            if offset < 0 or size != count * np.dtype(dtype).itemsize or offset + size > len(blob):
                raise OpenVinoFormatError(f"{bin_path}: {name}: {size} bytes at offset {offset} for shape {shape} "
                                          f"do not fit the {len(blob)}-byte weights file")
            consts[ident] = np.frombuffer(blob, dtype, count, offset).reshape(shape or [1])
            node["shape"] = list(consts[ident].shape)
        elif op == "Parameter":
            node["shape"] = _ints(d.get("shape"))
        shapes[ident] = node["shape"] if "shape" in node else (_port_dims(out_ports[0]) if out_ports else [])
        nodes.append(node)
    params = [n for n in nodes if n["op"] == "Parameter"]
    results = [n for n in nodes if n["op"] == "Result"]
    if len(params) != 1 or len(results) != 1:
        raise OpenVinoFormatError(f"{xml}: {len(params)} inputs and {len(results)} outputs; faceprint reads networks "
                                  "of one image in and one embedding out")
    in_shape, out_shape = params[0]["shape"], shapes[results[0]["inputs"][0]]
    if len(in_shape) != 4 or in_shape[1] != 3 or in_shape[2] != in_shape[3]:
        raise OpenVinoFormatError(f"{xml}: input of shape {in_shape}; faceprint reads (N, 3, S, S) images")
    if len(out_shape) < 2 or int(np.prod(out_shape[1:])) != out_shape[1]:
        raise OpenVinoFormatError(f"{xml}: output of shape {out_shape}; faceprint reads one vector per image")
    graph = {"format": "openvino_ir_v10", "name": root.get("name", ""), "input_shape": in_shape[1:],
             "out_features": out_shape[1], "nodes": _fold_biases(nodes, consts)}
    return graph, consts


def _topological(layers: dict[str, ET.Element], inputs: dict[str, dict[int, str]], xml: Path) -> list[str]:
    """Layer ids, each after the layers it reads (Kahn's algorithm; ties by id, so the order is reproducible)."""
    import heapq

    waiting = {i: len(set(ins.values())) for i, ins in inputs.items()}
    readers: dict[str, set[str]] = {i: set() for i in layers}
    for dst, ins in inputs.items():
        for src in ins.values():
            readers[src].add(dst)
    ready = [(int(i), i) for i, n in waiting.items() if n == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        _, ident = heapq.heappop(ready)
        order.append(ident)
        for r in readers[ident]:
            waiting[r] -= 1
            if waiting[r] == 0:
                heapq.heappush(ready, (int(r), r))
    if len(order) != len(layers):
        raise OpenVinoFormatError(f"{xml}: the graph has a cycle (layers {sorted(set(layers) - set(order), key=int)[:5]})")
    return order


def _fold_biases(nodes: list[dict[str, Any]], consts: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """Convolution -> Add(per-channel constant) becomes one convolution with a bias, when nothing else reads the
    convolution's output: the same sums, one pass over the feature map fewer."""
    by_id = {n["id"]: n for n in nodes}
    readers: dict[str, list[str]] = {}
    for n in nodes:
        for s in n["inputs"]:
            readers.setdefault(s, []).append(n["id"])
    replaced: dict[str, str] = {}  # an Add's id -> the convolution that now stands for it
    dropped: set[str] = set()
    for n in nodes:
        if n["op"] != "Add":
            continue
        conv_id, bias_id = n["inputs"]
        if by_id[conv_id]["op"] == "Const":
            conv_id, bias_id = bias_id, conv_id
        conv, bias = by_id[conv_id], by_id[bias_id]
        if conv["op"] not in ("Convolution", "GroupConvolution") or len(conv["inputs"]) != 2:
            continue
        w = consts.get(conv["inputs"][1])
        if w is None or bias["op"] != "Const" or readers[conv_id] != [n["id"]] or readers[bias_id] != [n["id"]]:
            continue
        out_channels = w.shape[0] * (w.shape[1] if conv["op"] == "GroupConvolution" else 1)
        if consts[bias_id].shape != (1, out_channels, 1, 1):
            continue
        consts[bias_id] = consts[bias_id].reshape(out_channels)
        bias["shape"] = [out_channels]
        conv["inputs"] = [*conv["inputs"], bias_id]
        replaced[n["id"]] = conv_id
        dropped.add(n["id"])
    out = []
    for n in nodes:
        if n["id"] in dropped:
            continue
        n["inputs"] = [replaced.get(s, s) for s in n["inputs"]]
        out.append(n)
    # grouped weights (groups, out/groups, in/groups, kh, kw) stored as PyTorch's (out, in/groups, kh, kw), so the
    # network runs (and is exported) as plain grouped convolutions, in any memory format
    for n in out:
        if n["op"] == "GroupConvolution":
            w = consts[n["inputs"][1]]
            n["attrs"]["groups"] = int(w.shape[0])
            consts[n["inputs"][1]] = w.reshape(w.shape[0] * w.shape[1], *w.shape[2:])
            by_id[n["inputs"][1]]["shape"] = list(consts[n["inputs"][1]].shape)
    # constants first: a folded bias may come after its convolution in the original order
    return [n for n in out if n["op"] == "Const"] + [n for n in out if n["op"] != "Const"]


def convert_openvino(xml: str | Path, bin: str | Path | None = None, weights_dtype: str = "float32") -> FaceEmbedder:
    """A faceprint model holding the IR's network: its output put on the unit sphere, compared by squared L2.

    The preprocessing a network needs is not in its IR; for Intel's face-reidentification networks it is known
    (five points onto their template at 128 px, BGR, 0-255) and recorded; any other network is refused, since a
    model file without its true preprocessing would give wrong embeddings silently."""
    graph, consts = read_openvino_ir(xml, bin)
    size = graph["input_shape"][1]
    if not graph["name"].startswith("face-reidentification-retail") or size != 128:
        raise OpenVinoFormatError(f"{xml}: network {graph['name']!r} ({size} px input): faceprint knows the "
                                  "preprocessing of Intel's face-reidentification-retail networks (128 px) only")
    pre = Preprocessing(input_size=size, crop=1.0, pad=0.0, mean=0.0, std=1.0, alignment="five_point_reid",
                        align_size=size, channels="bgr")
    config = ModelConfig(backbone="openvino_ir", embedding_size=graph["out_features"], preprocessing=pre,
                         embedding_bn=False, projection=False, weights_dtype=weights_dtype, graph=graph,
                         info={"source": f"{graph['name']} (OpenVINO IR v10), converted by `faceprint import openvino`",
                               "licence": REID_LICENCE,
                               "reference": "https://docs.openvino.ai/2023.3/omz_models_model_face_reidentification_"
                                            "retail_0095.html"})
    model = FaceEmbedder(config)
    with torch.no_grad():
        for ident, value in consts.items():
            model.backbone.consts[f"c{ident}"].copy_(torch.from_numpy(value.astype(np.float32)))
    return model.eval()
