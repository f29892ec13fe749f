"""Synthetic faces: drawn identities with per-image pose, light and expression changes.

For tests and the first-run demo on a machine without real face data. Each identity is a fixed set of shape and
colour parameters; each image moves, scales, rotates, relights and adds noise, so telling identities apart takes
a learned embedding, not pixel matching.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter


def _identity(rng: np.random.Generator) -> dict:
    return {
        "skin": rng.uniform([90, 60, 40], [240, 200, 170]),
        "hair": rng.uniform(0, 255, 3) * rng.uniform(0.2, 1.0),
        "iris": rng.uniform(0, 200, 3),
        "face_w": rng.uniform(0.30, 0.40),
        "face_h": rng.uniform(0.40, 0.50),
        "eye_dx": rng.uniform(0.10, 0.18),
        "eye_y": rng.uniform(-0.12, -0.02),
        "eye_r": rng.uniform(0.03, 0.06),
        "brow_tilt": rng.uniform(-0.04, 0.04),
        "nose_len": rng.uniform(0.06, 0.16),
        "mouth_w": rng.uniform(0.10, 0.22),
        "mouth_y": rng.uniform(0.16, 0.26),
        "hair_h": rng.uniform(0.05, 0.25),
        "beard": bool(rng.random() < 0.3),
    }


def _draw(p: dict, rng: np.random.Generator, size: int) -> Image.Image:
    s = size * 2  # draw at 2x and downsample: cheap anti-aliasing
    bg = tuple(int(v) for v in rng.uniform(0, 255, 3))
    img = Image.new("RGB", (s, s), bg)
    d = ImageDraw.Draw(img)
    cx = s / 2 + rng.normal(0, 0.03) * s
    cy = s / 2 + rng.normal(0, 0.03) * s
    k = 0.62 * s * rng.uniform(0.92, 1.08)  # face about 45% of the image, like LFW's 2.2x boxes

    def P(x: float, y: float) -> tuple[float, float]:
        return (cx + x * k, cy + y * k)

    def col(c: np.ndarray) -> tuple[int, ...]:
        return tuple(int(v) for v in np.clip(c, 0, 255))

    fw, fh = p["face_w"], p["face_h"]
    d.ellipse([P(-fw, -fh - p["hair_h"] * 0.5), P(fw, fh * 0.2)], fill=col(p["hair"]))
    d.ellipse([P(-fw * 0.92, -fh * 0.9), P(fw * 0.92, fh)], fill=col(p["skin"]))
    if p["beard"]:
        d.chord([P(-fw * 0.9, -fh * 0.2), P(fw * 0.9, fh)], 20, 160, fill=col(p["hair"]))
    for side in (-1, 1):
        ex, ey, r = side * p["eye_dx"], p["eye_y"], p["eye_r"]
        d.ellipse([P(ex - r * 1.6, ey - r), P(ex + r * 1.6, ey + r)], fill=(245, 245, 245))
        gaze = rng.normal(0, 0.25) * r
        d.ellipse([P(ex - r * 0.7 + gaze, ey - r * 0.7), P(ex + r * 0.7 + gaze, ey + r * 0.7)], fill=col(p["iris"]))
        by = ey - r * 2.2
        d.line([P(ex - r * 1.8, by - side * p["brow_tilt"]), P(ex + r * 1.8, by + side * p["brow_tilt"])],
               fill=col(p["hair"] * 0.7), width=max(1, int(0.02 * k)))
    d.line([P(0, p["eye_y"] + 0.02), P(0.02, p["eye_y"] + 0.02 + p["nose_len"])], fill=col(p["skin"] * 0.6),
           width=max(1, int(0.015 * k)))
    smile = rng.uniform(-0.03, 0.05)
    mw, my = p["mouth_w"], p["mouth_y"]
    d.arc([P(-mw, my - 0.04 - smile), P(mw, my + 0.04 + smile)], 10, 170, fill=(120, 30, 40),
          width=max(1, int(0.02 * k)))
    img = img.rotate(rng.uniform(-10, 10), resample=Image.Resampling.BILINEAR, fillcolor=bg)
    img = img.resize((size, size), Image.Resampling.BILINEAR, reducing_gap=2.0)
    a = np.asarray(img, dtype=np.float32)
    a = a * rng.uniform(0.75, 1.25) + rng.normal(0, 6, a.shape)  # light and sensor noise
    img = Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))
    if rng.random() < 0.3:
        img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.2)))
    return img


def make_synthetic_faces(
    root: str | Path, identities: int = 20, images_per_identity: int = 10, size: int = 112, seed: int = 0
) -> Path:
    """Write ROOT/<id_NNN>/<NNN>.jpg and return ROOT. The faces are drawn centred and scaled as LFW's crops are,
    and ROOT/alignment.json says so (method "lfw"), as `faceprint align` would."""
    from faceprint.data.alignment import write_alignment

    root = Path(root)
    rng = np.random.default_rng(seed)
    for i in range(identities):
        params = _identity(rng)
        folder = root / f"id_{i:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        for j in range(images_per_identity):
            _draw(params, rng, size).save(folder / f"{j:03d}.jpg", quality=92)
    write_alignment(root, "lfw", size)
    return root
