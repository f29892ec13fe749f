"""The reference: MTCNN's three networks in PyTorch, as faceprint ran them before the core (kept word for word but
for where their weights come from: the ONNX files now shipped, whose initializers are the old state dicts, name for
name), under the same numpy cascade. tests/models/test_core.py checks the onnxruntime networks against them;
benchmarks/core.py times both; experiments/mtcnn_onnx.py exported the shipped ONNX files from these networks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from faceprint.detection import mtcnn
from faceprint.detection.mtcnn import WEIGHTS


def _state_dict(onnx_file: Path) -> dict[str, torch.Tensor]:
    """The network's weights, read back from the ONNX file's initializers (named as the parameters they were;
    PReLU slopes reshaped back to PyTorch's (C,))."""
    import onnx
    from onnx import numpy_helper

    out = {}
    for init in onnx.load(str(onnx_file)).graph.initializer:
        if "." in init.name:
            a = torch.from_numpy(numpy_helper.to_array(init).copy())
            out[init.name] = a.reshape(-1) if init.name.startswith("prelu") else a
    return out


class PNet(nn.Module):
    """12x12 fully convolutional proposal net: face probability and box offsets on a stride-2 grid."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 10, 3), nn.PReLU(10)
        self.conv2, self.prelu2 = nn.Conv2d(10, 16, 3), nn.PReLU(16)
        self.conv3, self.prelu3 = nn.Conv2d(16, 32, 3), nn.PReLU(32)
        self.conv4_1, self.conv4_2 = nn.Conv2d(32, 2, 1), nn.Conv2d(32, 4, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = F.max_pool2d(self.prelu1(self.conv1(x)), 2, 2, ceil_mode=True)
        x = self.prelu3(self.conv3(self.prelu2(self.conv2(x))))
        return F.softmax(self.conv4_1(x), 1)[:, 1], self.conv4_2(x)


def _caffe_flatten(x: torch.Tensor) -> torch.Tensor:
    """The weights were trained in Caffe's layout: flatten (N, W, H, C), not (N, C, H, W)."""
    return x.permute(0, 3, 2, 1).flatten(1)


class RNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 28, 3), nn.PReLU(28)
        self.conv2, self.prelu2 = nn.Conv2d(28, 48, 3), nn.PReLU(48)
        self.conv3, self.prelu3 = nn.Conv2d(48, 64, 2), nn.PReLU(64)
        self.dense4, self.prelu4 = nn.Linear(576, 128), nn.PReLU(128)
        self.dense5_1, self.dense5_2 = nn.Linear(128, 2), nn.Linear(128, 4)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = F.max_pool2d(self.prelu1(self.conv1(x)), 3, 2, ceil_mode=True)
        x = F.max_pool2d(self.prelu2(self.conv2(x)), 3, 2, ceil_mode=True)
        x = self.prelu4(self.dense4(_caffe_flatten(self.prelu3(self.conv3(x)))))
        return F.softmax(self.dense5_1(x), 1)[:, 1], self.dense5_2(x)


class ONet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 32, 3), nn.PReLU(32)
        self.conv2, self.prelu2 = nn.Conv2d(32, 64, 3), nn.PReLU(64)
        self.conv3, self.prelu3 = nn.Conv2d(64, 64, 3), nn.PReLU(64)
        self.conv4, self.prelu4 = nn.Conv2d(64, 128, 2), nn.PReLU(128)
        self.dense5, self.prelu5 = nn.Linear(1152, 256), nn.PReLU(256)
        self.dense6_1, self.dense6_2, self.dense6_3 = nn.Linear(256, 2), nn.Linear(256, 4), nn.Linear(256, 10)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = F.max_pool2d(self.prelu1(self.conv1(x)), 3, 2, ceil_mode=True)
        x = F.max_pool2d(self.prelu2(self.conv2(x)), 3, 2, ceil_mode=True)
        x = F.max_pool2d(self.prelu3(self.conv3(x)), 2, 2, ceil_mode=True)
        x = self.prelu5(self.dense5(_caffe_flatten(self.prelu4(self.conv4(x)))))
        return F.softmax(self.dense6_1(x), 1)[:, 1], self.dense6_2(x), self.dense6_3(x)


# -- the cascade's pieces, each a plain function on arrays -------------------------------------------------------


class MTCNN(mtcnn.MTCNN):
    """The cascade of faceprint.detection.mtcnn with the PyTorch networks in place of the onnxruntime sessions
    (channels-last: oneDNN's convolutions and max pooling ran ~3x faster so on these small maps)."""

    def __init__(self, min_face: float = 20.0, factor: float = 0.709,
                 thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7), weights: Path = WEIGHTS) -> None:
        self.min_face, self.factor, self.thresholds = min_face, factor, thresholds
        self.pnet, self.rnet, self.onet = PNet().eval(), RNet().eval(), ONet().eval()
        for net, name in [(self.pnet, "pnet"), (self.rnet, "rnet"), (self.onet, "onet")]:
            net.load_state_dict(_state_dict(weights / f"{name}.onnx"))
            net.requires_grad_(False)
            net.to(memory_format=torch.channels_last)

    @torch.no_grad()
    def _net(self, net: nn.Module, x: np.ndarray) -> list[np.ndarray]:  # type: ignore[override]
        t = torch.from_numpy(x).contiguous(memory_format=torch.channels_last)
        return [o.numpy() for o in net(t)]
