"""benchmarks/functions.py as a user runs it: the table's rows, and the
closing count of the rows whose ratio column reads 1.00 or more, which must
agree with the table above it (timings themselves are never asserted)."""

from __future__ import annotations

import subprocess
import sys

from helpers.nn import REPO


def test_the_closing_count_agrees_with_the_ratio_column():
    run = subprocess.run([sys.executable, str(REPO / "benchmarks" / "functions.py"), "--quick", "--repeat", "1",
                          "--dtypes", "float32", "--peers", "scipy", "--tiers", "accurate",
                          "--only", "softmax,logsumexp,sigmoid"],
                         capture_output=True, text=True, timeout=300)  # fmt: skip
    assert run.returncode == 0, run.stderr
    rows = [line.split("|")[1:-1] for line in run.stdout.splitlines() if line.startswith("| ")]
    head, body = rows[0], rows[1:]
    assert [c.strip() for c in head] == ["function", "dtype", "shape", "accurate", "scipy", "accurate/scipy"]
    # sigmoid once, softmax and logsumexp on both shapes
    assert sorted(r[0].strip() for r in body) == ["logsumexp"] * 2 + ["sigmoid"] + ["softmax"] * 2
    above = sum(float(r[-1]) >= 1.0 for r in body)
    assert f"accurate/scipy at or above 1.0 (stabkit as fast or faster): {above} of 5 rows" in run.stdout


def test_lanes_times_every_float32_case_against_both_torch_formats():
    """benchmarks/lanes.py: one row per float32 case of functions.py, each
    with its four timings present (a case whose float64 copy or PyTorch call
    failed would print n/a), and the labels kept as integers when the logits
    are widened."""
    import numpy as np
    import pytest

    pytest.importorskip("torch")
    run = subprocess.run([sys.executable, str(REPO / "benchmarks" / "lanes.py"), "--quick", "--repeat", "1"],
                         capture_output=True, text=True, timeout=300)  # fmt: skip
    assert run.returncode == 0, run.stderr
    rows = [[c.strip() for c in line.split("|")[1:-1]] for line in run.stdout.splitlines() if line.startswith("| ")]
    body = rows[1:]
    assert len(body) == 14 and {r[1] for r in body} == {"200000", "2000x10", "200x1000"}
    for r in body:
        assert all(float(c) > 0 for c in r[2:]), r
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        from lanes import _widened
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    lab, z = np.arange(3), np.ones((3, 4), np.float32)
    wl, wz = _widened((lab, z))
    assert wl is lab and wz.dtype == np.float64 and np.array_equal(wz, z)


def test_ab_kernels_times_one_build_against_itself():
    """benchmarks/ab_kernels.py with the installed build given twice (the
    A/A test it suggests): every case has a row per build, build 0's ratio
    is 1, and a missing build or an unknown function is one error line."""
    import pytest

    from stabkit._native import load, rows

    if rows.library() is None:
        pytest.skip("the extension is not built")
    so = load.module().__file__
    script = str(REPO / "benchmarks" / "ab_kernels.py")
    run = subprocess.run([sys.executable, script, so, so, "--rounds", "2", "--calls", "1", "--shapes", "3x40,5x8",
                          "--only", "log_softmax,categorical_crossentropy", "--dtypes", "float32,float64"],
                         capture_output=True, text=True, timeout=300)  # fmt: skip
    assert run.returncode == 0, run.stderr
    rows_ = [[c.strip() for c in line.split("|")[1:-1]] for line in run.stdout.splitlines() if line.startswith("| ")]
    body = rows_[1:]
    cases = {r[0] for r in body}
    assert len(cases) == 2 * 2 * 2 and len(body) == 2 * len(cases)
    assert all(r[3] == "1.000" for r in body if r[1] == "0")
    assert run.stderr.count("[round ") == 2
    for args, message in (([so, "/no/such.so"], "no such build: /no/such.so"),
                          ([so, "--only", "expit"], "--only: unknown or empty expit")):
        bad = subprocess.run([sys.executable, script, *args], capture_output=True, text=True, timeout=120)
        assert bad.returncode == 2 and message in bad.stderr and "Traceback" not in bad.stderr
