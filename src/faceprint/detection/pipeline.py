"""Raw photos to model-ready face images: read, detect, choose faces, align as the model was trained."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from faceprint.data.images import ImageReadError, read_image
from faceprint.data.transforms import Preprocessing
from faceprint.detection.alignment import align_face
from faceprint.detection.detector import Detector, Face, select_faces


@dataclass
class AlignedFace:
    source: str
    index: int  # the face's rank in its photo (0 = the detector's best)
    face: Face
    image: np.ndarray  # (align_size, align_size, 3) uint8, like the images the model was trained on


class NoFaceError(ImageReadError):
    """A photo in which the detector found no face."""


class FaceAligner:
    """Detect, select and align faces with the settings a model records in its preprocessing."""

    def __init__(self, pre: Preprocessing, detector: Detector | None = None, select: str = "all") -> None:
        if detector is None:
            from faceprint.detection.mtcnn import MTCNN

            detector = MTCNN()
        self.pre, self.detector, self.select = pre, detector, select

    def align(self, image: np.ndarray, source: str = "") -> list[AlignedFace]:
        faces = select_faces(self.detector.detect([image])[0], image.shape, self.select)
        return [AlignedFace(source, i, f, align_face(image, f, self.pre.alignment, self.pre.align_size,
                                                     self.pre.margin)) for i, f in enumerate(faces)]

    def align_path(self, path: str | Path) -> list[AlignedFace]:
        """Faces of one photo; ImageReadError if unreadable, NoFaceError if no face is found."""
        faces = self.align(read_image(path), str(path))
        if not faces:
            raise NoFaceError(path, "no face found")
        return faces
