"""Process-level settings that decide CPU speed here."""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import signal
import sys
from pathlib import Path

log = logging.getLogger(__name__)

_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4


def tune_malloc() -> bool:
    """Stop glibc from mapping and unmapping large activation buffers on every step.

    Buffers over 32 MB are otherwise mmap'ed and returned each step, paying page faults every time: 1.3-3.6x on
    this project's 2-core machine. Same effect as MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=1e11, set at run time.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
        ok = libc.mallopt(_M_MMAP_MAX, 0) == 1 and libc.mallopt(_M_TRIM_THRESHOLD, 2**31 - 1) == 1
    except OSError:
        return False
    if not ok:
        log.debug("mallopt refused; continuing with default malloc settings")
    return ok


def cpu_has_native_bf16(cpuinfo: str | None = None) -> bool | None:
    """Whether this CPU computes bfloat16 in hardware (AVX512-BF16 or AMX); None where it cannot be told (not Linux).

    Without it, bf16 autocast is emulated: a training step of dlib_resnet_slim ran ~10x slower than fp32 on an AVX2-only
    Zen core, against 1.5-2x faster on one with AVX512-BF16."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None
    flags = next((line.split(":", 1)[1].split() for line in cpuinfo.splitlines() if line.startswith("flags")), None)
    if flags is None:
        return None
    return bool({"avx512_bf16", "amx_bf16"} & set(flags))


def set_threads(threads: int | None) -> int:
    """The threads a process computes on: PyTorch's, where the process uses it (onnxruntime sessions take theirs
    when made: faceprint.utils.onnx), and numpy's BLAS. Never imports torch.

    BLAS matters in pool workers: OpenBLAS starts a thread per core for even a small matrix product (the landmark
    crops' resampling) and its threads spin while they wait, so two one-thread workers on two cores ran four
    busy threads: 95 against 347 LFW photos/s (benchmarks/detection.py, issue 36)."""
    from faceprint.utils.onnx import set_default_threads

    cores = len(os.sched_getaffinity(0))
    n = threads or cores
    set_default_threads(n)
    if n < cores:  # BLAS takes every core by default; only fewer needs telling (9 ms: not on every command's start)
        try:
            from threadpoolctl import threadpool_limits

            threadpool_limits(n, user_api="blas")  # stays in force for the process
        except ImportError:  # a core without it: BLAS keeps its own default
            pass
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(n)
    return n


_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Make this worker process end when the process that started it ends, even by kill -9 (Linux; elsewhere a
    no-op). Without it, forked pool workers of a killed command sleep on forever, holding their memory: they keep the
    write end of their own task pipe open, so they never see it close."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return
    parent = multiprocessing.parent_process()
    if parent is not None and os.getppid() != parent.pid:  # the parent died before the line above ran
        os._exit(1)
