"""dlib's face-recognition ResNet (`dlib_face_recognition_resnet_model_v1`), rebuilt layer for layer in PyTorch.

The layout is dlib's `anet_type` from its `dnn_face_recognition_ex.cpp`: a 7x7 stem, 14 residual blocks of two
3x3 convolutions each (batch norm folded into per-channel affine layers), average pooling over the whole map, and
a 256 -> 128 fully connected layer without bias (here the embedder's `project`). Two dlib behaviours matter for
equal outputs and are reproduced on purpose:
- dlib pads a convolution only when its stride is 1 (`3x3 / 2` and `7x7 / 2` use no padding; pools never pad);
- dlib's `add_prev` adds tensors of different shapes by zero-filling the smaller one at the end of each axis
  (more channels after a down block; at 8 px a strided conv gives 3 x 3 and the pooled shortcut 4 x 4).
Weights come from `faceprint import dlib` (faceprint.models.dlib_import); the network is not meant to be trained
from scratch here. `dlib_resnet_slim` is the same network less the last plain block of each level: a student that
starts from the teacher's other blocks (`faceprint train --init dlib.pt`; one block out of each residual level
removed costs least, see docs/experiments.md) and is then distilled back to it.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from faceprint.errors import InputError
from faceprint.models.registry import register_backbone

# (channels, down-sampling block first?, plain blocks) per level, input side first (dlib's alevel4 .. alevel0).
LEVELS: tuple[tuple[int, bool, int], ...] = ((32, False, 3), (64, True, 3), (128, True, 2), (256, True, 2),
                                             (256, True, 0))
INPUT_SIZE = 150


class Affine(nn.Module):
    """dlib's `affine` layer: a per-channel scale and shift (a batch norm frozen after training)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)


def add_prev(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """dlib's `add_prev`: the sum over the larger shape, the smaller tensor zero-filled at the end of each axis."""
    if a.shape == b.shape:
        return a + b
    c, h, w = (max(a.shape[i], b.shape[i]) for i in (1, 2, 3))

    def fill(t: torch.Tensor) -> torch.Tensor:
        return F.pad(t, (0, w - t.shape[3], 0, h - t.shape[2], 0, c - t.shape[1]))

    return fill(a) + fill(b)


class DlibBlock(nn.Module):
    """relu(block(x) + shortcut(x)); a down block strides its first conv and average-pools the shortcut."""

    def __init__(self, cin: int, cout: int, down: bool) -> None:
        super().__init__()
        stride = 2 if down else 1
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 0 if down else 1)
        self.affine1 = Affine(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1)
        self.affine2 = Affine(cout)
        self.down = down

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.affine2(self.conv2(F.relu(self.affine1(self.conv1(x)))))
        shortcut = F.avg_pool2d(x, 2, 2) if self.down else x
        return F.relu(add_prev(y, shortcut))


class DlibResNet(nn.Module):
    """150 x 150 RGB chip -> 256 pooled features (dlib's network up to its last fully connected layer)."""

    out_features = 256

    def __init__(self, input_size: int = INPUT_SIZE, plain: tuple[int, ...] = tuple(p for _, _, p in LEVELS)) -> None:
        super().__init__()
        if input_size != INPUT_SIZE:
            raise InputError(f"dlib's face ResNet takes {INPUT_SIZE} x {INPUT_SIZE} chips, got input_size {input_size}")
        self.conv = nn.Conv2d(3, 32, 7, 2, 0)
        self.affine = Affine(32)
        self.plain = tuple(plain)  # plain blocks per level
        blocks: list[nn.Module] = []
        cin = 32
        for (cout, down, _), n in zip(LEVELS, self.plain, strict=True):
            if down:
                blocks.append(DlibBlock(cin, cout, True))
            blocks.extend(DlibBlock(cout, cout, False) for _ in range(n))
            cin = cout
        self.blocks = nn.Sequential(*blocks)

    def level_blocks(self) -> list[list[nn.Module]]:
        """The blocks of each level, in order (a level's down block first)."""
        out, it = [], iter(self.blocks)
        for (_, down, _), n in zip(LEVELS, self.plain, strict=True):
            out.append([next(it) for _ in range(int(down) + n)])
        return out

    def inherit(self, other: nn.Module, keep: tuple[tuple[int, ...], ...] | None = None) -> None:
        """Take the weights of a deeper dlib network: its stem, and in each level its down block and the plain
        blocks `keep` names (default: the first ones this network has room for)."""
        keep = tuple(tuple(range(n)) for n in self.plain) if keep is None else keep
        if not isinstance(other, DlibResNet) or any(len(k) != n or not all(0 <= i < m for i in k)
                                                     for k, n, m in zip(keep, self.plain, other.plain, strict=True)):
            raise InputError(f"a dlib network with plain blocks {self.plain} per level can start only from one "
                             f"with at least as many, not from {type(other).__name__}"
                             + (f" {other.plain}" if isinstance(other, DlibResNet) else ""))
        self.conv.load_state_dict(other.conv.state_dict())
        self.affine.load_state_dict(other.affine.state_dict())
        for mine, theirs, k, (_, down, _) in zip(self.level_blocks(), other.level_blocks(), keep, LEVELS, strict=True):
            chosen = theirs[: int(down)] + [theirs[int(down) + i] for i in k]
            for a, b in zip(mine, chosen, strict=True):
                a.load_state_dict(b.state_dict())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.affine(self.conv(x))), 3, 2)
        return self.blocks(x).mean((2, 3))


@register_backbone("dlib_resnet_v1", INPUT_SIZE,
                   "dlib's face ResNet (29 conv layers, 5.6 M parameters), weights from `faceprint import dlib`")
def dlib_resnet_v1(input_size: int) -> DlibResNet:
    return DlibResNet(input_size)


@register_backbone("dlib_resnet_slim", INPUT_SIZE,
                   "dlib's face ResNet less the last plain block of each level (21 conv layers, 4.0 M parameters, "
                   "1.3-1.5x as fast): a student started from dlib's weights by `train --init`")
def dlib_resnet_slim(input_size: int) -> DlibResNet:
    return DlibResNet(input_size, plain=(2, 2, 1, 1, 0))
