"""Reading any image a user has into RGB uint8, or a clear error naming the file."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".pgm", ".ppm", ".pbm", ".pnm", ".bmp", ".webp", ".tif", ".tiff"})


class ImageReadError(ValueError):
    """An image that cannot be decoded; the message names the file and the reason."""

    def __init__(self, path: str | Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason

    def __reduce__(self) -> tuple:  # rebuilt from (path, reason), e.g. when a worker process sends it back
        return type(self), (self.path, self.reason)


def is_image_file(path: str | Path) -> bool:
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def _to_rgb(img: Image.Image) -> Image.Image:
    """Every mode Pillow decodes (grayscale, palette, alpha, CMYK, 16/32-bit, float) as 8-bit RGB."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        a = np.asarray(img, dtype=np.float64)
        # 16-bit files use 0..65535; 32-bit ints and floats have no fixed range, so stretch what is there.
        top = 65535.0 if img.mode.startswith("I;16") or (img.mode == "I" and a.max() > 255) else 255.0
        if img.mode == "F" or a.max() > 65535:
            lo, hi = float(a.min()), float(a.max())
            a, top = a - lo, max(hi - lo, 1e-12)
        gray = np.clip(a * (255.0 / top) + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(gray, "L").convert("RGB")
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        # Transparent areas become white, as a viewer shows them, not the black of dropped alpha.
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")


def read_image(path: str | Path) -> np.ndarray:
    """(H, W, 3) uint8 RGB with EXIF orientation applied; raises ImageReadError for anything unreadable."""
    path = Path(path)
    if not path.is_file():
        raise ImageReadError(path, "no such file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow warns on odd EXIF; the image itself is still fine
            with Image.open(path) as img:
                img.load()
                img = ImageOps.exif_transpose(img) or img
                rgb = _to_rgb(img)
    except UnidentifiedImageError:
        raise ImageReadError(path, "not an image Pillow can read") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise ImageReadError(path, f"corrupt or truncated image ({e})") from None
    a = np.asarray(rgb, dtype=np.uint8)
    if a.ndim != 3 or a.shape[0] < 2 or a.shape[1] < 2:
        raise ImageReadError(path, f"image too small ({a.shape[1]}x{a.shape[0]})")
    return a
