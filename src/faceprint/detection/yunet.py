"""YuNet (Wu, Peng, Yu, "YuNet: A Tiny Millisecond-level Face Detector", Machine Intelligence Research 2023): a face
detector of 55-76 k parameters with five landmarks, run by onnxruntime from the ONNX files faceprint ships
(detection/weights/yunet_*.onnx, Apache-2.0, from ShiqiYu/libfacedetection.train; LICENSE-yunet beside them).

The network sees the photo in BGR, 0-255, padded at the bottom and right to a multiple of 32. Its head is
anchor-free with one prior per cell at strides 8, 16 and 32: per cell a class and an objectness probability (the
score is their geometric mean), a box (centre offset and log size, in strides) and five points (offsets in strides
from the cell). Boxes over the score threshold go through non-maximum suppression. Decoded as OpenCV's
`cv2.FaceDetectorYN` decodes the same network (tests/detection/test_yunet.py holds the two within a pixel).

The five points: faceprint's alignments and the models calibrated on them were made for MTCNN's points, and YuNet's
own sit elsewhere (a median 16% of the inter-ocular distance from MTCNN's on LFW; no linear map takes them closer
than 15.7%). By default MTCNN's own O-Net gives them, run on a square placed from YuNet's box by a fitted rule and on
its mirror image, the two averaged (detection/landmarks.py): 4.4% from MTCNN's once, and on the accuracy figures of
docs/benchmarks.md ("YuNet as the default detector") as good as MTCNN's. `landmarks` picks another source ("onet":
one pass; "intel": Intel's landmarks-0009; "mapped": YuNet's own mapped linearly; "own").

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
from faceprint.detection.landmarks import IntelPoints, LandmarkNet, ONetPoints
from faceprint.errors import InputError
from faceprint.utils.onnx import cpu_session

WEIGHTS = Path(__file__).resolve().parent / "weights"
VARIANTS = {"s": "yunet_s_dynamic.onnx", "n": "yunet_n_dynamic.onnx"}
LANDMARK_MAP = "yunet_landmarks.json"
STRIDES = (8, 16, 32)
# where the five points come from: a landmark network on YuNet's box (O-Net on the crop and its mirror, O-Net once,
# Intel's landmarks-0009), YuNet's own points mapped linearly onto MTCNN's, or YuNet's own as they are
LANDMARKS = ("onet-flip", "onet", "intel", "mapped", "own")
MIN_FACE_AT_INPUT = 12.0  # pixels: the smallest faces YuNet's stride-8 head finds reliably


class YuNet(Detector):
    name = "yunet"

    def __init__(self, min_face: float = 20.0, variant: str = "s", score_threshold: float = 0.6,
                 nms_threshold: float = 0.3, max_side: int = 640, threads: int | None = None,
                 landmarks: str = "onet-flip", second_pass: bool = True) -> None:
        if variant not in VARIANTS:
            raise InputError(f"YuNet variant must be one of {sorted(VARIANTS)}, got {variant!r}")
        if min_face <= 0 or max_side < 32:
            raise InputError(f"min_face must be > 0 and max_side >= 32, got {min_face} and {max_side}")
        try:
            self.session = cpu_session(WEIGHTS / VARIANTS[variant], threads)
        except ImportError:
            raise InputError("the YuNet detector runs in onnxruntime: pip install onnxruntime") from None
        if landmarks not in LANDMARKS:
            raise InputError(f"YuNet's landmarks must be one of {LANDMARKS}, got {landmarks!r}")
        self.outputs = [o.name for o in self.session.get_outputs()]
        self.min_face, self.variant, self.second_pass = min_face, variant, second_pass
        self.score_threshold, self.nms_threshold, self.max_side = score_threshold, nms_threshold, max_side
        # YuNet's own five points differ from MTCNN's, for which faceprint's alignments and calibrated models were
        # made: a landmark network refines them on YuNet's boxes (detection/landmarks.py), or a linear map
        # (fitted by benchmarks/yunet_landmarks.py) moves them onto MTCNN's
        self.landmarks = landmarks
        self.landmark_map: tuple[np.ndarray, np.ndarray] | None = None
        self.refiner: LandmarkNet | None = None
        if landmarks == "mapped":
            p = json.loads((WEIGHTS / LANDMARK_MAP).read_text())
            self.landmark_map = (np.asarray(p["yunet_template"]), np.asarray(p["regression"]))
        elif landmarks == "onet":
            self.refiner = ONetPoints(threads=threads)
        elif landmarks == "onet-flip":
            self.refiner = ONetPoints(threads=threads, flip=True)
        elif landmarks == "intel":
            self.refiner = IntelPoints(threads=threads)

    def settings(self) -> dict:
        """What a record of detections should say about the detector that made them."""
        return {"detector": self.name, "variant": self.variant, "min_face": self.min_face,
                "score_threshold": self.score_threshold, "nms_threshold": self.nms_threshold,
                "max_side": self.max_side, "landmarks": self.landmarks, "second_pass": self.second_pass}

    def recipe(self) -> tuple[type, dict]:
        return type(self), {"min_face": self.min_face, "variant": self.variant, "score_threshold": self.score_threshold,
                            "nms_threshold": self.nms_threshold, "max_side": self.max_side, "landmarks": self.landmarks,
                            "second_pass": self.second_pass}

    def scale_for(self, shape: tuple[int, ...]) -> float:
        """The factor a photo of this shape is resized by before detection (<= 1)."""
        long_side = max(shape[:2])
        shrink = min(1.0, self.max_side / long_side)
        keep_small_faces = min(1.0, MIN_FACE_AT_INPUT / self.min_face)
        return max(shrink, keep_small_faces)

    def detect(self, images: list[np.ndarray]) -> list[list[Face]]:
        """(H, W, 3) uint8 RGB images -> their faces, best first; the landmark network gets all their faces at once."""
        for im in images:
            if im.ndim != 3 or im.shape[2] != 3:
                raise InputError(f"expected an (H, W, 3) RGB image, got shape {im.shape}")
        scales = [self.scale_for(im.shape) for im in images]
        out = self._detect_at(images, scales)
        if self.second_pass:
            # a photo without a face is looked at again at twice the scale where that stays within max_side (small
            # photos): YuNet misses some faces that fill a small frame, or are blurred (the CelebA subset's 200 px
            # photos: 16 of 6,277 without a face, 9 after this pass). Frames and large photos are never looked at
            # twice, so a video or a folder of photos without faces pays nothing for it.
            again = [i for i, faces in enumerate(out)
                     if not faces and 2 * scales[i] * max(images[i].shape[:2]) <= self.max_side]
            if again:
                for i, faces in zip(again, self._detect_at([images[i] for i in again], [2 * scales[i] for i in again])):
                    out[i] = faces
        if self.refiner is not None:  # every face of every photo in one call of the landmark network
            found = [(im, faces) for im, faces in zip(images, out) if faces]
            points = self.refiner.points([im for im, _ in found], [np.stack([f.box for f in faces])
                                                                   for _, faces in found])
            for (_, faces), pts in zip(found, points):
                for f, p in zip(faces, pts):
                    f.landmarks = p.astype(np.float32)
        return out

    def _detect_at(self, images: list[np.ndarray], scales: list[float]) -> list[list[Face]]:
        """Each image resized by its scale (Pillow, bilinear) and detected, one image per run: batching photos of one
        size made YuNet slower per photo, not faster (1 thread: 256 x 256 1.80 ms alone, 2.64 in a batch of 16;
        640 x 480 8.5 against 11.4 ms), its feature maps falling out of the cache."""
        out: list[list[Face]] = []
        for im, s in zip(images, scales):
            size = (max(1, round(im.shape[1] * s)), max(1, round(im.shape[0] * s)))
            small = im if size == (im.shape[1], im.shape[0]) else np.asarray(
                Image.fromarray(im).resize(size, Image.Resampling.BILINEAR))
            h, w = small.shape[:2]
            ph, pw = -(-h // 32) * 32, -(-w // 32) * 32
            x = np.zeros((1, 3, ph, pw), np.float32)
            x[0, :, :h, :w] = small[..., ::-1].transpose(2, 0, 1)  # RGB -> BGR, channels first
            res = dict(zip(self.outputs, self.session.run(self.outputs, {"input": x})))
            out.append(self._decode(res, 0, ph, pw, im.shape[1] / size[0], im.shape[0] / size[1]))
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
