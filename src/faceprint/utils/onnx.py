"""One onnxruntime session on the CPU, as faceprint runs every ONNX file (exported models, YuNet). Torch-free."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def cpu_session(path: str | Path, threads: int | None = None) -> Any:
    """An InferenceSession on `threads` threads (default: the cores this process may use), one operator at a time.
    ImportError where onnxruntime is not installed: the caller says which extra brings it."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads or len(os.sched_getaffinity(0))
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
