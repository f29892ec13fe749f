"""From a detected face to the crop a model expects.

Three alignments, chosen by the model's config so that training and use see the same crops:
- "lfw": a square 2.2x the detector box about its centre, as LFW's and the CelebA subset's images were cut; models
  trained on such folders (preprocessing "centre_crop") then apply their own centre crop.
- "box": the FaceNet-port crop: the detector box, squared, plus `margin` output pixels, resized to the output size.
- "five_point": a similarity transform (rotation, scale, shift) of the five landmarks onto a canonical template
  (the common 112 x 112 one, scaled to the output size).
- "five_point_reid": the same onto the template of Intel's face-reidentification networks (Open Model Zoo), a
  tighter crop than the 112 px one: the eyes at 46% of the height, the mouth at 82%.
- "dlib_chip": dlib's 150 x 150 face chip (`dlib.get_face_chip(img, shape, 150, 0.25)`), for dlib's network:
  MTCNN's points are mapped to where dlib's 5-point model would put its own (a linear map fitted on CelebA
  photos by benchmarks/dlib_chip_template.py, stored in weights/dlib_chip.json), then dlib's chip rule applies.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from faceprint.detection.detector import Face
from faceprint.errors import InputError

DLIB_CHIP_FILE = Path(__file__).with_name("weights") / "dlib_chip.json"

ALIGNMENTS = ("lfw", "box", "five_point", "five_point_reid", "dlib_chip")
LFW_EXPANSION = 2.2

# Eyes, nose tip, mouth corners in a 112 x 112 crop: the template used by most 5-point face pipelines.
FACENET_TEMPLATE_112 = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]]
)

# The same points for face-reidentification-retail-0095, in [0, 1] of its crop (its README).
REID_TEMPLATE_UNIT = np.array(
    [[0.31556875, 0.46157411], [0.68262292, 0.46157411], [0.50026250, 0.64050536], [0.34947188, 0.82469196],
     [0.65343646, 0.82469196]]
)


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 2 x 3 matrix of the least-squares similarity (Umeyama 1991) taking points `src` onto `dst`."""
    src, dst = np.asarray(src, np.float64), np.asarray(dst, np.float64)
    if src.shape != dst.shape or src.ndim != 2 or src.shape[1] != 2 or len(src) < 2:
        raise ValueError(f"need two matching (N >= 2, 2) point sets, got {src.shape} and {dst.shape}")
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    u, sigma, vt = np.linalg.svd(d.T @ s / len(src))
    flip = np.diag([1.0, np.sign(np.linalg.det(u) * np.linalg.det(vt)) or 1.0])
    rot = u @ flip @ vt
    var = (s**2).sum() / len(src)
    scale = float(np.trace(np.diag(sigma) @ flip) / var) if var > 0 else 1.0
    return np.hstack([scale * rot, (mu_d - scale * rot @ mu_s)[:, None]])


def _crop_square(image: np.ndarray, cx: float, cy: float, side: float, size: int) -> np.ndarray:
    """A side x side square about (cx, cy), resized to size x size; outside the photo is black."""
    h, w = image.shape[:2]
    x1, y1 = cx - side / 2, cy - side / 2
    pad = int(np.ceil(max(0.0, -x1, -y1, x1 + side - w, y1 + side - h))) + 1
    img = Image.fromarray(np.pad(image, ((pad, pad), (pad, pad), (0, 0))) if pad > 1 else image)
    off = pad if pad > 1 else 0
    box = (x1 + off, y1 + off, x1 + side + off, y1 + side + off)
    return np.asarray(img.resize((size, size), Image.Resampling.BILINEAR, box=box, reducing_gap=2.0))


def align_box(image: np.ndarray, box: np.ndarray, size: int, margin: float = 32.0) -> np.ndarray:
    """FaceNet-port crop: the box squared, with `margin` of the `size` output pixels around the face."""
    if not 0 <= margin < size:
        raise InputError(f"margin must be in [0, size), got {margin}")
    side = max(box[2] - box[0], box[3] - box[1])
    return _crop_square(image, (box[0] + box[2]) / 2, (box[1] + box[3]) / 2, side * size / (size - margin), size)


def align_lfw(image: np.ndarray, box: np.ndarray, size: int) -> np.ndarray:
    side = max(box[2] - box[0], box[3] - box[1]) * LFW_EXPANSION
    return _crop_square(image, (box[0] + box[2]) / 2, (box[1] + box[3]) / 2, side, size)


