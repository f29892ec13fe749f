"""How the shipped five-point landmark network (detection/weights/landmarks-regression-retail-0009.onnx) was made:
Intel's OpenVINO IR (../shared/models/landmarks-regression-retail-0009, Apache-2.0) read by faceprint's own IR reader
(faceprint.models.openvino_import, no OpenVINO), run as faceprint's graph network in PyTorch, exported to ONNX with a
dynamic batch, and checked against the openvino runtime on random crops and against the exported file.

    python experiments/landmarks_onnx.py --xml ../shared/models/landmarks-0009/landmarks-regression-retail-0009.xml \\
        --out src/faceprint/detection/weights
"""

from __future__ import annotations

import argparse
import logging
import shutil
import warnings
from pathlib import Path

import numpy as np
import torch


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--xml", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    import onnx
    import onnxruntime as ort

    from faceprint.models.openvino_import import read_openvino_ir
    from faceprint.models.openvino_net import OpenVinoNet

    for name in ("torch.onnx", "onnxscript", "onnx_ir"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.simplefilter("ignore")
    graph, consts = read_openvino_ir(args.xml)
    if not graph["name"].startswith("landmarks-regression-retail"):
        raise SystemExit(f"{args.xml}: {graph['name']!r} is not Intel's landmarks-regression-retail network")
    net = OpenVinoNet(graph).eval()
    with torch.no_grad():
        for ident, value in consts.items():
            net.consts[f"c{ident}"].copy_(torch.from_numpy(value.astype(np.float32)))
    dynamic = {"x": {0: torch.export.Dim("batch", min=1, max=1 << 20)}}
    with torch.no_grad(), net.constant_slopes():
        proto = torch.onnx.export(net, (torch.zeros(2, 3, 48, 48),), None, input_names=["images"],
                                  output_names=["points"], dynamic_shapes=dynamic, opset_version=18, dynamo=True,
                                  verbose=False).model_proto
    out = Path(args.out) / f"{graph['name']}.onnx"
    onnx.save(proto, str(out))
    shutil.copy(Path(args.xml).with_name("LICENSE"), Path(args.out) / "LICENSE-landmarks-0009")

    x = np.random.RandomState(0).uniform(0, 255, (16, 3, 48, 48)).astype(np.float32)
    got = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"]).run(None, {"images": x})[0]
    with torch.no_grad():
        mine = net(torch.from_numpy(x)).numpy()
    import openvino as ov

    core = ov.Core()
    compiled = core.compile_model(core.read_model(args.xml), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    ref = np.concatenate([compiled(x[i : i + 1])[0].reshape(1, -1) for i in range(len(x))])
    print(f"{out}: largest difference from the openvino runtime {np.abs(got - ref).max():.2e} (faceprint's "
          f"PyTorch graph: {np.abs(mine - ref).max():.2e})")


if __name__ == "__main__":
    main()
