"""Detectors by name, as backbones are (faceprint.models.registry): the commands, the service and `Pipeline` name a
detector, and this table builds it. It sits apart from the interface (detector.py), so the detectors import the
interface and the registry imports the detectors, never the other way round. Each is imported only when asked for:
MTCNN's networks and YuNet's onnxruntime session cost nothing to a process that uses the other."""

from __future__ import annotations

from collections.abc import Callable

from faceprint.detection.detector import Detector
from faceprint.errors import InputError

Factory = Callable[[float, int | None], Detector]  # (min_face, threads) -> detector


def _mtcnn(min_face: float, threads: int | None) -> Detector:
    from faceprint.detection.mtcnn import MTCNN

    return MTCNN(min_face=min_face, threads=threads)


def _yunet(min_face: float, threads: int | None) -> Detector:
    from faceprint.detection.yunet import YuNet

    return YuNet(min_face=min_face, threads=threads)


_DETECTORS: dict[str, Factory] = {"mtcnn": _mtcnn, "yunet": _yunet}
# what every command, the service, the page and Pipeline use unless told: YuNet with O-Net's points (issue 36,
# docs/benchmarks.md "YuNet as the default detector"); MTCNN stays one word away
DEFAULT_DETECTOR = "yunet"


def detector_names() -> tuple[str, ...]:
    """The names the commands offer: the built-in ones and any registered since."""
    return tuple(_DETECTORS)


def register_detector(name: str, factory: Factory) -> None:
    """Plug in another detector (dlib, a vendor's network): `factory(min_face, threads)` builds it."""
    if name in _DETECTORS:
        raise InputError(f"detector {name!r} registered twice")
    _DETECTORS[name] = factory


def make_detector(name: str = DEFAULT_DETECTOR, min_face: float = 20.0, threads: int | None = None) -> Detector:
    """A detector by name: "yunet" (YuNet_s with O-Net's points, the default) or "mtcnn" (the MTCNN cascade), both
    in onnxruntime on `threads` threads."""
    try:
        factory = _DETECTORS[name]
    except KeyError:
        raise InputError(f"detector must be one of {tuple(_DETECTORS)}, got {name!r}") from None
    return factory(min_face, threads)
