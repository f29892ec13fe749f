"""Five points for a face a detector has boxed, from a small landmark network run on the box: how YuNet's boxes get
points as good as MTCNN's (issue 36; the measurements are in docs/benchmarks.md).

Two networks, each a 48 x 48 crop in and five points out, given all faces of a batch of photos at once:
- "onet": MTCNN's own O-Net (shipped for MTCNN: weights/onet.onnx). In MTCNN it sees R-Net's squared box; here it sees
  a square placed from the detector's box by a fitted rule (centre shifted and side scaled by fractions of the box's
  width and height, `onet_box_rule` in weights/yunet_landmarks.json, fitted on the CelebA subset by
  benchmarks/yunet_landmarks.py), so that it sees what R-Net would have given it, and gives MTCNN's points, for which
  faceprint's alignments and the models calibrated on them were made.
- "intel": Intel's landmarks-regression-retail-0009 (Open Model Zoo, Apache-2.0: weights/LICENSE-landmarks-0009),
  read from its OpenVINO IR by faceprint's own reader (experiments/landmarks_onnx.py): the detector's box enlarged
  1.15 about its centre, as the Zoo's demo crops it, in BGR 0-255.

Crops are cut from the photo at full resolution (not the detector's shrunk input) with MTCNN's own resizing rules
(area averaging for boxes of 48 px and more, bilinear below; outside the photo, mid-grey), over the box's own pixels
only: a face's cost follows its size, not the photo's.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from faceprint.detection.mtcnn import _standardise
from faceprint.errors import InputError
from faceprint.utils.onnx import cpu_session, resolve_threads

WEIGHTS = Path(__file__).resolve().parent / "weights"
RULES = WEIGHTS / "yunet_landmarks.json"
INTEL = "landmarks-regression-retail-0009.onnx"
INTEL_ENLARGE = 1.15
SIZE = 48
MIRROR = [1, 0, 2, 4, 3]  # the five points of a mirrored face: the eyes and the mouth corners swap
# Up to this many crops, one thread runs them one at a time; more, and a session on every thread runs them in one
# batch. One crop per run is the fastest on one thread (O-Net 0.41 ms/face alone, 0.68 in a batch of 38: a batch's
# feature maps leave the cache); a batch is what lets a second thread help (0.31 ms/face on two at 38 faces).
ONE_THREAD_UP_TO = 16


def axis_weights(origin: int, length: int, size: int, limit: int, area: bool) -> tuple[np.ndarray, int]:
    """(size, n) float32 weights that resample the n pixels [start, start + n) of an image axis (the box's span
    [origin, origin + length) cut to [0, limit)) to `size` samples, and `start`: MTCNN's rules (torch's), area
    averaging (bin k covers [floor(k*length/size), ceil((k+1)*length/size)), divided by its whole length: the part
    outside the image counts as the standardised mean, 0) or bilinear (align_corners=False)."""
    start, stop = max(origin, 0), min(origin + length, limit)
    if stop <= start:
        return np.zeros((size, 0), np.float32), start
    k = np.arange(size)
    p = np.arange(start, stop)[None, :] - origin  # the pixels, relative to the box
    if area:
        lo = ((k * length) // size)[:, None]
        hi = (-((-(k + 1) * length) // size))[:, None]
        return (((p >= lo) & (p < hi)) / (hi - lo)).astype(np.float32), start
    src = np.maximum(np.float32(length / size) * (k + np.float32(0.5)) - np.float32(0.5), np.float32(0))
    i0 = np.minimum(np.floor(src).astype(np.int64), length - 1)
    i1 = np.minimum(i0 + 1, length - 1)
    frac = (src - i0).astype(np.float32)[:, None]
    return ((p == i0[:, None]) * (1 - frac) + (p == i1[:, None]) * frac).astype(np.float32), start


def crops(images: list[np.ndarray], boxes: list[np.ndarray], size: int = SIZE) -> np.ndarray:
    """(sum N_i, size, size, 3) MTCNN-standardised crops ((x - 127.5) / 128, RGB) of every box of every image: what
    MTCNN's crop_resize gives (within 1e-5), as two small matrix products over the box's own pixels (resizing is
    separable), which costs a face by its size, not the photo's, and half what an integral image of the face did."""
    out = np.zeros((sum(len(b) for b in boxes), size, size, 3), np.float32)
    n = 0
    for im, bx in zip(images, boxes):
        h, w = im.shape[:2]
        for b in np.round(np.asarray(bx, np.float64)).astype(np.int64):
            n += 1
            if b[2] <= b[0] or b[3] <= b[1]:
                continue  # a box that rounds to nothing covers no pixel: all mid-grey
            area = b[2] - b[0] >= size  # as crop_resize: the box's width decides for both axes
            ry, y0 = axis_weights(int(b[1]), int(b[3] - b[1]), size, h, area)
            rx, x0 = axis_weights(int(b[0]), int(b[2] - b[0]), size, w, area)
            if not ry.shape[1] or not rx.shape[1]:
                continue  # wholly outside the photo
            region = _standardise(im[y0 : y0 + ry.shape[1], x0 : x0 + rx.shape[1]])
            rows = (ry @ region.reshape(ry.shape[1], -1)).reshape(size, rx.shape[1], 3)  # (size, w, 3)
            cols = rx @ rows.transpose(1, 0, 2).reshape(rx.shape[1], -1)  # (size x, size y * 3)
            out[n - 1] = cols.reshape(size, size, 3).transpose(1, 0, 2)
    return out


