"""Preprocessing bound to a model: the alignment, crop, size and standardisation it was trained with travel in
its file.

One path serves training and use: a face image (an LFW-style crop, or the output of `faceprint align`) is
centre-cropped to `crop` of its shorter side (widened by `pad` so training can take random crops), resized to
`stored_size`, and the central `input_size` window is what the model sees at evaluation. The decode cache stores
exactly the `load` output, so cached and uncached inputs match. A raw photo first goes through the detector and
`alignment` (with `align_size`, `margin`), which turns it into such a face image.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from faceprint.data.images import read_image
from faceprint.errors import InputError

if TYPE_CHECKING:  # torch only where tensors are made: an exported (ONNX) model runs without it
    import torch

ALIGNMENTS = ("lfw", "box", "five_point", "five_point_reid", "dlib_chip")  # see faceprint.detection.alignment
CHANNELS = ("rgb", "bgr")


@dataclass(frozen=True)
class Preprocessing:
    input_size: int = 96
    crop: float = 0.6  # fraction of the shorter side kept around the centre (LFW-style 2.2x boxes: ~0.6)
    pad: float = 0.125  # extra border stored for random-crop augmentation
    # The paper-era fixed standardisation (x - 127.5) / 128, not per-image prewhitening; or one mean per RGB channel.
    mean: float | tuple[float, float, float] = 127.5
    std: float = 128.0
    alignment: str = "lfw"  # how a raw photo becomes a face image like the training images
    align_size: int = 250  # size of that face image (LFW's 250 px for "lfw")
    margin: float = 32.0  # "box" alignment: output pixels around the detector box
    # The colour order the network takes: networks trained through OpenCV read BGR. Faces are RGB everywhere in
    # faceprint; the swap happens here, last, so an exported network takes exactly what its authors' code fed it.
    channels: str = "rgb"

    def __post_init__(self) -> None:
        if self.input_size < 16:
            raise InputError(f"input_size must be >= 16, got {self.input_size}")
        if not 0 < self.crop * (1 + self.pad) <= 1 + 1e-9:
            raise InputError(f"crop * (1 + pad) must be in (0, 1], got {self.crop} * (1 + {self.pad})")
        if not isinstance(self.mean, (int, float)):
            if len(self.mean) != 3:
                raise InputError(f"mean must be one number or one per RGB channel, got {self.mean!r}")
            object.__setattr__(self, "mean", tuple(float(m) for m in self.mean))
        if self.channels not in CHANNELS:
            raise InputError(f"channels must be one of {CHANNELS}, got {self.channels!r}")
        if self.alignment not in ALIGNMENTS:
            raise InputError(f"alignment must be one of {ALIGNMENTS}, got {self.alignment!r}")

    @property
    def stored_size(self) -> int:
        return int(round(self.input_size * (1 + self.pad)))

    def to_dict(self) -> dict:
        return asdict(self)

    def load(self, path: str | Path) -> np.ndarray:
        """(S, S, 3) uint8, S = stored_size, from an image file."""
        return self.from_array(read_image(path))

    def from_array(self, rgb: np.ndarray) -> np.ndarray:
        """(S, S, 3) uint8 from an (H, W, 3) uint8 RGB image."""
        h, w = rgb.shape[:2]
        s = self.stored_size
        if h == w == s and self.crop * (1 + self.pad) == 1:  # already the model's own crop: taken as it is
            return np.ascontiguousarray(rgb, dtype=np.uint8)
        side = min(h, w) * self.crop * (1 + self.pad)
        cx, cy = w / 2.0, h / 2.0
        box = (cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2)
        img = Image.fromarray(rgb).resize((s, s), Image.Resampling.BILINEAR, box=box, reducing_gap=2.0)
        return np.asarray(img, dtype=np.uint8)

    def stack(self, images: Sequence[str | Path | np.ndarray] | np.ndarray) -> np.ndarray:
        """(N, S, S, 3) uint8 from image files or RGB arrays of face images; an (N, S, S, 3) array of stored crops
        is taken as it is."""
        s = self.stored_size
        if isinstance(images, np.ndarray) and images.ndim == 4 and images.shape[1:] == (s, s, 3):
            return images
        if not len(images):
            return np.zeros((0, s, s, 3), np.uint8)
        return np.stack([self.load(im) if isinstance(im, (str, Path)) else self.from_array(im) for im in images])

    def to_input(self, stored: np.ndarray) -> np.ndarray:
        """(N, S, S, 3) uint8 -> (N, 3, H, W) float32, C-contiguous: the central window, standardised, exactly
        as `to_tensor` makes it at evaluation. This is what an exported network takes."""
        s, size = self.stored_size, self.input_size
        if stored.ndim != 4 or stored.shape[1:] != (s, s, 3):
            raise InputError(f"expected (N, {s}, {s}, 3) uint8, got {tuple(stored.shape)}")
        o = (s - size) // 2
        x = stored[:, o : o + size, o : o + size].astype(np.float32)
        x = (x - np.asarray(self.mean, np.float32)) / np.float32(self.std)
        if self.channels == "bgr":
            x = x[..., ::-1]
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2))

    def to_tensor(
        self,
        stored: np.ndarray | torch.Tensor,
        train: bool = False,
        generator: torch.Generator | None = None,
        jitter: float = 0.2,
    ) -> torch.Tensor:
        """(N, S, S, 3) uint8 -> (N, 3, H, W) float, channels-last in memory.

        At evaluation the central window; in training a random window, a horizontal flip half of the time, and
        brightness / contrast / saturation scaled by factors in [1 - jitter, 1 + jitter].
        """
        import torch

        if not isinstance(stored, torch.Tensor):
            a = np.asarray(stored)
            # Memory-mapped cache slices are read-only; torch wants writable memory even though it only reads.
            stored = torch.from_numpy(a if a.flags.writeable else a.copy())
        x = stored
        if x.ndim == 3:
            x = x[None]
        n, s, size = x.shape[0], x.shape[1], self.input_size
        if x.shape[1:] != (s, s, 3) or s < size:
            raise InputError(f"expected (N, {self.stored_size}, {self.stored_size}, 3) uint8, got {tuple(x.shape)}")
        ar = torch.arange(size)
        if train:
            oy = torch.randint(0, s - size + 1, (n,), generator=generator)
            ox = torch.randint(0, s - size + 1, (n,), generator=generator)
            flip = torch.rand(n, generator=generator) < 0.5
            rows = oy[:, None] + ar
            cols = torch.where(flip[:, None], ox[:, None] + size - 1 - ar, ox[:, None] + ar)
            x = x[torch.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]].float()
            if jitter > 0:
                f = 1 + (torch.rand(3, n, 1, 1, 1, generator=generator) * 2 - 1) * jitter
                gray = x.mean(-1, keepdim=True)
                x = gray + (x - gray) * f[2]  # saturation
                x = x.mean((1, 2, 3), keepdim=True) + (x - x.mean((1, 2, 3), keepdim=True)) * f[1]  # contrast
                x = (x * f[0]).clamp(0, 255)  # brightness
        else:
            o = (s - size) // 2
            x = x[:, o : o + size, o : o + size].float()
        mean = self.mean if isinstance(self.mean, float | int) else torch.tensor(self.mean)
        x = (x - mean) / self.std
        if self.channels == "bgr":
            x = x.flip(3)
        return x.permute(0, 3, 1, 2)


def flip_mode(flip: bool | str | None, default: str) -> str:
    """The flip mode ("none", "sum" or "concat") an embed() argument asks for; None: the model's own setting."""
    mode = default if flip is None else {True: "sum", False: "none"}.get(flip, flip)  # type: ignore[call-overload]
    if mode not in ("none", "sum", "concat"):
        raise InputError(f"flip must be none, sum or concat, got {flip!r}")
    return mode
