"""Speed of the reference engine, cold (empty cache), against its goals.

    python benchmarks/reference.py [--workers 2]

1. the exhaustive float16 + bfloat16 sweep of the three one-argument
   functions (6 x 65,536 bit patterns; goal <= 5 s);
2. a 1e6-point float32 sample of sigmoid (goal <= 3 s);
3. the same sample through mpmath alone, for scale (extrapolated from 20,000
   points);
4. row-wise: 2,000 rows of 10 float32 logits, log_softmax, mpmath with 1 and
   with N worker processes.

Wall-clock times on a shared machine: run it twice and quote the second.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np

from stabkit.floats import enumerate_format
from stabkit.reference import reference


def _time(f):
    t0 = time.perf_counter()
    out = f()
    return time.perf_counter() - t0, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes for the mpmath row-wise run")
    opts = ap.parse_args()
    os.environ["STABKIT_CACHE_DIR"] = tempfile.mkdtemp(prefix="stabkit-bench-")  # cold

    def sweep():
        n = 0
        for fmt in ("float16", "bfloat16"):
            x = enumerate_format(fmt)
            for fn in ("sigmoid", "log_sigmoid", "softplus"):
                r = reference(fn, x)
                n += r.rounded.size
        return n

    t, n = _time(sweep)
    print(f"exhaustive float16 + bfloat16, 3 functions: {n:,} points in {t:.2f} s (goal <= 5 s)")

    rng = np.random.default_rng(0)
    bits = rng.integers(0, 2**32, size=1_000_000, dtype=np.uint64).astype(np.uint32)
    x = bits.view(np.float32)
    x = x[np.isfinite(x)]
    t, r = _time(lambda: reference("sigmoid", x))
    left = int((r.precision != 106).sum())
    print(f"float32 sigmoid, {x.size:,} ordinal-uniform points: {t:.2f} s (goal <= 3 s); {left} settled by mpmath")

    t, _ = _time(lambda: reference("sigmoid", x[:20_000], engine="mpmath"))
    print(f"  mpmath alone: {20_000 / t:,.0f} points/s -> {x.size / (20_000 / t):.0f} s for the same sample")

    z = (rng.standard_normal((2_000, 10)) * 8).astype(np.float32)
    t1, a = _time(lambda: reference("log_softmax", z))
    tn, b = _time(lambda: reference("log_softmax", z, workers=opts.workers))
    same = np.array_equal(a.rounded.view(np.uint32), b.rounded.view(np.uint32))
    print(f"log_softmax, 2,000 rows of 10 float32: {t1:.2f} s in 1 process, {tn:.2f} s in {opts.workers} "
          f"(x{t1 / tn:.2f}; identical: {same})")


if __name__ == "__main__":
    main()
