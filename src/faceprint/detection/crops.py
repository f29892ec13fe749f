"""The face crop a gallery keeps for each enrolled face, so that it can be embedded again by another model.

A crop is the region around the detected face, wide enough for any of faceprint's alignments to be redone on it
(the widest, LFW's, takes 2.2x the box): a square of CROP_SCALE x the box's longer side about its centre, cut to
the photo (never padded, so a detector sees the photo's own pixels), shrunk so its longer side is at most
CROP_MAX_SIDE pixels, and stored as a JPEG with the face's box and five landmarks in the crop's pixels. A face of
any size is kept at up to ~130 px across: more than any network here takes (dlib's chip: ~100 px of face).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image

from faceprint.detection.detector import Face

CROP_SCALE = 2.5
CROP_MAX_SIDE = 320
CROP_QUALITY = 88


@dataclass
class FaceCrop:
    jpeg: bytes
    box: np.ndarray | None  # (4,) the face in the crop's pixels; None for an image enrolled as a ready crop
    landmarks: np.ndarray | None  # (5, 2) likewise

    def image(self) -> np.ndarray:
        """The crop as an (H, W, 3) uint8 RGB array."""
        with Image.open(io.BytesIO(self.jpeg)) as im:
            return np.asarray(im.convert("RGB"))

    def face(self) -> Face | None:
        """The face as it was detected at enrollment, in the crop's pixels."""
        if self.box is None or self.landmarks is None:
            return None
        return Face(np.asarray(self.box, np.float32), 1.0, np.asarray(self.landmarks, np.float32))


def _jpeg(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=CROP_QUALITY)
    return buf.getvalue()


def face_crop(image: np.ndarray, face: Face) -> FaceCrop:
    """The region around `face` in the RGB photo, as the gallery stores it."""
    h, w = image.shape[:2]
    x1, y1, x2, y2 = (float(v) for v in face.box)
    half = max(x2 - x1, y2 - y1) * CROP_SCALE / 2
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    left, top = max(0, int(np.floor(cx - half))), max(0, int(np.floor(cy - half)))
    right, bottom = min(w, int(np.ceil(cx + half))), min(h, int(np.ceil(cy + half)))
    region = image[top:bottom, left:right]
    scale = min(1.0, CROP_MAX_SIDE / max(region.shape[:2]))
    if scale < 1.0:
        size = (max(1, round(region.shape[1] * scale)), max(1, round(region.shape[0] * scale)))
        region = np.asarray(Image.fromarray(region).resize(size, Image.Resampling.LANCZOS))
        sx, sy = region.shape[1] / (right - left), region.shape[0] / (bottom - top)
    else:
        sx = sy = 1.0
    shift, stretch = np.array([left, top], np.float64), np.array([sx, sy])
    box = ((np.asarray(face.box, np.float64).reshape(2, 2) - shift) * stretch).ravel()
    landmarks = (np.asarray(face.landmarks, np.float64) - shift) * stretch
    return FaceCrop(_jpeg(np.ascontiguousarray(region)), box.astype(np.float32), landmarks.astype(np.float32))


def image_crop(image: np.ndarray) -> FaceCrop:
    """An image enrolled as a ready face crop: kept whole (shrunk like a face crop), with no detection to record."""
    scale = min(1.0, CROP_MAX_SIDE / max(image.shape[:2]))
    if scale < 1.0:
        size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
        image = np.asarray(Image.fromarray(image).resize(size, Image.Resampling.LANCZOS))
    return FaceCrop(_jpeg(np.ascontiguousarray(image)), None, None)


THUMBNAIL_SIDE = 160


def thumbnail(crop: FaceCrop, side: int = THUMBNAIL_SIDE) -> bytes:
    """A square JPEG of the face for people to look at: its box widened by half, kept inside the crop (shifted, not
    padded), `side` pixels across. An image enrolled as a ready crop is shown whole, centre-cut to a square."""
    with Image.open(io.BytesIO(crop.jpeg)) as im:
        rgb = im.convert("RGB")
    w, h = rgb.size
    if crop.box is not None:
        x1, y1, x2, y2 = (float(v) for v in crop.box)
        cx, cy, half = (x1 + x2) / 2, (y1 + y2) / 2, max(x2 - x1, y2 - y1) * 0.75
    else:
        cx, cy, half = w / 2, h / 2, min(w, h) / 2
    half = min(half, w / 2, h / 2)
    left, top = min(max(0.0, cx - half), w - 2 * half), min(max(0.0, cy - half), h - 2 * half)
    face = rgb.resize((side, side), Image.Resampling.LANCZOS, box=(left, top, left + 2 * half, top + 2 * half))
    buf = io.BytesIO()
    face.save(buf, format="JPEG", quality=85)
    return buf.getvalue()
