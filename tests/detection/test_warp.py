"""`warp` samples only the part of the frame around the face: the same bits as warping the whole frame."""

from __future__ import annotations

import numpy as np
from PIL import Image

from faceprint.data import read_image
from faceprint.detection.alignment import warp


def _whole_frame_warp(image: np.ndarray, m: np.ndarray, size: int) -> np.ndarray:
    """The reference: the whole frame handed to Pillow, as warp did before it cut the region out."""
    scale = float(np.sqrt(abs(np.linalg.det(m[:, :2]))))
    if scale < 0.7:
        h, w = image.shape[:2]
        small = (max(1, round(w * scale / 0.85)), max(1, round(h * scale / 0.85)))
        image = np.asarray(Image.fromarray(image).resize(small, Image.Resampling.BOX))
        fx, fy = small[0] / w, small[1] / h
        m = m @ np.array([[1 / fx, 0, 0.5 / fx - 0.5], [0, 1 / fy, 0.5 / fy - 0.5], [0, 0, 1]])
    inv = np.linalg.inv(np.vstack([m, [0, 0, 1]]))[:2]
    return np.asarray(Image.fromarray(image).transform((size, size), Image.Transform.AFFINE, data=tuple(inv.ravel()),
                                                       resample=Image.Resampling.BILINEAR))


def test_warp_equals_warping_the_whole_frame(photos):
    rng = np.random.default_rng(0)
    frames = [read_image(p) for p in sorted(photos.glob("*/*.jpg"))[::3]]
    frames.append(np.concatenate([np.concatenate(frames[:4], 1)] * 3, 0))  # a large frame of several faces
    for image in frames:
        h, w = image.shape[:2]
        for _ in range(40):  # faces anywhere: inside, across an edge or a corner, outside; shrunk and enlarged
            angle, scale = rng.uniform(-np.pi, np.pi), rng.uniform(0.3, 3.0)
            size = int(rng.choice([112, 128, 150]))
            c, s = scale * np.cos(angle), scale * np.sin(angle)
            centre = rng.uniform(-0.2, 1.2, 2) * (w, h)
            m = np.array([[c, -s, 0.0], [s, c, 0.0]])
            m[:, 2] = size / 2 - m[:, :2] @ centre
            np.testing.assert_array_equal(warp(image, m, size), _whole_frame_warp(image, m, size))
