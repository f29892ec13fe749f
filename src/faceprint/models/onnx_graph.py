"""The embedding network as an ONNX graph (PyTorch's exporter): what `faceprint export` writes whole, and what a model
file carries without its weights (faceprint.models.modelfile), so that the core runs it in onnxruntime."""

from __future__ import annotations

import contextlib
import logging
import warnings

import numpy as np
import torch

from faceprint.models.embedder import FaceEmbedder

INPUT, OUTPUT = "faces", "embeddings"
OPSET = 18


def onnx_model(model: FaceEmbedder, opset: int = OPSET):  # type: ignore[no-untyped-def]
    """The network (eval mode, dynamic batch) as an onnx ModelProto: (N, 3, H, W) float32 -> (N, D) unit vectors.
    Needs the `onnx` and `onnxscript` packages (faceprint[train])."""
    was_training = model.training
    model = model.eval()
    size = model.preprocessing.input_size
    example = torch.zeros(2, 3, size, size)
    batch = torch.export.Dim("batch", min=1, max=65536)
    for name in ("torch.onnx", "onnxscript", "onnx_ir"):
        logging.getLogger(name).setLevel(logging.ERROR)
    # a network may trace better than it runs eagerly (OpenVinoNet: one-slope PReLU as LeakyRelu, which onnxruntime
    # fuses into the convolution before it)
    constants = getattr(model.backbone, "constant_slopes", contextlib.nullcontext)
    try:
        with warnings.catch_warnings(), torch.no_grad(), constants():
            warnings.simplefilter("ignore")
            # optimize=False: no folding of batch norms into convolutions, so the graph's initializers are the
            # stored weights themselves (a model file then holds them once); onnxruntime fuses them when it loads
            program = torch.onnx.export(model, (example,), None, input_names=[INPUT], output_names=[OUTPUT],
                                        dynamic_shapes={"x": {0: batch}}, opset_version=opset, dynamo=True,
                                        optimize=False, verbose=False)
    except ImportError as e:
        raise ImportError(f"exporting to ONNX needs the onnx and onnxscript packages: pip install "
                          f"'faceprint[train]' ({e})") from None
    finally:
        model.train(was_training)
        # the exporter's tracing state, dropped: left behind, a process that saved a model and then ended (a
        # torch.distributed rank) aborted at exit now and then ("terminate called without an active exception":
        # 1 run in 4 of tests/training/test_ddp.py's online-teacher test; 0 in 13 with this)
        torch._dynamo.reset()
    return program.model_proto


def weightless_graph(proto, tensors: dict[str, np.ndarray]) -> tuple[bytes, dict[str, list[str]]]:  # type: ignore[no-untyped-def]
    """The graph without the initializers that equal a stored weight (after widening float16 to the initializer's
    type), and which weight fills each: {initializer: [weight name, dtype]}. Checked value for value, so a graph
    whose exporter changed a weight (folded, transposed) keeps that initializer inside instead."""
    from onnx import numpy_helper

    by_value: dict[tuple, str] = {}
    for name, a in tensors.items():
        by_value.setdefault((a.shape, a.dtype.kind, a.astype(np.float64 if a.dtype.kind == "f" else a.dtype).tobytes()),
                            name)
    keep, weights = [], {}
    for init in proto.graph.initializer:
        a = numpy_helper.to_array(init)
        name = init.name if init.name in tensors else None
        if name is None or tensors[name].shape != a.shape:
            key = (a.shape, a.dtype.kind, a.astype(np.float64 if a.dtype.kind == "f" else a.dtype).tobytes())
            name = by_value.get(key)
        if name is not None and tensors[name].shape == a.shape and \
                np.array_equal(tensors[name].astype(a.dtype), a):
            weights[init.name] = [name, a.dtype.name]
        else:
            keep.append(init)
    del proto.graph.initializer[:]
    proto.graph.initializer.extend(keep)
    return proto.SerializeToString(), weights
