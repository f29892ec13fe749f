"""Shared by the benchmarks: run a case in a fresh process and report its median time and peak extra memory."""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
from pathlib import Path


def current_rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_isolated(script: Path, args: list[str], timeout: float = 600) -> dict:
    """Each case in its own process, so one case's peak memory or allocator state cannot leak into the next."""
    try:
        out = subprocess.run([sys.executable, str(script), "--case", *args], capture_output=True, text=True,
                             timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"error": f"timeout {timeout:.0f}s"}
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if out.returncode != 0 or not lines:
        tail = (out.stderr.strip().splitlines() or ["?"])[-1]
        return {"error": tail[:80]}
    return json.loads(lines[-1])


def machine() -> str:
    cpu = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import torch

    # the vector ISA torch dispatches to: AVX512 and AVX2 machines of the same name differ 2-10x (bf16 most)
    cpu += f" ({torch.backends.cpu.get_cpu_capability()})"
    return (f"{cpu}, {len(os.sched_getaffinity(0))} cores, torch {torch.__version__} ({torch.get_num_threads()} threads), "
            f"Python {platform.python_version()}")
