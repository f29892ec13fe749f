"""Training checkpoints: everything a killed run needs to continue as if it had never stopped."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import torch

from faceprint.errors import InputError
from faceprint.utils.io import atomic_write

CHECKPOINT_FORMAT = "faceprint.checkpoint"


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """Atomic: a crash during the write leaves the previous checkpoint intact."""
    buf = io.BytesIO()
    torch.save({"format": CHECKPOINT_FORMAT, **state}, buf)
    atomic_write(path, lambda f: f.write(buf.getbuffer()))


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read with weights_only=True: a checkpoint carrying code is refused, never run."""
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001  any failure to parse untrusted bytes: not a checkpoint we can read
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise InputError(f"{path}: not a faceprint training checkpoint (cannot be read safely: {first})") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise InputError(f"{path}: not a faceprint training checkpoint")
    return state
