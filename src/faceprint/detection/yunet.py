"""YuNet (Wu, Peng, Yu, "YuNet: A Tiny Millisecond-level Face Detector", Machine Intelligence Research 2023): a face
detector of 55-76 k parameters with five landmarks, run by onnxruntime from the ONNX files faceprint ships
(detection/weights/yunet_*.onnx, Apache-2.0, from ShiqiYu/libfacedetection.train; LICENSE-yunet beside them).

The network sees the photo in BGR, 0-255, padded at the bottom and right to a multiple of 32. Its head is
anchor-free with one prior per cell at strides 8, 16 and 32: per cell a class and an objectness probability (the
score is their geometric mean), a box (centre offset and log size, in strides) and five points (offsets in strides
from the cell). Boxes over the score threshold go through non-maximum suppression. Decoded as OpenCV's
`cv2.FaceDetectorYN` decodes the same network (tests/detection/test_yunet.py holds the two within a pixel). The five
points are then mapped onto where MTCNN puts its own (a linear map fitted on the CelebA subset,
weights/yunet_landmarks.json, benchmarks/yunet_landmarks.py): faceprint's alignments and the models calibrated on
them were made for MTCNN's points, and YuNet's own sit elsewhere (its mouth corners by ~6% of the eye distance).

Input size: a photo whose long side is over `max_side` is shrunk to it, unless that would make a face of `min_face`
pixels smaller than MIN_FACE_AT_INPUT, the size YuNet still finds; so asking for small faces in a large photo keeps
the resolution they need. Photos of one input size are detected in one batch.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from faceprint.detection.alignment import regress_points
from faceprint.detection.detector import Detector, Face
from faceprint.errors import InputError
from faceprint.utils.onnx import cpu_session

WEIGHTS = Path(__file__).resolve().parent / "weights"
VARIANTS = {"s": "yunet_s_dynamic.onnx", "n": "yunet_n_dynamic.onnx"}
LANDMARK_MAP = "yunet_landmarks.json"
STRIDES = (8, 16, 32)
MIN_FACE_AT_INPUT = 12.0  # pixels: the smallest faces YuNet's stride-8 head finds reliably


class YuNet(Detector):
    name = "yunet"

    def __init__(self, min_face: float = 20.0, variant: str = "s", score_threshold: float = 0.6,
                 nms_threshold: float = 0.3, max_side: int = 640, threads: int | None = None,
                 map_landmarks: bool = True) -> None:
        if variant not in VARIANTS:
            raise InputError(f"YuNet variant must be one of {sorted(VARIANTS)}, got {variant!r}")
        if min_face <= 0 or max_side < 32:
            raise InputError(f"min_face must be > 0 and max_side >= 32, got {min_face} and {max_side}")
        try:
            self.session = cpu_session(WEIGHTS / VARIANTS[variant], threads)
        except ImportError:
            raise InputError("the YuNet detector runs in onnxruntime: pip install onnxruntime") from None
        self.outputs = [o.name for o in self.session.get_outputs()]
        self.min_face, self.variant = min_face, variant
        self.score_threshold, self.nms_threshold, self.max_side = score_threshold, nms_threshold, max_side
        # YuNet's own five points differ from MTCNN's, for which faceprint's alignments and calibrated models were
        # made: by default they are mapped onto MTCNN's (a linear map fitted by benchmarks/yunet_landmarks.py)
        self.landmark_map: tuple[np.ndarray, np.ndarray] | None = None
        if map_landmarks:
            p = json.loads((WEIGHTS / LANDMARK_MAP).read_text())
            self.landmark_map = (np.asarray(p["yunet_template"]), np.asarray(p["regression"]))

    def settings(self) -> dict:
        """What a record of detections should say about the detector that made them."""
        return {"detector": self.name, "variant": self.variant, "min_face": self.min_face,
                "score_threshold": self.score_threshold, "nms_threshold": self.nms_threshold,
                "max_side": self.max_side, "landmarks": "mapped to MTCNN's" if self.landmark_map else "own"}

    def scale_for(self, shape: tuple[int, ...]) -> float:
        """The factor a photo of this shape is resized by before detection (<= 1)."""
        long_side = max(shape[:2])
        shrink = min(1.0, self.max_side / long_side)
        keep_small_faces = min(1.0, MIN_FACE_AT_INPUT / self.min_face)
        return max(shrink, keep_small_faces)

    def detect(self, images: list[np.ndarray]) -> list[list[Face]]:
        """(H, W, 3) uint8 RGB images -> their faces, best first; photos of one input size in one batch."""
        out: list[list[Face]] = [[] for _ in images]
        groups: dict[tuple[int, int], list[int]] = {}
        inputs = []
        for i, im in enumerate(images):
            if im.ndim != 3 or im.shape[2] != 3:
                raise InputError(f"expected an (H, W, 3) RGB image, got shape {im.shape}")
            s = self.scale_for(im.shape)
            size = (max(1, round(im.shape[1] * s)), max(1, round(im.shape[0] * s)))
            small = im if size == (im.shape[1], im.shape[0]) else np.asarray(
                Image.fromarray(im).resize(size, Image.Resampling.BILINEAR))
            inputs.append((small, im.shape[1] / size[0], im.shape[0] / size[1]))
            groups.setdefault((small.shape[0], small.shape[1]), []).append(i)
        for (h, w), members in groups.items():
            ph, pw = -(-h // 32) * 32, -(-w // 32) * 32
            batch = np.zeros((len(members), 3, ph, pw), np.float32)
            for k, i in enumerate(members):
                batch[k, :, :h, :w] = inputs[i][0][..., ::-1].transpose(2, 0, 1)  # RGB -> BGR, channels first
            res = dict(zip(self.outputs, self.session.run(self.outputs, {"input": batch})))
            for k, i in enumerate(members):
                _, sx, sy = inputs[i]
                out[i] = self._decode(res, k, ph, pw, sx, sy)
        return out

    def _decode(self, res: dict[str, np.ndarray], k: int, h: int, w: int, sx: float, sy: float) -> list[Face]:
        boxes, points, scores = [], [], []
        for s in STRIDES:
            cols = w // s
            cls = np.clip(res[f"cls_{s}"][k, :, 0], 0, 1)
            obj = np.clip(res[f"obj_{s}"][k, :, 0], 0, 1)
            score = np.sqrt(cls * obj)
            keep = np.flatnonzero(score >= self.score_threshold)
            if not len(keep):
                continue
            r, c = np.divmod(keep, cols)
            bb = res[f"bbox_{s}"][k, keep].astype(np.float64)
            kp = res[f"kps_{s}"][k, keep].astype(np.float64).reshape(-1, 5, 2)
            cx, cy = (c + bb[:, 0]) * s, (r + bb[:, 1]) * s
            bw, bh = np.exp(bb[:, 2]) * s, np.exp(bb[:, 3]) * s
            boxes.append(np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], 1))
            points.append(np.stack([(kp[..., 0] + c[:, None]) * s, (kp[..., 1] + r[:, None]) * s], -1))
            scores.append(score[keep])
        if not scores:
            return []
        box, pts, sc = np.concatenate(boxes), np.concatenate(points), np.concatenate(scores)
        order = nms(box, sc, self.nms_threshold)
        scale = np.array([sx, sy])
        faces = []
        for i in order:
            points = pts[i] * scale
            if self.landmark_map is not None:
                points = regress_points(points, *self.landmark_map)
            faces.append(Face((box[i].reshape(2, 2) * scale).ravel().astype(np.float32), float(sc[i]),
                              points.astype(np.float32)))
        return faces


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> list[int]:
    """Indices kept by greedy non-maximum suppression (intersection over union above `threshold`), best first."""
    order = np.argsort(-scores, kind="stable")
    area = np.maximum(0, boxes[:, 2] - boxes[:, 0]) * np.maximum(0, boxes[:, 3] - boxes[:, 1])
    keep: list[int] = []
    while len(order):
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        w = np.maximum(0, np.minimum(boxes[i, 2], boxes[rest, 2]) - np.maximum(boxes[i, 0], boxes[rest, 0]))
        h = np.maximum(0, np.minimum(boxes[i, 3], boxes[rest, 3]) - np.maximum(boxes[i, 1], boxes[rest, 1]))
        inter = w * h
        iou = inter / np.maximum(area[i] + area[rest] - inter, 1e-12)
        order = rest[iou <= threshold]
    return keep
