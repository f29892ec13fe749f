"""The training app (kept apart from the library: the library never imports it)."""

from faceprint.training.config import TrainConfig
from faceprint.training.loop import Trainer, TrainResult, train

__all__ = ["TrainConfig", "TrainResult", "Trainer", "train"]
