"""MTCNN (Zhang et al., 2016): image pyramid -> P-Net proposals -> R-Net refinement -> O-Net boxes + 5 landmarks.

Written for faceprint in PyTorch; the weights are the public ones (see weights/README.md). Coordinates are
continuous pixels (0 at the left edge of the first pixel); boxes are (x1, y1, x2, y2).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from faceprint.detection.detector import Detector, Face

WEIGHTS = Path(__file__).resolve().parent / "weights"


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
def pyramid_scales(height: int, width: int, min_face: float = 20.0, factor: float = 0.709) -> list[float]:
    """Scales at which a min_face face becomes P-Net's 12 px window, down to where the image is 12 px."""
    if not 0 < factor < 1:
        raise ValueError(f"scale factor must be in (0, 1), got {factor}")
    m = 12.0 / min_face
    side = min(height, width) * m
    scales = []
    while side >= 12:
        scales.append(m * factor ** len(scales))
        side *= factor
    return scales


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float, mode: str = "union") -> np.ndarray:
    """Greedy non-maximum suppression; returns kept indices, best first. mode "min" divides the overlap by the
    smaller area (MTCNN's last stage), "union" by the union (IoU)."""
    if len(boxes) == 0:
        return np.zeros(0, dtype=np.int64)
    x1, y1, x2, y2 = boxes.T
    area = np.maximum(x2 - x1, 0) * np.maximum(y2 - y1, 0)
    order = np.argsort(-scores, kind="stable")
    keep = []
    while len(order):
        i, rest = order[0], order[1:]
        keep.append(i)
        w = np.maximum(0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]))
        h = np.maximum(0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]))
        inter = w * h
        denom = np.minimum(area[i], area[rest]) if mode == "min" else area[i] + area[rest] - inter
        overlap = inter / np.maximum(denom, 1e-12)
        order = rest[overlap <= threshold]
    return np.array(keep, dtype=np.int64)


def regress(boxes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Apply the nets' box offsets, which are fractions of the box's width and height."""
    wh = np.stack([boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]], 1)
    return boxes + offsets * np.concatenate([wh, wh], 1)


def square(boxes: np.ndarray) -> np.ndarray:
    """Grow each box to a square about its centre (the next stage's input is square)."""
    c = (boxes[:, :2] + boxes[:, 2:]) / 2
    side = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])[:, None]
    return np.concatenate([c - side / 2, c + side / 2], 1)


