"""Ctrl-C during `stabkit report`: one line, exit 130, no report files, the
finished references kept in the cache and reused by the rerun; and the
report is the same byte for byte with 1 or 2 worker processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ARGS = ["--functions", "log_softmax,logsumexp", "--dtypes", "float64", "--impls", "stable,accurate", "-q"]


def _env(cache: Path) -> dict:
    env = dict(os.environ, STABKIT_CACHE_DIR=str(cache), PYTHONPATH=str(ROOT))
    env.pop("STABKIT_DEBUG", None)
    return env


def _default_sigint() -> None:
    # a job started in the background by a non-interactive shell (as CI may
    # run us) inherits SIGINT ignored, and Python then never raises
    # KeyboardInterrupt: give the child the default disposition back
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _report(args, cache: Path, **kw):
    return subprocess.Popen([sys.executable, "-m", "stabkit", "report", *args], env=_env(cache), cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_default_sigint, **kw)


@pytest.mark.slow
def test_sigint_leaves_no_report_and_the_rerun_reuses_the_cache(tmp_path):
    cache, out = tmp_path / "cache", tmp_path / "out"
    proc = _report([*ARGS, "--samples", "40000", "--out", str(out)], cache)
    deadline = time.monotonic() + 120
    while not list(cache.rglob("*.npz")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    if proc.poll() is not None:
        pytest.skip("the report finished before it could be interrupted")
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert err.strip().splitlines() == ["error: interrupted"]
    assert not (out / "report.json").exists() and not (out / "report.md").exists()
    kept = {p: p.stat().st_mtime_ns for p in cache.rglob("*.npz")}
    assert kept and not list(cache.rglob("*.tmp"))  # finished entries, nothing half-written

    done = _report([*ARGS, "--samples", "40000", "--out", str(out)], cache)
    _, err = done.communicate(timeout=600)
    assert done.returncode == 0, err
    assert (out / "report.json").is_file() and (out / "report.md").is_file()
    # what the interrupted run finished was read back, not recomputed
    assert all(p.stat().st_mtime_ns == t for p, t in kept.items())


@pytest.mark.slow
def test_one_and_two_workers_write_identical_reports(tmp_path):
    outs = []
    for workers in ("1", "2"):
        out = tmp_path / f"w{workers}"
        p = _report([*ARGS, "--samples", "3000", "--workers", workers, "--no-cache", "--out", str(out)], tmp_path / "c")
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        outs.append(out)
    for name in ("report.json", "report.md"):
        assert (outs[0] / name).read_bytes().replace(b"w1", b"wX") == (outs[1] / name).read_bytes().replace(b"w2", b"wX")


@pytest.mark.slow
def test_peak_memory_of_a_ten_million_point_sweep_is_bounded_by_the_chunk(tmp_path):
    # 10**7 float32 inputs through three implementations: the sweep keeps
    # only per-chunk partial statistics, so the peak is set by one chunk of
    # 2**22 points (a few hundred bytes per point), not by the 10**7
    import tracemalloc

    from stabkit.analysis import sweep as sw

    tracemalloc.start()
    try:
        res = sw.sweep("sigmoid", "float32", ("naive", "stable", "accurate"), start=0x3C000000,
                       stop=0x3C000000 + 10**7, workers=1, state=tmp_path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert res.n == 10**7
    # measured here: 579 MiB, ~145 bytes per point of one chunk; holding all
    # 10**7 points at that rate would take 1.4 GiB, past this bound
    assert peak < 2**22 * 200
