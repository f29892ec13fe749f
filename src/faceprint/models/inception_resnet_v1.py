"""Inception-ResNet-v1 (Szegedy et al., 2016) at 160 px: the backbone of the public FaceNet ports, for GPU users."""

from __future__ import annotations

import torch
from torch import nn

from faceprint.errors import InputError
from faceprint.models.registry import register_backbone


class ConvBN(nn.Module):
    def __init__(self, cin: int, cout: int, kernel: int | tuple[int, int], stride: int = 1,
                 padding: int | tuple[int, int] = 0) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride, padding, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=1e-3)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


class _Residual(nn.Module):
    """Concatenate branches, project back with a 1x1 conv, add scaled to the input."""

    def __init__(self, branches: list[nn.Module], concat: int, channels: int, scale: float, relu: bool = True) -> None:
        super().__init__()
        self.branches = nn.ModuleList(branches)
        self.project = nn.Conv2d(concat, channels, 1)
        self.scale = scale
        self.relu = relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x + self.scale * self.project(torch.cat([b(x) for b in self.branches], 1))
        return torch.relu(y) if self.relu else y


def block35(scale: float = 0.17) -> _Residual:
    return _Residual(
        [ConvBN(256, 32, 1),
         nn.Sequential(ConvBN(256, 32, 1), ConvBN(32, 32, 3, padding=1)),
         nn.Sequential(ConvBN(256, 32, 1), ConvBN(32, 32, 3, padding=1), ConvBN(32, 32, 3, padding=1))],
        96, 256, scale)


def block17(scale: float = 0.10) -> _Residual:
    return _Residual(
        [ConvBN(896, 128, 1),
         nn.Sequential(ConvBN(896, 128, 1), ConvBN(128, 128, (1, 7), padding=(0, 3)),
                       ConvBN(128, 128, (7, 1), padding=(3, 0)))],
        256, 896, scale)


def block8(scale: float = 0.20, relu: bool = True) -> _Residual:
    return _Residual(
        [ConvBN(1792, 192, 1),
         nn.Sequential(ConvBN(1792, 192, 1), ConvBN(192, 192, (1, 3), padding=(0, 1)),
                       ConvBN(192, 192, (3, 1), padding=(1, 0)))],
        384, 1792, scale, relu)


class _Concat(nn.Module):
    def __init__(self, *branches: nn.Module) -> None:
        super().__init__()
        self.branches = nn.ModuleList(branches)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([b(x) for b in self.branches], 1)


class InceptionResNetV1(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            ConvBN(3, 32, 3, 2), ConvBN(32, 32, 3), ConvBN(32, 64, 3, padding=1), nn.MaxPool2d(3, 2),
            ConvBN(64, 80, 1), ConvBN(80, 192, 3), ConvBN(192, 256, 3, 2),
        )
        self.repeat1 = nn.Sequential(*[block35() for _ in range(5)])
        self.reduction_a = _Concat(
            ConvBN(256, 384, 3, 2),
            nn.Sequential(ConvBN(256, 192, 1), ConvBN(192, 192, 3, padding=1), ConvBN(192, 256, 3, 2)),
            nn.MaxPool2d(3, 2),
        )
        self.repeat2 = nn.Sequential(*[block17() for _ in range(10)])
        self.reduction_b = _Concat(
            nn.Sequential(ConvBN(896, 256, 1), ConvBN(256, 384, 3, 2)),
            nn.Sequential(ConvBN(896, 256, 1), ConvBN(256, 256, 3, 2)),
            nn.Sequential(ConvBN(896, 256, 1), ConvBN(256, 256, 3, padding=1), ConvBN(256, 256, 3, 2)),
            nn.MaxPool2d(3, 2),
        )
        self.repeat3 = nn.Sequential(*[block8() for _ in range(5)], block8(relu=False))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.out_features = 1792

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.repeat1(self.stem(x))
        x = self.repeat2(self.reduction_a(x))
        x = self.repeat3(self.reduction_b(x))
        return self.pool(x).flatten(1)


@register_backbone("inception_resnet_v1", 160, "Inception-ResNet-v1 as in the FaceNet ports, ~23 M parameters")
def inception_resnet_v1(input_size: int) -> InceptionResNetV1:
    if input_size < 75:
        raise InputError(f"inception_resnet_v1 needs inputs of at least 75 px, got {input_size}")
    return InceptionResNetV1()