def warp(image: np.ndarray, m: np.ndarray, size: int) -> np.ndarray:
    """The size x size image of the 2 x 3 similarity `m` (image -> output pixels), bilinear; outside is black."""
    scale = float(np.sqrt(abs(np.linalg.det(m[:, :2]))))
    if scale < 0.7:
        # Bilinear sampling skips pixels when it shrinks a lot (aliasing): first shrink with an area filter so
        # the warp itself scales by ~0.85, as dlib cuts its chips from an image pyramid.
        h, w = image.shape[:2]
        small = (max(1, round(w * scale / 0.85)), max(1, round(h * scale / 0.85)))
        image = np.asarray(Image.fromarray(image).resize(small, Image.Resampling.BOX))
        fx, fy = small[0] / w, small[1] / h  # pixel centres: x_small = (x + 0.5) * fx - 0.5
        back = np.array([[1 / fx, 0, 0.5 / fx - 0.5], [0, 1 / fy, 0.5 / fy - 0.5], [0, 0, 1]])
        m = m @ back
    inv = np.linalg.inv(np.vstack([m, [0, 0, 1]]))[:2]  # Pillow maps output pixels back to input pixels
    image, inv = _around(image, inv, size)
    img = Image.fromarray(image).transform((size, size), Image.Transform.AFFINE, data=tuple(inv.ravel()),
                                           resample=Image.Resampling.BILINEAR)
    return np.asarray(img)


def _around(image: np.ndarray, inv: np.ndarray, size: int, margin: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """The part of `image` the warp samples (the output square mapped back, plus `margin` pixels, cut to the image)
    and the map moved onto it by a whole number of pixels: bilinear sampling sees the same pixels at the same
    offsets, so the output is the same to the bit (tested), without copying a whole frame for each face."""
    h, w = image.shape[:2]
    corners = inv @ np.array([[0, size, 0, size], [0, 0, size, size], [1, 1, 1, 1]], np.float64)
    x0, y0 = (max(0, int(np.floor(v)) - margin) for v in corners.min(1))
    x1, y1 = min(w, int(np.ceil(corners[0].max())) + margin), min(h, int(np.ceil(corners[1].max())) + margin)
    if x1 - x0 < 1 or y1 - y0 < 1 or (x1 - x0) * (y1 - y0) >= h * w:
        return image, inv  # the face lies outside the frame, or the region is the whole frame anyway
    moved = inv.copy()
    moved[:, 2] -= (x0, y0)
    return np.ascontiguousarray(image[y0:y1, x0:x1]), moved


def align_five_point(image: np.ndarray, landmarks: np.ndarray, size: int,
                     template: np.ndarray = FACENET_TEMPLATE_112) -> np.ndarray:
    """Warp so the five landmarks land on the template (scaled from 112 px to `size`)."""
    return warp(image, similarity_transform(landmarks, template * (size / 112.0)), size)


def align_five_point_reid(image: np.ndarray, landmarks: np.ndarray, size: int = 128) -> np.ndarray:
    """Warp so the five landmarks land on the face-reidentification template, scaled to `size`."""
    return warp(image, similarity_transform(landmarks, REID_TEMPLATE_UNIT * size), size)


@lru_cache(maxsize=1)
def _dlib_chip_params() -> dict:
    return json.loads(DLIB_CHIP_FILE.read_text())


def regress_points(landmarks: np.ndarray, template: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Five points of another definition predicted from these, in the image: a linear map `w` (11 x 10, fitted by
    a benchmark script) applied in the frame where the points best match `template` (their mean shape there)."""
    lm = np.asarray(landmarks, np.float64)
    t = similarity_transform(lm, template)  # image -> the frame the map was fitted in
    x = (lm @ t[:, :2].T + t[:, 2]).ravel() - template.ravel()
    frame = (np.append(x, 1.0) @ w).reshape(5, 2)
    t_inv = np.linalg.inv(np.vstack([t, [0, 0, 1]]))[:2]
    return frame @ t_inv[:, :2].T + t_inv[:, 2]


def dlib_chip_transform(landmarks: np.ndarray, params: dict | None = None, size: int = 150) -> np.ndarray:
    """Image -> dlib chip similarity from MTCNN's five points: predict dlib's five points, then dlib's rule."""
    p = params or _dlib_chip_params()
    dlib_image = regress_points(landmarks, np.asarray(p["mtcnn_template"]), np.asarray(p["regression"]))
    return similarity_transform(dlib_image, np.asarray(p["dlib_template"]) * (size / 150.0))


def align_dlib_chip(image: np.ndarray, landmarks: np.ndarray, size: int = 150) -> np.ndarray:
    return warp(image, dlib_chip_transform(landmarks, size=size), size)


def align_face(image: np.ndarray, face: Face, method: str, size: int, margin: float = 32.0) -> np.ndarray:
    if method == "lfw":
        return align_lfw(image, face.box, size)
    if method == "box":
        return align_box(image, face.box, size, margin)
    if method == "five_point":
        return align_five_point(image, face.landmarks, size)
    if method == "five_point_reid":
        return align_five_point_reid(image, face.landmarks, size)
    if method == "dlib_chip":
        return align_dlib_chip(image, face.landmarks, size)
    raise InputError(f"alignment must be one of {ALIGNMENTS}, got {method!r}")
