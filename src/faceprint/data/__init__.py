"""Data in: image files, folder-per-identity datasets, verification protocols, P x K batches, decode cache."""

from faceprint.data.cache import DecodedImages
from faceprint.data.dataset import FaceDataset
from faceprint.data.images import IMAGE_EXTENSIONS, ImageReadError, read_image
from faceprint.data.lfw import lfw_image, read_lfw_pairs, read_lfw_people
from faceprint.data.pairs import (
    MissingImagesError,
    Pair,
    check_pairs_exist,
    read_pairs_csv,
)
from faceprint.data.sampler import PKSampler
from faceprint.data.transforms import Preprocessing

__all__ = [
    "IMAGE_EXTENSIONS",
    "DecodedImages",
    "FaceDataset",
    "ImageReadError",
    "MissingImagesError",
    "PKSampler",
    "Pair",
    "Preprocessing",
    "check_pairs_exist",
    "lfw_image",
    "read_image",
    "read_lfw_pairs",
    "read_lfw_people",
    "read_pairs_csv",
]
