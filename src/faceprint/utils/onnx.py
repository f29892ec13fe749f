"""One onnxruntime session on the CPU, as faceprint runs every ONNX file (exported models, YuNet). Torch-free."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


_threads: int | None = None  # set_default_threads: what a session takes when not told


def set_default_threads(threads: int | None) -> None:
    """The threads of every session made from now on in this process (a worker process of a pool: 1)."""
    global _threads
    _threads = threads


def resolve_threads(threads: int | None = None) -> int:
    """The threads a session made now with `threads` gets."""
    return threads or _threads or len(os.sched_getaffinity(0))


def cpu_session(path: str | Path | bytes, threads: int | None = None) -> Any:
    """An InferenceSession on `threads` threads (default: the cores this process may use), one operator at a time.
    ImportError where onnxruntime is not installed: the caller says which extra brings it."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = resolve_threads(threads)
    opts.inter_op_num_threads = 1
    # Idle threads sleep instead of spinning: on a few cores shared with the service's event loop and its clients (or
    # other processes), spinning threads took the CPU the work needed (serve_load, 1 client: 14.9 against 22.2
    # identifications/s); alone, it costs 10-20% at batch 1 and nothing at batch 64 (benchmarks/core.py).
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    model = path if isinstance(path, bytes) else str(path)  # a file, or a model's bytes
    return ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
