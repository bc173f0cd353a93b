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
