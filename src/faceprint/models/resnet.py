"""Compact face ResNets for CPU training: a ResNet-18 layout at reduced width with a global depthwise head.

A face crop keeps its parts in fixed places, so the head weights each position (a depthwise conv over the whole
final map, as in MobileFaceNet) instead of averaging positions away.
"""

from __future__ import annotations

import torch
from torch import nn

from faceprint.models.registry import register_backbone


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.act = nn.ReLU(inplace=True)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act(self.bn1(self.conv1(x)))
        return self.act(self.bn2(self.conv2(y)) + self.shortcut(x))


class FaceResNet(nn.Module):
    """Stem (3x3, stride 2) -> 4 stages (strides 1, 2, 2, 2) -> depthwise conv over the final map -> features."""

    def __init__(self, input_size: int, widths: tuple[int, ...], blocks: tuple[int, ...]) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, widths[0], 3, 2, 1, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU(inplace=True)
        )
        layers: list[nn.Module] = []
        cin = widths[0]
        for i, (w, n) in enumerate(zip(widths, blocks)):
            for j in range(n):
                layers.append(BasicBlock(cin, w, 2 if (i > 0 and j == 0) else 1))
                cin = w
        self.stages = nn.Sequential(*layers)
        side = input_size
        for _ in range(len(widths)):  # stem + 3 strided stages
            side = (side + 1) // 2
        self.head = nn.Sequential(nn.Conv2d(cin, cin, side, groups=cin, bias=False), nn.BatchNorm2d(cin))
        self.out_features = cin
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        for block in self.stages:
            # Residual branches start near zero, so the deep net begins as a shallow one (Goyal et al. 2017).
            nn.init.zeros_(block.bn2.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.stages(self.stem(x))).flatten(1)


@register_backbone("resnet18_half", 96, "ResNet-18 layout at half width (32-256 channels), ~2.9 M parameters")
def resnet18_half(input_size: int) -> FaceResNet:
    return FaceResNet(input_size, (32, 64, 128, 256), (2, 2, 2, 2))


@register_backbone("resnet10_quarter", 64, "4 stages of 1 block at quarter width (16-128 channels), for tests/demos")
def resnet10_quarter(input_size: int) -> FaceResNet:
    return FaceResNet(input_size, (16, 32, 64, 128), (1, 1, 1, 1))


@register_backbone("resnet10_half", 64, "4 stages of 1 block at half width (32-256 channels), ~1.3 M parameters")
def resnet10_half(input_size: int) -> FaceResNet:
    return FaceResNet(input_size, (32, 64, 128, 256), (1, 1, 1, 1))
