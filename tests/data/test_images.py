"""The image reader on odd inputs: every mode becomes RGB uint8, EXIF orientation is honoured, bad files fail clearly."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from faceprint.data import ImageReadError, read_image


def _gradient(w: int = 40, h: int = 30) -> np.ndarray:
    x = np.linspace(0, 255, w, dtype=np.float64)[None, :].repeat(h, 0)
    return np.stack([x, x[::-1] * 0 + 100, np.full_like(x, 200)], -1).astype(np.uint8)


@pytest.mark.parametrize("ext", ["jpg", "png", "bmp", "webp", "ppm", "tiff"])
def test_rgb_formats(tmp_path, ext):
    p = tmp_path / f"a.{ext}"
    Image.fromarray(_gradient()).save(p)
    a = read_image(p)
    assert a.shape == (30, 40, 3) and a.dtype == np.uint8
    if ext in ("png", "bmp", "ppm", "tiff"):  # lossless
        np.testing.assert_array_equal(a, _gradient())


def test_grayscale_and_pgm(tmp_path):
    g = (np.arange(30 * 40).reshape(30, 40) % 256).astype(np.uint8)
    Image.fromarray(g, "L").save(tmp_path / "g.pgm")
    a = read_image(tmp_path / "g.pgm")
    assert a.shape == (30, 40, 3) and np.array_equal(a[..., 0], g) and np.array_equal(a[..., 2], g)


def test_16_bit_is_scaled_not_clipped(tmp_path):
    g = np.linspace(0, 65535, 40 * 30).reshape(30, 40).astype(np.uint16)
    Image.fromarray(g).save(tmp_path / "g16.png")
    a = read_image(tmp_path / "g16.png")
    assert a.dtype == np.uint8 and a.min() == 0 and a.max() == 255
    assert abs(int(a[15, 20, 0]) - round(int(g[15, 20]) / 257)) <= 1


def test_rgba_composited_on_white(tmp_path):
    rgba = np.zeros((10, 10, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[:5, :, 3] = 255  # top half opaque red, bottom transparent
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    a = read_image(tmp_path / "a.png")
    assert tuple(a[0, 0]) == (255, 0, 0) and tuple(a[9, 9]) == (255, 255, 255)


def test_cmyk_and_palette(tmp_path):
    Image.fromarray(_gradient()).convert("CMYK").save(tmp_path / "c.jpg")
    Image.fromarray(_gradient()).convert("P").save(tmp_path / "p.png")
    for name in ("c.jpg", "p.png"):
        a = read_image(tmp_path / name)
        assert a.shape == (30, 40, 3)
        assert np.abs(a.astype(int) - _gradient().astype(int)).mean() < 20


def test_exif_orientation_is_applied(tmp_path):
    img = Image.fromarray(_gradient(40, 30))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    img.save(tmp_path / "r.jpg", exif=exif.tobytes())
    assert read_image(tmp_path / "r.jpg").shape == (40, 30, 3)


def test_bad_files_raise_naming_the_file(tmp_path):
    (tmp_path / "text.jpg").write_text("not an image")
    Image.fromarray(_gradient()).save(tmp_path / "ok.jpg")
    data = (tmp_path / "ok.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 3])
    (tmp_path / "empty.png").write_bytes(b"")
    for name in ("text.jpg", "cut.jpg", "empty.png", "missing.jpg"):
        with pytest.raises(ImageReadError) as e:
            read_image(tmp_path / name)
        assert name in str(e.value)
