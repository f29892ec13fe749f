"""Frames of a video file, sampled at a rate the user sets, through PyAV (FFmpeg): `pip install 'faceprint[video]'`.

A frame is named `<file>#t=<seconds>` (the W3C media-fragment form), so results point back into the video.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from faceprint.data.images import ImageReadError

VIDEO_EXTENSIONS = frozenset({".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".flv", ".ts"})


def is_video_file(path: str | Path) -> bool:
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS


def frame_name(path: str | Path, seconds: float) -> str:
    return f"{path}#t={seconds:.3f}"


def read_frames(path: str | Path, fps: float = 1.0, max_side: int | None = None) -> Iterator[tuple[float, np.ndarray]]:
    """(seconds, (H, W, 3) uint8 RGB) of the first frame at or after every 1/fps seconds; fps <= 0: every frame.

    Decoding runs on FFmpeg's threads. A file that is not a readable video raises ImageReadError (with the reason);
    a video cut short ends where its readable frames end.
    """
    try:
        import av
    except ImportError:
        raise ImportError("reading video needs PyAV: pip install 'faceprint[video]'") from None
    path = Path(path)
    if not path.is_file():
        raise ImageReadError(path, "no such file")
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError, ValueError) as e:
        raise ImageReadError(path, f"not a video FFmpeg can read ({e})") from None
    with container:
        if not container.streams.video:
            raise ImageReadError(path, "no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        step = 1.0 / fps if fps > 0 else 0.0
        next_t, got = 0.0, False
        try:
            for frame in container.decode(stream):
                t = float(frame.time) if frame.time is not None else 0.0
                if t + 1e-6 < next_t:
                    continue
                next_t = (np.floor(t / step + 1e-6) + 1) * step if step else t
                if max_side and max(frame.width, frame.height) > max_side:
                    s = max_side / max(frame.width, frame.height)
                    frame = frame.reformat(width=round(frame.width * s), height=round(frame.height * s))
                got = True
                yield t, frame.to_ndarray(format="rgb24")
        except av.FFmpegError as e:
            if not got:
                raise ImageReadError(path, f"no decodable frame ({e})") from None
