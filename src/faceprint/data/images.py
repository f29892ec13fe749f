"""Reading any image a user has into RGB uint8, or a clear error naming the file."""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from faceprint.errors import InputError

# Files with these names are photos to faceprint: each one is read, or reported with the reason it could not be (HEIC
# and AVIF only where a Pillow plugin decodes them). Other files in a folder (notes, manifests) are left alone.
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".jfif", ".jpe", ".png", ".pgm", ".ppm", ".pbm", ".pnm", ".bmp", ".webp",
                              ".tif", ".tiff", ".gif", ".heic", ".heif", ".avif"})


class ImageReadError(InputError):
    """An image that cannot be decoded; the message names the file and the reason."""

    def __init__(self, path: str | Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason

    def __reduce__(self) -> tuple:  # rebuilt from (path, reason), e.g. when a worker process sends it back
        return type(self), (self.path, self.reason)


class ImageTooLargeError(ImageReadError):
    """An image over the pixel limit (a decompression bomb, or simply too big to process)."""


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


DEFAULT_MAX_PIXELS = 64_000_000


def max_pixels() -> int:
    """The largest image faceprint decodes, in pixels: FACEPRINT_MAX_PIXELS, else 64 million (a 64 MP photo decodes
    to 192 MB of RGB). Checked from the header, before any pixel is decoded: a decompression bomb costs nothing."""
    try:
        return int(os.environ.get("FACEPRINT_MAX_PIXELS", DEFAULT_MAX_PIXELS))
    except ValueError:
        return DEFAULT_MAX_PIXELS


HEIF_BRANDS = (b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"avif", b"avis")
_heif: list[bool] = []  # [whether pillow-heif's opener is registered], once tried


def _is_heif(source: BinaryIO) -> bool:
    """An ISO-BMFF 'ftyp' box of a HEIF brand (HEIC from phones, AVIF) at the start of the file."""
    head = source.read(12)
    source.seek(0)
    return head[4:8] == b"ftyp" and head[8:12] in HEIF_BRANDS


def _heif_opener(name: str | Path) -> None:
    """Pillow reads HEIC/HEIF only through pillow-heif's plugin: registered on the first such photo."""
    if not _heif:
        try:
            import pillow_heif

            # libheif decodes on threads of its own by default; a process that forks workers later (align_many)
            # must not hold a lock in one of them at the fork: decode on the calling thread
            pillow_heif.options.DECODE_THREADS = 1
            pillow_heif.register_heif_opener()
            _heif.append(True)
        except ImportError:
            _heif.append(False)
    if not _heif[0]:
        raise ImageReadError(name, "a HEIC/HEIF photo, which needs pillow-heif: pip install 'faceprint[heif]'")


def _decode(source: BinaryIO, name: str | Path, limit: int | None) -> np.ndarray:
    limit = max_pixels() if limit is None else limit
    if _is_heif(source):
        _heif_opener(name)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow warns on odd EXIF; the image itself is still fine
            with Image.open(source) as img:
                w, h = img.size
                if w * h > limit:
                    raise ImageTooLargeError(name, f"image too large: {w} x {h} pixels (limit {limit:,}; "
                                                   "FACEPRINT_MAX_PIXELS)")
                img.load()
                img = ImageOps.exif_transpose(img) or img
                rgb = _to_rgb(img)
    except ImageReadError:
        raise
    except UnidentifiedImageError:
        raise ImageReadError(name, "not an image Pillow can read") from None
    except Image.DecompressionBombError as e:
        raise ImageTooLargeError(name, f"image too large ({e})") from None
    except (OSError, SyntaxError, ValueError, EOFError, MemoryError) as e:
        raise ImageReadError(name, f"corrupt or truncated image ({e})") from None
    a = np.asarray(rgb, dtype=np.uint8)
    if a.ndim != 3 or a.shape[0] < 2 or a.shape[1] < 2:
        raise ImageReadError(name, f"image too small ({a.shape[1]}x{a.shape[0]})")
    return a


def read_image(path: str | Path, limit: int | None = None) -> np.ndarray:
    """(H, W, 3) uint8 RGB with EXIF orientation applied; raises ImageReadError for anything unreadable, and
    ImageTooLargeError above `limit` pixels (default: max_pixels())."""
    path = Path(path)
    if path.is_dir():
        raise ImageReadError(path, "a folder, not an image file")
    if not path.is_file():
        broken = path.is_symlink()
        raise ImageReadError(path, "a broken symbolic link (or a loop)" if broken else "no such file")
    try:
        with open(path, "rb") as f:
            return _decode(f, path, limit)
    except PermissionError:
        raise ImageReadError(path, "permission denied") from None
    except OSError as e:  # the file itself cannot be read (I/O error, a symlink loop, ...)
        raise ImageReadError(path, f"cannot read the file ({e.strerror or e})") from None


def decode_image(data: bytes, name: str = "upload", limit: int | None = None) -> np.ndarray:
    """read_image for bytes already in memory (an upload)."""
    return _decode(io.BytesIO(data), name, limit)
