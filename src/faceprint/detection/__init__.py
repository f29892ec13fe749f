"""Face detection (a pluggable detector; MTCNN by default) and alignment to the crop a model expects."""

from faceprint.detection.alignment import (
    ALIGNMENTS,
    FACENET_TEMPLATE_112,
    align_box,
    align_face,
    align_five_point,
    similarity_transform,
)
from faceprint.detection.detector import Detector, Face, select_faces
from faceprint.detection.mtcnn import MTCNN

__all__ = [
    "ALIGNMENTS",
    "FACENET_TEMPLATE_112",
    "MTCNN",
    "Detector",
    "Face",
    "align_box",
    "align_face",
    "align_five_point",
    "select_faces",
    "similarity_transform",
]
