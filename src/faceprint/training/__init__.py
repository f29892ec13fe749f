"""The training app (kept apart from the library: the library never imports it)."""

from faceprint.training.config import TrainConfig

__all__ = ["TrainConfig", "TrainResult", "Trainer", "train"]


def __getattr__(name: str):
    # the loop pulls in torch and scikit-learn (seconds); every CLI command builds the train parser from TrainConfig
    if name in ("Trainer", "TrainResult", "train"):
        from faceprint.training import loop

        return getattr(loop, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
