import os

import numpy as np
from PIL import Image

from faceprint.data import DecodedImages, Preprocessing


def _files(tmp_path, n=5):
    paths = []
    for i in range(n):
        p = tmp_path / f"{i}.png"
        Image.fromarray(np.full((20, 20, 3), i * 10, np.uint8)).save(p)
        paths.append(p)
    return paths


def test_built_once_then_reused(tmp_path, monkeypatch):
    pre = Preprocessing(input_size=16, crop=0.8)
    paths = _files(tmp_path)
    c1 = DecodedImages(paths, pre.load, pre.stored_size, pre.to_dict(), tmp_path / "cache", workers=1, progress=False)
    assert c1[3].shape == (18, 18, 3) and int(c1[3].mean()) == 30
    import faceprint.data.cache as cache_mod

    def boom(*a, **k):
        raise AssertionError("decoded again")

    monkeypatch.setattr(cache_mod, "_decode_chunk", boom)
    c2 = DecodedImages(paths, pre.load, pre.stored_size, pre.to_dict(), tmp_path / "cache", workers=1, progress=False)
    np.testing.assert_array_equal(c2[np.array([0, 4])], c1[np.array([0, 4])])


def test_stale_cache_is_rebuilt(tmp_path):
    pre = Preprocessing(input_size=16, crop=0.8)
    paths = _files(tmp_path)
    c1 = DecodedImages(paths, pre.load, pre.stored_size, pre.to_dict(), tmp_path / "cache", workers=1, progress=False)
    # A changed image (size and mtime change) must not be served from the old cache.
    Image.fromarray(np.full((30, 30, 3), 250, np.uint8)).save(paths[2])
    os.utime(paths[2], ns=(1, 1))
    c2 = DecodedImages(paths, pre.load, pre.stored_size, pre.to_dict(), tmp_path / "cache", workers=1, progress=False)
    assert int(c2[2].mean()) == 250 and c2.data_path != c1.data_path
    # A truncated data file (killed write) is detected and rebuilt.
    with open(c2.data_path, "r+b") as f:
        f.truncate(10)
    c3 = DecodedImages(paths, pre.load, pre.stored_size, pre.to_dict(), tmp_path / "cache", workers=1, progress=False)
    assert int(c3[2].mean()) == 250
    # Another preprocessing gets its own cache.
    pre2 = Preprocessing(input_size=16, crop=0.5)
    c4 = DecodedImages(paths, pre2.load, pre2.stored_size, pre2.to_dict(), tmp_path / "cache", workers=1,
                       progress=False)
    assert c4.data_path != c3.data_path


def test_unreadable_images_are_recorded(tmp_path):
    pre = Preprocessing(input_size=16, crop=0.8)
    paths = _files(tmp_path, 3)
    paths[1].write_bytes(b"garbage")
    c = DecodedImages(paths, pre.load, pre.stored_size, pre.to_dict(), tmp_path / "cache", workers=2, progress=False)
    assert c.bad == [1] and "1.png" not in c.bad_reasons[1]  # the reason; the caller knows the path
    assert int(c[2].mean()) == 20
