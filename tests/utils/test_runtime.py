"""Reading the CPU's bfloat16 support from /proc/cpuinfo text."""

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

