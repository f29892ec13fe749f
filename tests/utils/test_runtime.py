"""Process-level settings: the CPU's bfloat16 support read from /proc/cpuinfo text, and the threads a process uses."""

from __future__ import annotations

from faceprint.utils.runtime import cpu_has_native_bf16

_ZEN4 = "processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu sse2 avx2 avx512f avx512_bf16 avx512_vnni\n"
_ZEN2 = "processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu sse2 avx2 fma\n"
_SAPPHIRE = "processor\t: 0\nflags\t\t: fpu avx2 avx512f amx_bf16 amx_tile\n"


def test_native_bf16_is_read_from_the_flags_line():
    assert cpu_has_native_bf16(_ZEN4) is True
    assert cpu_has_native_bf16(_SAPPHIRE) is True
    assert cpu_has_native_bf16(_ZEN2) is False
    assert cpu_has_native_bf16("flags\t\t: avx512_bf16x\n") is False  # whole flags only


def test_no_flags_line_means_unknown():
    assert cpu_has_native_bf16("Processor\t: ARMv7\n") is None
    assert cpu_has_native_bf16("") is None



def test_set_threads_one_limits_blas_too():
    """A one-thread worker must not run numpy's BLAS on every core: OpenBLAS's spinning threads cost two workers on
    two cores 3.6x (issue 36). Checked in a fresh process, so this one keeps its own settings."""
    import subprocess
    import sys

    code = """
import numpy
from threadpoolctl import threadpool_info
from faceprint.utils.runtime import set_threads
set_threads(1)
blas = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
assert blas and set(blas) == {1}, blas
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]
