"""What the commands share: loading the model, printing reports, writing JSON."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from faceprint.utils.io import atomic_write_text


class UserError(Exception):
    """A problem with the user's input: printed as one line, no traceback."""


def add_model_option(p: Any) -> None:
    p.add_argument("--model", help="model file (default: the model shipped with faceprint)")


def load_model_arg(path: str | None):  # type: ignore[no-untyped-def]
    from faceprint import load
    from faceprint.utils.runtime import set_threads, tune_malloc

    tune_malloc()
    set_threads(None)
    return load(path)


def model_record(model: Any, path: str | None) -> dict[str, Any]:
    """What a report says about the model that produced it."""
    return {"path": str(path) if path else "default (shipped)", "fingerprint": getattr(model, "fingerprint", ""),
            "backbone": model.config.backbone, "input_size": model.config.preprocessing.input_size,
            "distance": model.config.distance, "threshold": model.config.threshold}


def write_json(path: str | Path | None, payload: dict[str, Any]) -> None:
    if path:
        atomic_write_text(path, json.dumps(payload, indent=2, default=str))
        logging.getLogger("faceprint").info("wrote %s", path)


def cache_dir_arg(value: str | None) -> Path | None:
    return Path(value) if value else (Path(os.environ["FACEPRINT_CACHE"]) if "FACEPRINT_CACHE" in os.environ else None)
