"""A model in onnxruntime: faceprint's core runtime, no PyTorch. `faceprint.load()` returns one for a model file
(faceprint.models.modelfile: its network graph gets its weights back here) and for a `faceprint export`ed `.onnx`
file with its `.json` description."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from faceprint.models.config import ModelConfig
from faceprint.models.fingerprint import fingerprint
from faceprint.models.interface import Embedder
from faceprint.models.modelfile import ModelFile, ModelFileError, read_model_file, write_model_file

EXPORT_FORMAT, EXPORT_FORMAT_VERSION = "faceprint.onnx", 1


class ExportedModelError(ModelFileError):
    """An ONNX file without its faceprint description, or one that does not match it."""
_ONNX_TYPES = {"float32": 1, "uint8": 2, "int8": 3, "int16": 5, "int32": 6, "int64": 7, "bool": 9, "float16": 10,
               "float64": 11}


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, payload: bytes | int) -> bytes:
    """One protobuf field: a varint (int) or length-delimited bytes."""
    if isinstance(payload, int):
        return _varint(number << 3) + _varint(payload)
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def with_weights(graph: bytes, weights: dict[str, np.ndarray]) -> bytes:
    """ONNX ModelProto bytes with `weights` added as graph initializers. Protobuf merges a repeated message field
    (ModelProto.graph, field 7) with the one already there, so appending a graph that holds only the initializers
    (GraphProto.initializer, field 5: TensorProto dims 1, data_type 2, name 8, raw_data 9) completes the model
    without parsing it: neither the onnx package nor PyTorch is needed."""
    parts = []
    for name, a in weights.items():
        a = np.ascontiguousarray(a, a.dtype.newbyteorder("<"))
        tensor = b"".join(_field(1, int(d)) for d in a.shape) + _field(2, _ONNX_TYPES[a.dtype.name])
        parts.append(_field(5, tensor + _field(8, name.encode()) + _field(9, a.tobytes())))
    return graph + _field(7, b"".join(parts))


def session(model: bytes | str | Path, threads: int | None = None) -> Any:
    from faceprint.utils.onnx import cpu_session

    try:
        return cpu_session(model, threads)
    except ImportError:
        raise ImportError("running a model needs onnxruntime: pip install onnxruntime") from None


class OnnxModel(Embedder):
    """An embedding model in onnxruntime, with its config (preprocessing, distance, thresholds) and fingerprint."""

    def __init__(self, config: ModelConfig, fingerprint_: str, sess: Any, input_name: str,
                 source: ModelFile | None = None, path: Path | None = None) -> None:
        self.config, self._fingerprint, self.session, self.input_name = config, fingerprint_, sess, input_name
        self.source, self.path = source, path

    @classmethod
    def from_file(cls, path: str | Path, threads: int | None = None) -> OnnxModel:
        """A model file (format 2). Its weights must match its fingerprint (a damaged or edited file is refused)."""
        path = Path(path)
        mf = read_model_file(path)
        try:
            config = ModelConfig.from_dict(mf.config)
        except (TypeError, ValueError) as e:
            raise ModelFileError(f"{path}: damaged faceprint model ({str(e).splitlines()[0]})") from None
        if fingerprint(mf.tensors, config) != mf.fingerprint:
            raise ModelFileError(f"{path}: weights do not match the fingerprint recorded in the file (damaged?)")
        if mf.network is None:
            raise ModelFileError(f"{path}: the file holds no network graph (written without the onnx package): "
                                 "save it again with faceprint[train] installed")
        try:
            weights = {init: mf.tensors[name].astype(dtype, copy=False) for init, (name, dtype) in
                       mf.network_weights.items()}
            sess = session(with_weights(mf.network, weights), threads)
        except ImportError:
            raise
        except Exception as e:  # noqa: BLE001  onnxruntime's own errors: a graph it cannot load
            first = str(e).strip().splitlines()[0][:300] if str(e).strip() else type(e).__name__
            raise ModelFileError(f"{path}: its network graph cannot be loaded ({first})") from None
        return cls(config, mf.fingerprint, sess, mf.network_io.get("input", "faces"), mf, path)

    def recipe(self) -> tuple[Any, dict] | None:
        """How a worker process makes this model again (`maker(**kwargs, threads=1)`), when it came from a file."""
        return None if self.path is None else (OnnxModel.from_file, {"path": self.path})

    @classmethod
    def from_export(cls, path: str | Path, threads: int | None = None) -> OnnxModel:
        """An `.onnx` file written by `faceprint export`, with its description `<file>.json` beside it."""
        from faceprint.utils.io import file_sha256

        path = Path(path)
        meta_path = Path(f"{path}.json")
        if not path.is_file():
            raise ExportedModelError(f"{path}: no such ONNX file")
        try:
            meta: dict[str, Any] = json.loads(meta_path.read_text())
        except (OSError, ValueError) as e:
            raise ExportedModelError(f"{path}: its description {meta_path.name} is missing or unreadable ({e}); "
                                 "export the model with `faceprint export` to get both") from None
        if meta.get("format") != EXPORT_FORMAT or meta.get("format_version", 0) > EXPORT_FORMAT_VERSION:
            raise ExportedModelError(f"{meta_path}: not a faceprint ONNX description")
        if meta.get("onnx_sha256") != file_sha256(path):
            raise ExportedModelError(f"{path}: the file does not match its description {meta_path.name} "
                                 "(replaced or damaged?)")
        return cls(ModelConfig.from_dict(meta["config"]), meta["fingerprint"], session(path, threads),
                   meta["input"], None, path)

    @property
    def fingerprint(self) -> str:
        """The file's, until the config changes what the embedding is (calibrate --test-flip sets it to None)."""
        if self._fingerprint is None:
            self._fingerprint = fingerprint(self._weights(), self.config)
        return self._fingerprint

    @fingerprint.setter
    def fingerprint(self, value: str | None) -> None:
        self._fingerprint = value

    def _forward(self, x: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: x})[0]

    def _weights(self) -> dict[str, np.ndarray]:
        if self.source is None:
            raise ModelFileError(f"{self.path}: an exported network keeps no weights apart from its graph, so the "
                                 "fingerprint of another test-time flip cannot be computed from it; use the model "
                                 "file it was exported from")
        return self.source.tensors

    def save(self, path: str | Path) -> str:
        """Write this model (its weights and graph, with the current config: thresholds fitted since loading) as a
        model file; returns its fingerprint, which the thresholds never change (a bound test_flip does)."""
        if self.source is None:
            raise ModelFileError(f"{self.path}: an exported network cannot be written as a model file; calibrate "
                                 "the model file it was exported from")
        fp = fingerprint(self.source.tensors, self.config)
        write_model_file(path, ModelFile(self.config.to_dict(), fp, self.source.tensors, self.source.network,
                                         self.source.network_weights, self.source.network_io))
        return fp
