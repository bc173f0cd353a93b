"""stabkit._machine: the processor a report and the benchmarks name."""

import builtins
import io

from stabkit import _machine


def _cpuinfo(text, monkeypatch):
    real = builtins.open

    def fake(path, *a, **k):
        return io.StringIO(text) if path == "/proc/cpuinfo" else real(path, *a, **k)

    monkeypatch.setattr(builtins, "open", fake)


def test_the_model_name_of_an_x86_cpuinfo(monkeypatch):
    _cpuinfo("processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC  7B13 64-Core Processor\n"
             "processor\t: 1\nmodel name\t: AMD EPYC 7B13 64-Core Processor\n", monkeypatch)
    assert _machine.processor() == "AMD EPYC 7B13 64-Core Processor"  # spaces collapsed


def test_an_arm_cpuinfo_without_a_model_name_falls_back(monkeypatch):
    # many Arm kernels list "processor : 0" per core and no model name
    _cpuinfo("processor\t: 0\nBogoMIPS\t: 50.00\nCPU implementer\t: 0x41\n", monkeypatch)
    monkeypatch.setattr(_machine.platform, "system", lambda: "Linux")
    monkeypatch.setattr(_machine.platform, "processor", lambda: "")
    monkeypatch.setattr(_machine.platform, "machine", lambda: "aarch64")
    assert _machine.processor() == "aarch64"
    assert _machine.machine() == {"arch": "aarch64", "processor": "aarch64"}


def test_nothing_readable_says_unknown(monkeypatch):
    def refuse(path, *a, **k):
        raise OSError("no such file")

    monkeypatch.setattr(builtins, "open", refuse)
    for name in ("system", "processor", "machine"):
        monkeypatch.setattr(_machine.platform, name, lambda: "")
    assert _machine.machine() == {"arch": "unknown", "processor": "unknown"}
