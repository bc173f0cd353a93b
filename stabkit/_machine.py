"""Which processor a run was made on, for the reports and the benchmarks.

A library's last bits can depend on it: the same release of PyTorch rounds
its float32 logsumexp differently on an Intel Xeon (AVX-512) and an AMD EPYC,
and NumPy dispatches its SIMD loops per processor. A report that names the
processor can be compared exactly with a run on the same one, and only
within a tolerance elsewhere; a timing table that names it says what its
ratios were measured on.
"""

from __future__ import annotations

import platform
import subprocess


def processor() -> str:
    """The processor's model name: the first ``model name`` of
    ``/proc/cpuinfo`` on Linux, ``machdep.cpu.brand_string`` on macOS, else
    ``platform.processor()``, else the architecture (``platform.machine()``);
    ``"unknown"`` where none says. Never raises."""
    name = _linux_model() or _macos_brand() or platform.processor() or platform.machine()
    return " ".join(name.split()) or "unknown"


def machine() -> dict[str, str]:
    """``{"arch": ..., "processor": ...}``, as a report records them."""
    return {"arch": platform.machine() or "unknown", "processor": processor()}


def _linux_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, sep, value = line.partition(":")
                # x86 says "model name"; some Arm kernels say "Processor" or nothing
                if sep and key.strip().lower() in ("model name", "processor") and not value.strip().isdigit():
                    return value.strip()
    except OSError:
        pass
    return ""


def _macos_brand() -> str:
    if platform.system() != "Darwin":
        return ""
    try:
        out = subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True, text=True,
                             timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip()
