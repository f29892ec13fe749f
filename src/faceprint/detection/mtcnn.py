"""MTCNN (Zhang et al., 2016): image pyramid -> P-Net proposals -> R-Net refinement -> O-Net boxes + 5 landmarks.

Written for faceprint: the cascade in numpy, the three small networks in onnxruntime (no PyTorch; the weights are the
public ones, see weights/README.md; tests/detection/test_mtcnn_onnx.py holds the PyTorch version this replaced and
checks boxes and points against it). Coordinates are continuous pixels (0 at the left edge of the first pixel);
boxes are (x1, y1, x2, y2).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from faceprint.detection.detector import Detector, Face
from faceprint.errors import InputError
from faceprint.utils.onnx import cpu_session

WEIGHTS = Path(__file__).resolve().parent / "weights"


# -- the cascade's pieces, each a plain function on arrays -------------------------------------------------------
def pyramid_scales(height: int, width: int, min_face: float = 20.0, factor: float = 0.709) -> list[float]:
    """Scales at which a min_face face becomes P-Net's 12 px window, down to where the image is 12 px."""
    if not 0 < factor < 1:
        raise InputError(f"scale factor must be in (0, 1), got {factor}")
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


def _source_index(out_size: int, in_size: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bilinear (align_corners=False) source pixels and weights, as torch's interpolate computes them: per box
    (in_size: (N,)) and output pixel, the two neighbours i0, i1 and the weight of i1."""
    scale = in_size[:, None] / out_size
    src = np.maximum(scale * (np.arange(out_size)[None] + 0.5) - 0.5, 0.0).astype(np.float32)
    i0 = np.floor(src).astype(np.int64)
    i0 = np.minimum(i0, in_size[:, None] - 1)
    i1 = np.minimum(i0 + 1, in_size[:, None] - 1)
    return i0, i1, src - i0


def integral_image(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 -> (H + 1, W + 1, 3) exact integer sums of the pixels above and left of each corner (int32
    while no sum can overflow it). Both the pyramid and the R-Net/O-Net crops are read from it."""
    h, w = image.shape[:2]
    dtype = np.int32 if h * w * 255 < 2**31 else np.int64
    s = np.zeros((h + 1, w + 1, 3), dtype)
    # along rows first: numpy's cumsum over the last-but-one axis of contiguous rows is 2x faster than down columns
    np.cumsum(image, 1, dtype=dtype, out=s[1:, 1:])
    np.cumsum(s[1:, 1:], 0, out=s[1:, 1:])
    return s


def _bins(origin: np.ndarray, length: np.ndarray, size: int, limit: int
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """torch's adaptive-average-pool bins: output pixel k of a span `length` at `origin` covers
    [floor(k*length/size), ceil((k+1)*length/size)); returned clipped to [0, limit], with the unclipped widths."""
    k = np.arange(size)
    lo = (k[None] * length[:, None]) // size
    hi = -((-(k[None] + 1) * length[:, None]) // size)
    return np.clip(origin[:, None] + lo, 0, limit), np.clip(origin[:, None] + hi, 0, limit), hi - lo


def _standardise(x: np.ndarray) -> np.ndarray:
    """MTCNN's pixel scaling, (x - 127.5) / 128, in float32."""
    return (x.astype(np.float32) - np.float32(127.5)) * np.float32(1 / 128)


def area_resize(integral: np.ndarray, height: int, width: int) -> np.ndarray:
    """The image, given as its integral_image, shrunk to (height, width, 3) by area averaging and standardised:
    what torch's F.interpolate(mode="area") gives on the standardised image, from four gathers of exact sums
    (the pyramid's resizing was the largest cost after the nets on large photos)."""
    h, w = integral.shape[0] - 1, integral.shape[1] - 1
    zero = np.zeros(1, np.int64)
    r0, r1, rn = (a[0] for a in _bins(zero, np.array([h]), height, h))
    c0, c1, cn = (a[0] for a in _bins(zero, np.array([w]), width, w))
    rows = integral[r1] - integral[r0]  # (height, W + 1, 3): each row bin's sums left of every column
    sums = (np.take(rows, c1, axis=1) - np.take(rows, c0, axis=1)).astype(np.float32)
    sums /= (rn[:, None] * cn[None, :]).astype(np.float32)[..., None]
    sums -= np.float32(127.5)  # _standardise, in place
    sums *= np.float32(1 / 128)
    return sums


def crop_resize(image: np.ndarray, boxes: np.ndarray, size: int, integral: np.ndarray | None = None) -> np.ndarray:
    """(H, W, 3) uint8 image -> (N, size, size, 3) standardised crops (channels last); area outside the image is
    zero (the standardised mean).

    A box at least `size` wide is shrunk by area averaging (torch's adaptive average pooling: bin i covers
    [floor(i*n/size), ceil((i+1)*n/size))), read from an integral image; a smaller one is enlarged bilinearly
    (align_corners=False). All boxes of an image in a few array operations: the per-box loop this replaces
    cost more than R-Net itself. `integral`: the image's integral_image, when several calls share it.
    """
    n = len(boxes)
    out = np.zeros((n, size, size, 3), np.float32)
    if n == 0:
        return out
    h, w = image.shape[:2]
    b = np.round(boxes).astype(np.int64)
    x1, y1 = b[:, 0], b[:, 1]
    bw, bh = np.maximum(b[:, 2] - x1, 1), np.maximum(b[:, 3] - y1, 1)
    area = bw >= size
    if area.any():
        s = integral_image(image) if integral is None else integral
        idx = np.flatnonzero(area)
        r0, r1, rn = _bins(y1[idx], bh[idx], size, h)
        c0, c1, cn = _bins(x1[idx], bw[idx], size, w)
        inside = ((r1 - r0)[:, :, None] * (c1 - c0)[:, None, :]).astype(np.float32)  # bin pixels in the image
        flat, stride = s.reshape(-1, 3), w + 1
        r0, r1, c0, c1 = r0[:, :, None] * stride, r1[:, :, None] * stride, c0[:, None, :], c1[:, None, :]

        def at(corner: np.ndarray) -> np.ndarray:
            return np.take(flat, corner, axis=0)  # 2x faster than flat[corner] for these (N, size, size) indices

        sums = (at(r1 + c1) - at(r0 + c1) - at(r1 + c0) + at(r0 + c0)).astype(np.float32)  # exact: bins under 65,000 px
        # outside pixels count as the mean: sum of (x - 127.5) over the inside, over the whole bin (float32, in place)
        sums -= np.float32(127.5) * inside[..., None]
        sums *= (np.float32(1 / 128) / (rn[:, :, None] * cn[:, None, :]).astype(np.float32))[..., None]
        if len(idx) == n:
            out = sums
        else:
            out[idx] = sums
    if (~area).any():
        idx = np.flatnonzero(~area)
        ry0, ry1, ly = _source_index(size, bh[idx])
        cx0, cx1, lx = _source_index(size, bw[idx])

        def px(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
            """Standardised patch pixels (N, size, size, 3), zero outside the image."""
            y = y1[idx, None, None] + rows[:, :, None]
            x = x1[idx, None, None] + cols[:, None, :]
            inside = ((y >= 0) & (y < h) & (x >= 0) & (x < w))[..., None]
            return np.where(inside, _standardise(image[np.clip(y, 0, h - 1), np.clip(x, 0, w - 1)]), np.float32(0))

        ly, lx = ly[:, :, None, None], lx[:, None, :, None]
        top = px(ry0, cx0) * (1 - lx) + px(ry0, cx1) * lx
        bottom = px(ry1, cx0) * (1 - lx) + px(ry1, cx1) * lx
        out[idx] = top * (1 - ly) + bottom * ly
    empty = (b[:, 2] <= x1) | (b[:, 3] <= y1)  # a box that rounds to nothing covers no pixel: all padding
    if empty.any():
        out[empty] = 0
    return out


def _nchw(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


class MTCNN(Detector):
    """The MTCNN cascade with the usual settings: minimum face 20 px, scale factor 0.709, thresholds 0.6/0.7/0.7."""

    name = "mtcnn"

    def __init__(self, min_face: float = 20.0, factor: float = 0.709,
                 thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7), weights: Path = WEIGHTS,
                 threads: int | None = None) -> None:
        self.min_face, self.factor, self.thresholds, self.weights = min_face, factor, thresholds, weights
        # Each network twice: on one thread and on all. Their maps are small: on two threads onnxruntime spends
        # more on handing work over than it gains below ~30,000 pixels a P-Net level or 64 R-Net crops (measured
        # on the shipped photos and 1024 x 768 ones: 19 against 38 ms a 250 px photo on two threads).
        try:
            self.pnet, self.rnet, self.onet = ((cpu_session(weights / f"{n}.onnx", 1),
                                                cpu_session(weights / f"{n}.onnx", threads))
                                               for n in ("pnet", "rnet", "onet"))
        except ImportError:
            raise ImportError("MTCNN runs in onnxruntime: pip install onnxruntime") from None

    def recipe(self) -> tuple[type, dict]:
        return type(self), {"min_face": self.min_face, "factor": self.factor, "thresholds": self.thresholds,
                            "weights": self.weights}

    @staticmethod
    def _net(sessions: tuple, x: np.ndarray) -> list[np.ndarray]:
        """Run a network (its one-thread or all-thread session, by the work in `x`: (N, 3, H, W))."""
        n, _, h, w = x.shape
        big = n * h * w > 30_000 if h * w > 48 * 48 else n > (64 if h == 24 else 16)
        return sessions[big].run(None, {"images": x})

    def detect(self, images: list[np.ndarray]) -> list[list[Face]]:
        """Faces per image. Images of one size share each pyramid level's P-Net pass; R-Net and O-Net see the
        candidates of all images at once."""
        for im in images:
            if im.ndim != 3 or im.shape[2] != 3:
                raise InputError(f"expected (H, W, 3) RGB images, got shape {im.shape}")
        images = [im if im.dtype == np.uint8 else np.clip(np.rint(im), 0, 255).astype(np.uint8) for im in images]
        sums = [integral_image(im) for im in images]
        boxes = self._proposals(images, sums)
        t1, t2, t3 = self.thresholds
        # R-Net: refine and reject.
        prob, off = self._run(self.rnet, images, sums, boxes, 24)
        for b in range(len(images)):
            ok = prob[b] > t2
            bx, sc, of = boxes[b][ok], prob[b][ok], off[b][ok]
            keep = nms(bx, sc, 0.7)
            boxes[b] = square(regress(bx[keep], of[keep]))
        # O-Net: final boxes and landmarks.
        prob, off, marks = self._run(self.onet, images, sums, boxes, 48)
        out: list[list[Face]] = []
        for b in range(len(images)):
            ok = prob[b] > t3
            bx, sc, of, mk = boxes[b][ok], prob[b][ok], off[b][ok], marks[b][ok]
            wh = np.stack([bx[:, 2] - bx[:, 0], bx[:, 3] - bx[:, 1]], 1)
            points = np.stack([bx[:, None, 0] + mk[:, :5] * wh[:, None, 0],
                               bx[:, None, 1] + mk[:, 5:] * wh[:, None, 1]], 2)
            bx = regress(bx, of)
            keep = nms(bx, sc, 0.7, mode="min")
            out.append([Face(bx[k], float(sc[k]), points[k]) for k in keep])
        return out

    def _proposals(self, images: list[np.ndarray], sums: list[np.ndarray]) -> list[np.ndarray]:
        """P-Net over each image's pyramid (images of one size in one batch) -> squared candidate boxes per image."""
        t1 = self.thresholds[0]
        by_size: dict[tuple[int, int], list[int]] = {}
        for i, im in enumerate(images):
            by_size.setdefault(im.shape[:2], []).append(i)
        out: list[np.ndarray] = [np.zeros((0, 4))] * len(images)
        for (h, w), idx in by_size.items():
            props: list[list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = [[] for _ in idx]
            for scale in pyramid_scales(h, w, self.min_face, self.factor):
                sh, sw = int(np.ceil(h * scale)), int(np.ceil(w * scale))
                level = np.stack([area_resize(sums[i], sh, sw) for i in idx])  # (B, sh, sw, 3): channels-last
                prob, reg = self._net(self.pnet, _nchw(level))
                for j in range(len(idx)):
                    boxes, scores, offs = proposal_boxes(prob[j], reg[j], scale, t1)
                    keep = nms(boxes, scores, 0.5)
                    props[j].append((boxes[keep], scores[keep], offs[keep]))
            for j, i in enumerate(idx):
                if not props[j]:
                    continue
                boxes, scores, offs = (np.concatenate([p[k] for p in props[j]]) for k in range(3))
                keep = nms(boxes, scores, 0.7)
                out[i] = square(regress(boxes[keep], offs[keep]))
        return out

    def _run(self, net: object, images: list[np.ndarray], sums: list[np.ndarray], boxes: list[np.ndarray],
             size: int) -> list[list[np.ndarray]]:
        """One pass of R-Net or O-Net over the candidates of every image; its outputs split back per image."""
        crops = np.concatenate([crop_resize(im, b, size, s) for im, b, s in zip(images, boxes, sums)])
        if len(crops):
            outs = self._net(net, _nchw(crops))
        else:  # no candidate left in any image
            outs = [np.zeros((0,), np.float32), np.zeros((0, 4), np.float32)] + \
                ([np.zeros((0, 10), np.float32)] if size == 48 else [])
        split = np.cumsum([len(b) for b in boxes])[:-1]
        return [np.split(o, split) for o in outs]