def proposal_boxes(prob: np.ndarray, reg: np.ndarray, scale: float, threshold: float
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """P-Net map cells above threshold -> (boxes in image pixels, scores, offsets); a cell (i, j) is the 12x12
    window at (2j, 2i) of the scaled image."""
    ys, xs = np.nonzero(prob > threshold)
    boxes = np.stack([2 * xs, 2 * ys, 2 * xs + 12, 2 * ys + 12], 1).astype(np.float64) / scale
    return boxes, prob[ys, xs].astype(np.float64), reg[:, ys, xs].T.astype(np.float64)


def crop_resize(image: torch.Tensor, boxes: np.ndarray, size: int) -> torch.Tensor:
    """(3, H, W) standardised image -> (N, 3, size, size) crops; area outside the image is zero (its mean)."""
    _, h, w = image.shape
    out = torch.zeros(len(boxes), 3, size, size)
    for i, (x1, y1, x2, y2) in enumerate(np.round(boxes).astype(int)):
        bw, bh = max(x2 - x1, 1), max(y2 - y1, 1)
        patch = torch.zeros(3, bh, bw)
        sx1, sy1, sx2, sy2 = max(x1, 0), max(y1, 0), min(x2, w), min(y2, h)
        if sx2 > sx1 and sy2 > sy1:
            patch[:, sy1 - y1 : sy2 - y1, sx1 - x1 : sx2 - x1] = image[:, sy1:sy2, sx1:sx2]
        out[i] = F.interpolate(patch[None], size=(size, size), mode="area" if bw >= size else "bilinear",
                               **({} if bw >= size else {"align_corners": False}))[0]
    return out


class MTCNN(Detector):
    """The MTCNN cascade with the usual settings: minimum face 20 px, scale factor 0.709, thresholds 0.6/0.7/0.7."""

    name = "mtcnn"

    def __init__(self, min_face: float = 20.0, factor: float = 0.709,
                 thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7), weights: Path = WEIGHTS) -> None:
        self.min_face, self.factor, self.thresholds = min_face, factor, thresholds
        self.pnet, self.rnet, self.onet = PNet().eval(), RNet().eval(), ONet().eval()
        for net, name in [(self.pnet, "pnet"), (self.rnet, "rnet"), (self.onet, "onet")]:
            net.load_state_dict(torch.load(weights / f"{name}.pt", map_location="cpu", weights_only=True))
            net.requires_grad_(False)

    @torch.no_grad()
    def detect(self, images: list[np.ndarray]) -> list[list[Face]]:
        """Faces per image. Images of one size share each pyramid level's P-Net pass."""
        out: list[list[Face]] = [[] for _ in images]
        by_size: dict[tuple[int, int], list[int]] = {}
        for i, im in enumerate(images):
            if im.ndim != 3 or im.shape[2] != 3:
                raise ValueError(f"expected (H, W, 3) RGB images, got shape {im.shape}")
            by_size.setdefault(im.shape[:2], []).append(i)
        for (h, w), idx in by_size.items():
            batch = (torch.from_numpy(np.stack([images[i] for i in idx])).permute(0, 3, 1, 2).float() - 127.5) / 128
            for i, faces in zip(idx, self._cascade(batch, h, w)):
                out[i] = faces
        return out

    def _cascade(self, batch: torch.Tensor, h: int, w: int) -> list[list[Face]]:
        t1, t2, t3 = self.thresholds
        props: list[list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = [[] for _ in range(len(batch))]
        for scale in pyramid_scales(h, w, self.min_face, self.factor):
            sh, sw = int(np.ceil(h * scale)), int(np.ceil(w * scale))
            prob, reg = self.pnet(F.interpolate(batch, size=(sh, sw), mode="area"))
            for b in range(len(batch)):
                boxes, scores, offs = proposal_boxes(prob[b].numpy(), reg[b].numpy(), scale, t1)
                keep = nms(boxes, scores, 0.5)
                props[b].append((boxes[keep], scores[keep], offs[keep]))
        results = []
        for b in range(len(batch)):
            boxes = np.concatenate([p[0] for p in props[b]]) if props[b] else np.zeros((0, 4))
            scores = np.concatenate([p[1] for p in props[b]]) if props[b] else np.zeros(0)
            offs = np.concatenate([p[2] for p in props[b]]) if props[b] else np.zeros((0, 4))
            keep = nms(boxes, scores, 0.7)
            boxes = square(regress(boxes[keep], offs[keep]))
            # R-Net: refine and reject.
            if len(boxes):
                prob, off = self.rnet(crop_resize(batch[b], boxes, 24))
                ok = prob.numpy() > t2
                boxes, scores, off = boxes[ok], prob.numpy()[ok], off.numpy()[ok]
                keep = nms(boxes, scores, 0.7)
                boxes = square(regress(boxes[keep], off[keep]))
            # O-Net: final boxes and landmarks.
            faces: list[Face] = []
            if len(boxes):
                prob, off, marks = self.onet(crop_resize(batch[b], boxes, 48))
                ok = prob.numpy() > t3
                boxes, scores, off, marks = boxes[ok], prob.numpy()[ok], off.numpy()[ok], marks.numpy()[ok]
                wh = np.stack([boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]], 1)
                points = np.stack([boxes[:, None, 0] + marks[:, :5] * wh[:, None, 0],
                                   boxes[:, None, 1] + marks[:, 5:] * wh[:, None, 1]], 2)
                boxes = regress(boxes, off)
                keep = nms(boxes, scores, 0.7, mode="min")
                faces = [Face(boxes[k], float(scores[k]), points[k]) for k in keep]
            results.append(faces)
        return results
