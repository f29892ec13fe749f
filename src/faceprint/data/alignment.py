"""The record a folder of aligned faces carries: how its faces were made (`faceprint align` writes it), so that
training can bind that alignment to the model and a folder of a model's own crops is known as such."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from faceprint.errors import InputError
from faceprint.utils.io import atomic_write_text

ALIGNMENT_RECORD = "alignment.json"  # written by align_folder into its output folder
LFW_CROPS = {"method": "lfw", "size": 250, "margin": 32.0}  # what a folder without a record is taken to hold


def recorded_alignment(root: str | Path) -> dict[str, Any] | None:
    """How `align_folder` made the faces in ROOT (method, size, margin), or None where it did not."""
    f = Path(root) / ALIGNMENT_RECORD
    if not f.is_file():
        return None
    try:
        rec = json.loads(f.read_text())
        return {"method": rec["method"], "size": int(rec["size"]), "margin": float(rec.get("margin", 32.0))}
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise InputError(f"{f}: not an alignment record ({e})") from None


def _record(root: str | Path) -> dict[str, Any]:
    """ROOT's record as written, {} where there is none."""
    f = Path(root) / ALIGNMENT_RECORD
    try:
        rec = json.loads(f.read_text()) if f.is_file() else {}
    except (OSError, ValueError) as e:
        raise InputError(f"{f}: not an alignment record ({e})") from None
    if not isinstance(rec, dict):
        raise InputError(f"{f}: not an alignment record (not an object)")
    return rec


def recorded_detector(root: str | Path) -> str:
    """The face detector `align_folder` used for ROOT (records made before there was a choice: MTCNN)."""
    return str(_record(root).get("detector", "mtcnn"))


def recorded_points(root: str | Path) -> str | None:
    """Where the five points of ROOT's faces came from, for a detector that has a choice (YuNet: "onet-flip", ...;
    a YuNet folder recorded before issue 36 used its own points mapped: "mapped"); None for MTCNN."""
    rec = _record(root)
    if "landmarks" in rec:
        return None if rec["landmarks"] is None else str(rec["landmarks"])
    return "mapped" if rec.get("detector") == "yunet" else None


def read_alignment(root: str | Path) -> dict[str, Any]:
    """The alignment of the faces in ROOT: its record, else LFW-style crops (as LFW and the CelebA sets are)."""
    return recorded_alignment(root) or dict(LFW_CROPS)


def write_alignment(root: str | Path, method: str, size: int, margin: float = 32.0, **extra: Any) -> None:
    """Record (atomically) that ROOT holds faces aligned by `method` at `size` pixels."""
    atomic_write_text(Path(root) / ALIGNMENT_RECORD,
                      json.dumps({"method": method, "size": size, "margin": margin, **extra}, indent=1))
