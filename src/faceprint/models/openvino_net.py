"""A network read from an OpenVINO IR graph, run by PyTorch: the `openvino_ir` backbone.

The graph (which layer takes which, with what attributes) is small and travels in the model file's config
(`ModelConfig.graph`, written by `faceprint import openvino`, faceprint.models.openvino_import); the constants are
the module's parameters, so a model file holds a graph network like any other. Only the layer types below are
known; the reader refuses any other with one line, so a network that would run wrongly is never written.

The op semantics are OpenVINO's opset1 (docs.openvino.ai, "Operation Specifications"): numpy broadcasting for Add
and Multiply; PReLU's slope per channel (axis 1) or one for all; Convolution pads `pads_begin` before and
`pads_end` after each spatial axis; GroupConvolution's weights, (groups, out/groups, in/groups, kh, kw) in the IR,
are stored as PyTorch's (out, in/groups, kh, kw) with a `groups` attribute; AvgPool
with `exclude-pad` averages over the window's pixels inside the input and rounds its output size down ("floor")
or up ("ceil"); MaxPool takes the largest value of each window, padding never counting (as -inf), with the same
rounding.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from faceprint.errors import InputError
from faceprint.models.registry import register_backbone

# The layer types faceprint runs; "Convolution" and "GroupConvolution" may carry a third input, a bias the reader
# folded in from the Add that followed them.
OPS = ("Parameter", "Const", "Convolution", "GroupConvolution", "Add", "Multiply", "PReLU", "AvgPool", "MaxPool",
       "Sigmoid", "Result")


def _pads(attrs: dict[str, Any]) -> tuple[list[int], list[int]]:
    return list(attrs.get("pads_begin", [0, 0])), list(attrs.get("pads_end", [0, 0]))


def _conv(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None, attrs: dict[str, Any], groups: int
          ) -> torch.Tensor:
    begin, end = _pads(attrs)
    if begin == end:
        padding: Any = tuple(begin)
    else:  # asymmetric: pad first (left, right, top, bottom in F.pad's order), then convolve without padding
        x = F.pad(x, (begin[1], end[1], begin[0], end[0]))
        padding = 0
    return F.conv2d(x, w, b, tuple(attrs.get("strides", [1, 1])), padding, tuple(attrs.get("dilations", [1, 1])),
                    groups)


def _avg_pool(x: torch.Tensor, attrs: dict[str, Any]) -> torch.Tensor:
    begin, end = _pads(attrs)
    kernel, strides = tuple(attrs["kernel"]), tuple(attrs.get("strides", attrs["kernel"]))
    exclude = bool(attrs.get("exclude_pad", False))
    ceil = attrs.get("rounding_type", "floor") == "ceil"
    if begin == end and all(2 * p <= k for p, k in zip(begin, kernel)):
        return F.avg_pool2d(x, kernel, strides, tuple(begin), ceil, count_include_pad=not exclude)
    raise InputError(f"AvgPool with pads {begin} / {end} and kernel {list(kernel)} is not supported")


def _max_pool(x: torch.Tensor, attrs: dict[str, Any]) -> torch.Tensor:
    begin, end = _pads(attrs)
    kernel, strides = tuple(attrs["kernel"]), tuple(attrs.get("strides", attrs["kernel"]))
    ceil = attrs.get("rounding_type", "floor") == "ceil"
    if begin == end and all(2 * p <= k for p, k in zip(begin, kernel)):
        return F.max_pool2d(x, kernel, strides, tuple(begin), ceil_mode=ceil)
    raise InputError(f"MaxPool with pads {begin} / {end} and kernel {list(kernel)} is not supported")


class OpenVinoNet(nn.Module):
    """Runs the graph in topological order; constants are parameters named `c<layer id>`."""

    def __init__(self, graph: dict[str, Any]) -> None:
        super().__init__()
        nodes = graph["nodes"]
        unknown = sorted({n["op"] for n in nodes} - set(OPS))
        if unknown:
            raise InputError(f"graph holds layer types faceprint cannot run: {unknown}")
        self.consts = nn.ParameterDict({
            f"c{n['id']}": nn.Parameter(torch.zeros(n["shape"]), requires_grad=True)
            for n in nodes if n["op"] == "Const"})
        self.input_shape = tuple(graph["input_shape"])  # (C, H, W)
        self.out_features = int(graph["out_features"])
        # The plan: (op, index of each input value, attributes); value i is what plan step i computes.
        pos = {n["id"]: i for i, n in enumerate(nodes)}
        self._plan = [(n["op"], [pos[s] for s in n.get("inputs", [])], n.get("attrs", {}), n["id"]) for n in nodes]
        if any(j >= i for i, (_, inputs, _, _) in enumerate(self._plan) for j in inputs):
            raise InputError("graph nodes are not in topological order (each after the nodes it reads)")
        self._free = self._last_uses()
        self._fused = self._fusable()
        self._constant_slopes: dict[int, float] = {}  # set while tracing for export (constant_slopes)

    def _last_uses(self) -> list[list[int]]:
        """For each step, the values no later step reads (freed there: the graph's peak memory, not its sum)."""
        last: dict[int, int] = {}
        for i, (_, inputs, _, _) in enumerate(self._plan):
            for j in inputs:
                last[j] = i
        free: list[list[int]] = [[] for _ in self._plan]
        for j, i in last.items():
            if self._plan[j][0] != "Const":
                free[i].append(j)
        return free

    @contextmanager
    def constant_slopes(self) -> Iterator[None]:
        """One-slope PReLUs traced as LeakyReLU with the slope as a constant (the same function): onnxruntime fuses
        LeakyRelu into the convolution before it, not PRelu (measured: 2.3x the exported network's speed here)."""
        self._constant_slopes = {i: float(self.consts[f"c{self._plan[inputs[1]][3]}"].detach())
                                 for i, (op, inputs, _, _) in enumerate(self._plan)
                                 if op == "PReLU" and self.consts[f"c{self._plan[inputs[1]][3]}"].numel() == 1}
        try:
            yield
        finally:
            self._constant_slopes = {}

    def _fusable(self) -> dict[int, int]:
        """Convolutions whose only reader is a one-slope PReLU: {convolution step: slope step}. oneDNN runs such a
        pair as one pass (the activation applied as the convolution writes its output), which saves a read and a
        write of the feature map: ~1.5x the network's speed on a CPU here, the same numbers."""
        readers: dict[int, list[int]] = {}
        for i, (_, inputs, _, _) in enumerate(self._plan):
            for j in inputs:
                readers.setdefault(j, []).append(i)
        fused = {}
        for i, (op, _, _, _) in enumerate(self._plan):
            r = readers.get(i, [])
            if op in ("Convolution", "GroupConvolution") and len(r) == 1 and self._plan[r[0]][0] == "PReLU":
                slope = self._plan[r[0]][1][1]
                if self._plan[slope][0] == "Const" and self.consts[f"c{self._plan[slope][3]}"].numel() == 1:
                    fused[i] = slope
        return fused

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[1:]) != self.input_shape:
            raise InputError(f"this network takes (N, {', '.join(map(str, self.input_shape))}) input, got "
                             f"{tuple(x.shape)}")
        # the fused kernels: oneDNN on the CPU, for inference in float32 (not for autograd, export or autocast)
        fuse = (x.device.type == "cpu" and x.dtype == torch.float32 and torch.backends.mkldnn.is_available()
                and not torch.is_grad_enabled() and not torch.compiler.is_compiling()
                and not torch.is_autocast_enabled("cpu"))
        if fuse:
            x = x.contiguous(memory_format=torch.channels_last)
        values: list[torch.Tensor | None] = [None] * len(self._plan)
        out: torch.Tensor | None = None
        for i, (op, inputs, attrs, ident) in enumerate(self._plan):
            a = [values[j] for j in inputs]
            if fuse and i in self._fused:
                begin, end = _pads(attrs)
                v = a[0] if begin == end else F.pad(a[0], (begin[1], end[1], begin[0], end[0]))
                v = torch.ops.mkldnn._convolution_pointwise(
                    v, a[1], a[2] if len(a) > 2 else None, begin if begin == end else [0, 0],
                    attrs.get("strides", [1, 1]), attrs.get("dilations", [1, 1]), attrs.get("groups", 1),
                    "leaky_relu", [float(values[self._fused[i]].detach())], "")  # type: ignore[arg-type]
            elif fuse and op == "PReLU" and inputs[0] in self._fused:
                v = a[0]  # applied by the convolution
            elif op == "Parameter":
                v = x
            elif op == "Const":
                v = self.consts[f"c{ident}"]
            elif op == "Convolution":
                v = _conv(a[0], a[1], a[2] if len(a) > 2 else None, attrs, 1)
            elif op == "GroupConvolution":  # weights as the reader stores them: (out, in / groups, kh, kw)
                v = _conv(a[0], a[1], a[2] if len(a) > 2 else None, attrs, attrs["groups"])
            elif op == "Add":
                v = a[0] + a[1]
            elif op == "Multiply":
                v = a[0] * a[1]
            elif op == "PReLU":
                slope = a[1]
                # one slope for all channels, at inference: leaky_relu is the same function (any slope, negative
                # too) and runs faster than prelu's kernel here; training and export keep PReLU (a learnt slope)
                if i in self._constant_slopes:
                    v = F.leaky_relu(a[0], self._constant_slopes[i])
                elif slope.numel() == 1 and not torch.is_grad_enabled() and not torch.compiler.is_compiling():
                    v = F.leaky_relu(a[0], float(slope.detach()))
                else:
                    v = F.prelu(a[0], slope.reshape(-1))
            elif op == "AvgPool":
                v = _avg_pool(a[0], attrs)
            elif op == "MaxPool":
                v = _max_pool(a[0], attrs)
            elif op == "Sigmoid":
                v = torch.sigmoid(a[0])
            else:  # Result
                out = a[0]
                v = a[0]
            values[i] = v
            for j in self._free[i]:
                values[j] = None
        assert out is not None
        return out.flatten(1)


@register_backbone("openvino_ir", 128, "a network read from an OpenVINO IR graph by `faceprint import openvino` "
                                       "(the graph travels in the model file)", graph=True)
def openvino_ir(input_size: int, graph: dict[str, Any] | None = None) -> OpenVinoNet:
    if graph is None:
        raise InputError("the openvino_ir backbone is built from a graph: import one with `faceprint import openvino`")
    if graph["input_shape"][1:] != [input_size, input_size]:
        raise InputError(f"the graph takes {graph['input_shape']} input, not {input_size} px")
    return OpenVinoNet(graph)
