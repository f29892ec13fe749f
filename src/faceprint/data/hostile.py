"""Hostile files, made on demand: what a folder of "photos" from the wild holds besides photos. Robustness tests and
`benchmarks/robustness.py` mix them with good photos and check that every command says one line per bad file, never
crashes or hangs, and processes every good file.

`make_hostile_files(dst, faces)` writes the files and returns {file name: expected outcome}: "ok" (a valid image in
an unusual form that must be read: 16-bit, CMYK, palette, grey + alpha, animated, EXIF-rotated, unicode name, large)
or "error" (must be reported and skipped).
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image


def png_bomb(width: int = 50_000, height: int = 50_000) -> bytes:
    """A valid-looking PNG of a few hundred bytes whose header claims width x height pixels."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 4096)) + chunk(
        b"IEND", b"")


def _encoded(img: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def make_hostile_files(dst: str | Path, faces: list[np.ndarray], large_side: int = 3000) -> dict[str, str]:
    """Write hostile and unusual files into dst (made if needed), built from `faces` (RGB photos of faces, at least
    three). Returns {name: "ok" | "error"}."""
    dst = Path(dst)
    dst.mkdir(parents=True, exist_ok=True)
    a, b, c = (Image.fromarray(f) for f in faces[:3])
    jpeg, png, webp = _encoded(a, "JPEG", quality=92), _encoded(b, "PNG"), _encoded(c, "WEBP", quality=90)
    rng = np.random.default_rng(0)
    out: dict[str, str] = {}

    def put(name: str, data: bytes, expect: str) -> None:
        (dst / name).write_bytes(data)
        out[name] = expect

    # broken files
    put("truncated.jpg", jpeg[: len(jpeg) // 3], "error")
    put("truncated.png", png[: len(png) // 2], "error")
    put("truncated.webp", webp[: len(webp) // 2], "error")
    corrupt = bytearray(jpeg)
    corrupt[20 : len(corrupt) // 2] = rng.integers(0, 256, len(corrupt) // 2 - 20, dtype=np.uint8).tobytes()
    put("corrupt.jpg", bytes(corrupt), "error")
    put("empty.jpg", b"", "error")
    put("text.jpg", b"This is not an image.\n" * 40, "error")
    put("random.png", rng.integers(0, 256, 5000, dtype=np.uint8).tobytes(), "error")
    put("bomb.png", png_bomb(), "error")
    put("one_pixel.png", _encoded(Image.new("RGB", (1, 1), (9, 9, 9)), "PNG"), "error")
    # unusual but valid: must be read
    grey16 = (np.asarray(a.convert("L"), dtype=np.uint16) * 257).astype(np.uint16)
    put("grey16.png", _encoded(Image.fromarray(grey16), "PNG"), "ok")
    put("cmyk.jpg", _encoded(b.convert("CMYK"), "JPEG", quality=92), "ok")
    put("palette.png", _encoded(c.convert("P", palette=Image.Palette.ADAPTIVE), "PNG"), "ok")
    la = a.convert("LA")
    put("grey_alpha.png", _encoded(la, "PNG"), "ok")
    put("animated.gif", _encoded(b, "GIF", save_all=True, append_images=[c], duration=100, loop=0), "ok")
    put("animated.webp", _encoded(c, "WEBP", save_all=True, append_images=[a], duration=100), "ok")
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: the stored pixels must be turned 90 degrees clockwise to be upright
    put("exif_rotated.jpg", _encoded(a.transpose(Image.Transpose.ROTATE_90), "JPEG", quality=92, exif=exif), "ok")
    big = a.resize((large_side, large_side * a.height // a.width), Image.BILINEAR)
    put("large.jpg", _encoded(big, "JPEG", quality=85), "ok")
    put("ünïcødé face — 01.jpg", jpeg, "ok")
    # things that are not files
    loop_a, loop_b = dst / "loop_a.jpg", dst / "loop_b.jpg"
    for link, target in [(loop_a, loop_b.name), (loop_b, loop_a.name)]:
        if link.is_symlink():
            link.unlink()
        os.symlink(target, link)
    out["loop_a.jpg"] = out["loop_b.jpg"] = "error"
    (dst / "folder.jpg").mkdir(exist_ok=True)
    out["folder.jpg"] = "error"
    dangling = dst / "dangling.jpg"
    if not dangling.is_symlink():
        os.symlink("no_such_target.jpg", dangling)
    out["dangling.jpg"] = "error"
    return out
