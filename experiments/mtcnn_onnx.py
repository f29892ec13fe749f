"""How the shipped MTCNN ONNX files were made: the three networks (in PyTorch, as tests/detection/reference_mtcnn.py
keeps them) with the state dicts faceprint shipped before the core (`pnet.pt`, `rnet.pt`, `onet.pt`, in this
repository's history), exported with a dynamic batch (P-Net: dynamic height and width too), PReLU slopes named as
the PyTorch parameters they are, and checked against PyTorch.

    git show <commit before the core>:src/faceprint/detection/weights/pnet.pt > /tmp/pnet.pt   # and rnet, onet
    python experiments/mtcnn_onnx.py --state-dicts /tmp --out src/faceprint/detection/weights
"""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.detection.reference_mtcnn import ONet, PNet, RNet  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--state-dicts", required=True, help="folder of pnet.pt, rnet.pt, onet.pt")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    import onnx
    import onnxruntime as ort

    for name in ("torch.onnx", "onnxscript", "onnx_ir"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.simplefilter("ignore")
    for cls, name, size in [(PNet, "pnet", None), (RNet, "rnet", 24), (ONet, "onet", 48)]:
        net = cls().eval()
        net.load_state_dict(torch.load(Path(args.state_dicts) / f"{name}.pt", weights_only=True))
        if size is None:
            example = torch.zeros(1, 3, 40, 50)
            dynamic = {"x": {0: torch.export.Dim("batch", min=1, max=4096), 2: torch.export.Dim("h", min=12, max=20000),
                             3: torch.export.Dim("w", min=12, max=20000)}}
        else:
            example = torch.zeros(2, 3, size, size)
            dynamic = {"x": {0: torch.export.Dim("batch", min=1, max=1 << 20)}}
        outputs = ["prob", "offsets"] + (["landmarks"] if name == "onet" else [])
        with torch.no_grad():
            proto = torch.onnx.export(net, (example,), None, input_names=["images"], output_names=outputs,
                                      dynamic_shapes=dynamic, opset_version=18, dynamo=True, verbose=False).model_proto
        # the k-th PRelu reads the k-th PReLU module's slope: give that initializer the parameter's name
        renames = {n.input[1]: f"prelu{k}.weight" for k, n in
                   enumerate((n for n in proto.graph.node if n.op_type == "PRelu"), 1)}
        for init in proto.graph.initializer:
            init.name = renames.get(init.name, init.name)
        for node in proto.graph.node:
            node.input[:] = [renames.get(i, i) for i in node.input]
        out = Path(args.out) / f"{name}.onnx"
        onnx.save(proto, str(out))
        x = torch.randn(3, 3, size or 37, size or 53)
        with torch.no_grad():
            ref = [o.numpy() for o in net(x)]
        got = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"]).run(None, {"images": x.numpy()})
        print(f"{out}: largest difference from PyTorch {max(float(np.abs(a - b).max()) for a, b in zip(ref, got)):.2e}")


if __name__ == "__main__":
    main()
