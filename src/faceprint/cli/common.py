"""What the commands share: loading the model, printing reports, writing JSON."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from faceprint.errors import FaceprintError
from faceprint.utils.io import atomic_write_text


class UserError(FaceprintError):
    """A problem with how the command was called: printed as one line, no traceback."""


def add_model_option(p: Any) -> None:
    p.add_argument("--model", help="model file, or `dlib` for the shipped dlib ResNet (default: the model shipped "
                                   "with faceprint)")


def load_model_arg(path: str | None):  # type: ignore[no-untyped-def]
    from faceprint import load
    from faceprint.utils.runtime import set_threads, tune_malloc

    tune_malloc()
    set_threads(None)
    return load(path)


def load_torch_model_arg(path: str | None):  # type: ignore[no-untyped-def]
    """The PyTorch network of a model file (or a shipped model by name), for the commands that need its weights as
    PyTorch modules: export, training's --init and --teacher. Needs faceprint[train]."""
    from faceprint.api import DEFAULT_MODEL, NAMED_MODELS

    try:
        from faceprint.models.io import load_model
    except ImportError as e:
        raise UserError(f"this command needs PyTorch: pip install 'faceprint[train]' ({e})") from None
    if path is not None and path in NAMED_MODELS and not Path(path).is_file():
        path = str(NAMED_MODELS[path])
    return load_model(path if path is not None else DEFAULT_MODEL)


def check_gallery_arg(location: str, create: bool) -> None:
    """Refuse a --gallery that cannot be one before the model loads (seconds): a folder, a missing file when none
    is made, a file that is not SQLite. The gallery itself checks everything else (its format, its model)."""
    if "://" in str(location):  # a database server: only connecting tells
        return
    path = Path(location)
    if path.is_dir():
        raise UserError(f"{path}: a folder, not a gallery file")
    if not path.exists():
        if create:
            return
        raise UserError(f"{path}: no such gallery")
    with open(path, "rb") as f:
        head = f.read(16)
    if head and head != b"SQLite format 3\0":  # an empty file is an empty database: the gallery fills it in
        raise UserError(f"{path}: not a faceprint gallery (not an SQLite database)")


def model_record(model: Any, path: str | None) -> dict[str, Any]:
    """What a report says about the model that produced it."""
    return {"path": str(path) if path else "default (shipped)", "fingerprint": model.fingerprint,
            "backbone": model.config.backbone, "input_size": model.config.preprocessing.input_size,
            "distance": model.config.distance, "threshold": model.config.threshold,
            "open_set_far": model.config.open_set_far}


def write_json(path: str | Path | None, payload: dict[str, Any]) -> None:
    if path:
        atomic_write_text(path, json.dumps(payload, indent=2, default=str))
        logging.getLogger("faceprint").info("wrote %s", path)


def cache_dir_arg(value: str | None) -> Path | None:
    return Path(value) if value else (Path(os.environ["FACEPRINT_CACHE"]) if "FACEPRINT_CACHE" in os.environ else None)


INPUT_HELP = ("photos: detect and align each face as the model expects; crops: the images are already face crops "
              "like the model's training images; auto: crops when the folder holds the model's own crops (made by "
              "`faceprint align` with the model's alignment, which it records in alignment.json), else photos")


def add_detector_option(p: Any, what: str, more: str = "") -> None:
    """--detector, offering the registry's detectors, default the registry's default."""
    from faceprint.detection.registry import DEFAULT_DETECTOR, detector_names

    p.add_argument("--detector", choices=detector_names(), default=DEFAULT_DETECTOR,
                   help=f"{what} (default {DEFAULT_DETECTOR}; yunet: YuNet with O-Net's points, "
                        f"mtcnn: the MTCNN cascade){'; ' + more if more else ''}")


def add_input_options(p: Any, select: str, default: str = "photos") -> None:
    p.add_argument("--input", choices=["photos", "crops", "auto"], default=default,
                   help=f"{INPUT_HELP} (default {default})")
    p.add_argument("--select", choices=["best", "largest", "central", "all"], default=select,
                   help=f"photos: which faces of a photo to use (default {select})")
    p.add_argument("--min-face", type=float, default=20.0,
                   help="photos: the smallest face to look for, in pixels (default 20; larger is faster: "
                        "detection starts its image pyramid there)")
    add_detector_option(p, "photos: the face detector")


def add_fps_option(p: Any) -> None:
    p.add_argument("--fps", type=float, default=1.0,
                   help="video files: frames sampled per second (0: every frame); each is named FILE#t=SECONDS")


def pipeline_of(model: Any, args: Any, flip: str | None = None) -> Any:
    """The library's Pipeline with the options this command was given."""
    from faceprint.pipeline import Pipeline

    return Pipeline(model, input=getattr(args, "input", "photos"), select=getattr(args, "select", "best"),
                    min_face=getattr(args, "min_face", 20.0), flip=flip, fps=getattr(args, "fps", 1.0),
                    detector=getattr(args, "detector", None),
                    cache_dir=cache_dir_arg(getattr(args, "cache_dir", None)),
                    progress=not getattr(args, "no_progress", True))


def embeddings_of(model: Any, data: str, args: Any, need_identities: bool = False) -> Any:
    """A folder embedded now, or an embeddings file written by `faceprint embed` (checked against the model), so a
    folder is embedded once and clustered or evaluated many times."""
    from faceprint.embeddings import EmbeddingSet

    if str(data).endswith(".npz"):
        es = EmbeddingSet.load(data)
        es.check_model(model, what=f"embeddings in {data}")
    else:
        es = pipeline_of(model, args).embed_folder(data)
    if need_identities and not all(es.identities):
        raise UserError(f"{data}: expected a folder per identity (ROOT/<identity>/<image>)")
    return es


def embed_inputs(model: Any, paths: list, identities: list | None, args: Any, flip: str | None = None) -> Any:
    """Embeddings of the images the command was given, as photos (detect + align) or as ready crops."""
    return pipeline_of(model, args, flip).embed(paths, identities)
