"""The detector interface: an image in, faces (box, score, five landmarks) out. Detectors by name:
faceprint.detection.registry."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from faceprint.errors import InputError

SELECTIONS = ("all", "largest", "central", "best")


@dataclass(eq=False)  # faces compare by identity: two detections are never "equal"
class Face:
    box: np.ndarray  # (4,) x1, y1, x2, y2 in pixels of the image
    score: float
    landmarks: np.ndarray  # (5, 2) x, y: left eye, right eye, nose, left mouth corner, right mouth corner

    @property
    def area(self) -> float:
        return float(max(0.0, self.box[2] - self.box[0]) * max(0.0, self.box[3] - self.box[1]))

    def to_dict(self) -> dict:
        return {"box": [round(float(v), 2) for v in self.box], "score": round(self.score, 5),
                "landmarks": [[round(float(x), 2), round(float(y), 2)] for x, y in self.landmarks]}


class Detector:
    """Subclasses implement `detect`; anything that maps RGB images to faces can plug in (dlib, ONNX, ...)."""

    name = ""
    min_face = 20.0

    def settings(self) -> dict:
        """What a record of detections (alignment.json, embedding files) says about the detector that made them."""
        return {"detector": self.name, "min_face": self.min_face}

    def detect(self, images: list[np.ndarray]) -> list[list[Face]]:
        """(H, W, 3) uint8 RGB images -> the faces found in each, best first."""
        raise NotImplementedError

    def recipe(self) -> tuple[type, dict] | None:
        """(class, keyword arguments) that build the same detector in a worker process (given `threads=1` there),
        or None for a detector that cannot be rebuilt so (it then runs in the caller's process)."""
        return None


def select_faces(faces: list[Face], image_shape: tuple[int, ...], how: str = "all") -> list[Face]:
    """All faces, or the one a photo of one person means: the largest, the most central, or the best
    (score x area, the rule the CelebA subset was cut with)."""
    if how not in SELECTIONS:
        raise InputError(f"face selection must be one of {SELECTIONS}, got {how!r}")
    if how == "all" or len(faces) <= 1:
        return list(faces)
    if how == "largest":
        return [max(faces, key=lambda f: f.area)]
    if how == "best":
        return [max(faces, key=lambda f: f.score * f.area)]
    h, w = image_shape[:2]
    centre = np.array([w / 2, h / 2])
    return [min(faces, key=lambda f: float(np.linalg.norm((f.box[:2] + f.box[2:]) / 2 - centre)))]
