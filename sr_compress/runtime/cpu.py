"""What the CPU's INT8 instructions can do, for choices that depend on it (the INT8 overflow fix).

x86 CPUs without VNNI (AVX2, plain AVX-512) multiply uint8 activations by int8 weights with
``vpmaddubsw``, which adds each pair of products into a saturating int16: with full-range 8-bit
weights and activations, sums above 32767 are clipped. OpenVINO and ONNX Runtime both use that
path there, so an INT8 model that matches its fake-quant PyTorch twin on a VNNI machine can be
several dB off on an AVX2 one. 7-bit weights ("half range") keep every pair sum in range.
"""

from __future__ import annotations

import platform
from pathlib import Path

VNNI_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")


def cpu_flags() -> set[str]:
    """The CPU feature flags the kernel reports (empty where /proc/cpuinfo does not exist)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def int8_saturates(flags: set[str] | None = None) -> bool:
    """True where u8 x s8 dot products may saturate (x86 without VNNI); False on VNNI x86 and on ARM."""
    machine = platform.machine().lower()
    if flags is None:
        if machine not in ("x86_64", "amd64", "i386", "i686"):
            return False
        flags = cpu_flags()
    return not any(f in flags for f in VNNI_FLAGS)