def square_from_box(boxes: np.ndarray, rule: np.ndarray) -> np.ndarray:
    """(N, 4) detector boxes -> (N, 4) squares: centre moved by rule[0:2] and rule[2:4] (x and y, each as fractions of
    the box's width and height), side rule[4] * width + rule[5] * height."""
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    cx = (b[:, 0] + b[:, 2]) / 2 + rule[0] * w + rule[1] * h
    cy = (b[:, 1] + b[:, 3]) / 2 + rule[2] * w + rule[3] * h
    side = np.maximum(rule[4] * w + rule[5] * h, 1.0)
    return np.stack([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2], 1)


def enlarge(boxes: np.ndarray, factor: float) -> np.ndarray:
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    c, half = (b[:, :2] + b[:, 2:]) / 2, (b[:, 2:] - b[:, :2]) * factor / 2
    return np.concatenate([c - half, c + half], 1)


class LandmarkNet:
    """A 48 px five-point network on a detector's boxes; `points` runs it on every box of every image at once."""

    name = ""

    def __init__(self, path: Path, threads: int | None = None, flip: bool = False) -> None:
        self.flip = flip
        n = resolve_threads(threads)
        try:
            self.single = cpu_session(path, 1)
            self.batched = cpu_session(path, n) if n > 1 else None
        except ImportError:
            raise InputError("the landmark networks run in onnxruntime: pip install onnxruntime") from None
        self.input = self.single.get_inputs()[0].name

    def crop_boxes(self, boxes: np.ndarray) -> np.ndarray:
        """The squares (or boxes) the network sees for these detector boxes."""
        raise NotImplementedError

    def _prepare(self, x: np.ndarray) -> np.ndarray:
        """(N, 48, 48, 3) standardised RGB crops -> the network's input."""
        raise NotImplementedError

    def _unit_points(self, outputs: list[np.ndarray]) -> np.ndarray:
        """The network's outputs -> (N, 5, 2) points in [0, 1] of the crop."""
        raise NotImplementedError

    def _infer(self, x: np.ndarray) -> np.ndarray:
        inp = self._prepare(x)
        if self.batched is not None and len(inp) > ONE_THREAD_UP_TO:
            return self._unit_points(self.batched.run(None, {self.input: inp}))
        return np.concatenate([self._unit_points(self.single.run(None, {self.input: inp[i : i + 1]}))
                               for i in range(len(inp))])

    def points(self, images: list[np.ndarray], boxes: list[np.ndarray]) -> list[np.ndarray]:
        """Per image, (N_i, 5, 2) points in its pixels for its (N_i, 4) detector boxes."""
        cropped = [self.crop_boxes(b) for b in boxes]
        x = crops(images, cropped)
        if not len(x):
            unit = np.zeros((0, 5, 2))
        elif self.flip:  # the mirrored crop's points, mirrored back (left and right swap names), averaged
            both = self._infer(np.concatenate([x, x[:, :, ::-1]]))
            unit, m = both[: len(x)], both[len(x) :, MIRROR]
            m[..., 0] = 1 - m[..., 0]
            unit = (unit + m) / 2
        else:
            unit = self._infer(x)
        out, k = [], 0
        for c in cropped:
            u = unit[k : k + len(c)].astype(np.float64)
            k += len(c)
            out.append(c[:, None, :2] + u * (c[:, None, 2:] - c[:, None, :2]))
        return out


class ONetPoints(LandmarkNet):
    name = "onet"

    def __init__(self, rule: np.ndarray | None = None, threads: int | None = None, flip: bool = False) -> None:
        super().__init__(WEIGHTS / "onet.onnx", threads, flip)
        self.rule = np.asarray(json.loads(RULES.read_text())["onet_box_rule"] if rule is None else rule, np.float64)

    def crop_boxes(self, boxes: np.ndarray) -> np.ndarray:
        return square_from_box(boxes, self.rule)

    def _prepare(self, x: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2))

    def _unit_points(self, outputs: list[np.ndarray]) -> np.ndarray:
        marks = outputs[2]
        return np.stack([marks[:, :5], marks[:, 5:]], 2)  # O-Net gives the five x, then the five y


class IntelPoints(LandmarkNet):
    name = "intel"

    def __init__(self, threads: int | None = None, factor: float = INTEL_ENLARGE, flip: bool = False) -> None:
        super().__init__(WEIGHTS / INTEL, threads, flip)
        self.factor = factor

    def crop_boxes(self, boxes: np.ndarray) -> np.ndarray:
        return enlarge(boxes, self.factor)

    def _prepare(self, x: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray((x[..., ::-1] * np.float32(128) + np.float32(127.5)).transpose(0, 3, 1, 2))

    def _unit_points(self, outputs: list[np.ndarray]) -> np.ndarray:
        return outputs[0].reshape(-1, 5, 2)  # BGR 0-255 in: the Zoo's convention
