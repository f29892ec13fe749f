"""Video files as input: frames sampled at the rate asked, named FILE#t=SECONDS, and through `faceprint embed` and
`faceprint identify` the people in them named as in the photos they were made from."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

av = pytest.importorskip("av")

from faceprint.cli import main  # noqa: E402
from faceprint.data import ImageReadError, read_image  # noqa: E402
from faceprint.data.video import frame_name, read_frames  # noqa: E402
from faceprint.demo import PHOTOS  # noqa: E402


def write_video(path, images, fps=10, seconds_each=1.0, size=(320, 240)):
    """An MPEG-4 file showing each image for `seconds_each`, letterboxed into `size`."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        stream.bit_rate = 2_000_000
        for img in images:
            canvas = Image.new("RGB", size)
            im = Image.fromarray(img)
            im.thumbnail(size)
            canvas.paste(im, ((size[0] - im.width) // 2, (size[1] - im.height) // 2))
            frame = av.VideoFrame.from_ndarray(np.asarray(canvas), format="rgb24")
            for _ in range(round(fps * seconds_each)):
                out.mux(stream.encode(frame))
        out.mux(stream.encode())


def test_frames_sampled_at_the_rate_asked(tmp_path):
    images = [np.full((240, 320, 3), v, np.uint8) for v in (0, 80, 160, 240)]
    path = tmp_path / "v.mp4"
    write_video(path, images, fps=10, seconds_each=0.5)  # 2 s, 20 frames
    every = list(read_frames(path, fps=0))
    assert len(every) == 20 and every[0][1].shape == (240, 320, 3)
    times = [t for t, _ in read_frames(path, fps=2)]
    np.testing.assert_allclose(times, [0.0, 0.5, 1.0, 1.5], atol=1e-6)
    # the sampled frames are the ones showing each image (mean grey level), decoded as RGB
    means = [float(f.mean()) for _, f in read_frames(path, fps=2)]
    np.testing.assert_allclose(means, [0, 80, 160, 240], atol=4)
    assert frame_name(path, 1.5) == f"{path}#t=1.500"


def test_unreadable_video_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 100)
    with pytest.raises(ImageReadError, match="bad.mp4"):
        list(read_frames(bad))
    with pytest.raises(ImageReadError, match="no such file"):
        list(read_frames(tmp_path / "missing.mp4"))


def test_embed_and_identify_on_a_video(tmp_path, capsys):
    people = sorted(d for d in PHOTOS.iterdir() if d.is_dir())[:4]
    gallery_dir = tmp_path / "gallery"
    for d in people:  # every photo but the last of each person in the gallery...
        (gallery_dir / d.name).mkdir(parents=True)
        for p in sorted(d.glob("*.jpg"))[:-1]:
            (gallery_dir / d.name / p.name).symlink_to(p)
    shown = [sorted(d.glob("*.jpg"))[-1] for d in people]  # ...and the last one shown in the video
    video = tmp_path / "clip.mp4"
    write_video(video, [read_image(p) for p in shown], fps=10, seconds_each=1.0, size=(480, 360))
    (tmp_path / "broken.mp4").write_bytes(b"not a video at all")

    assert main(["embed", str(video), "--out", str(tmp_path / "v.npz"), "--fps", "1", "--no-progress"]) == 0
    z = np.load(tmp_path / "v.npz")
    assert [str(p) for p in z["paths"]] == [f"{video}#t={t:.3f}" for t in (0, 1, 2, 3)]

    g = str(tmp_path / "g.db")
    # LFW photos: the subject is the centred face (in Laura_Bush_0002 the best by score x area is the man beside her)
    assert main(["enroll", "--gallery", g, str(gallery_dir), "--select", "central", "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["identify", "--gallery", g, str(video), str(tmp_path / "broken.mp4"), "--fps", "1", "--json",
                 "--no-progress"]) == 0
    out = json.loads(capsys.readouterr().out)
    named: dict[str, str] = {}
    for r in out:  # each frame's first (best) face; the two other faces YuNet finds in Laura_Bush_0004 are strangers
        if "identity" in r:
            named.setdefault(r["image"], r["identity"])
    assert named == {f"{video}#t={t:.3f}": d.name for t, d in zip((0, 1, 2, 3), people)}
    assert any("broken.mp4" in r.get("error", "") for r in out)
