"""The row-wise gufuncs of ``stabkit.ufuncs`` beside the functions of
``stabkit.accurate`` they call: what the gufunc layer costs or saves.

    python benchmarks/gufuncs.py [--repeat 15] [--dtypes float32,float64]

For logsumexp, softmax and log_softmax on 1000x1000, 10000x10 and 64x3x50
inputs, one round times ``accurate.f(x)``, ``ufuncs.f(x)`` and
``ufuncs.f(x, out=buf)`` (interleaved, so a drifting load moves all
three); reported: the median time of each and the medians of the per-round
ratios (the function's time over the gufunc's: > 1 means the gufunc is
faster). Before timing, the three results are compared bit for bit.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stabkit import accurate, ufuncs  # noqa: E402
from stabkit._machine import processor  # noqa: E402

NAMES = ("logsumexp", "softmax", "log_softmax")
SHAPES = ((1000, 1000), (10000, 10), (64, 3, 50))


def _timed(f) -> float:
    t = time.perf_counter()
    f()
    return time.perf_counter() - t


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=15, help="timing rounds; medians are reported (default 15)")
    ap.add_argument("--dtypes", default="float32,float64", help="comma-separated formats (default float32,float64)")
    args = ap.parse_args(argv)
    if args.repeat < 1:
        print("gufuncs.py: --repeat must be at least 1", file=sys.stderr)
        return 2
    try:
        dtypes = [np.dtype(d) for d in args.dtypes.split(",")]
    except TypeError as e:
        print(f"gufuncs.py: {e}", file=sys.stderr)
        return 2
    try:
        gus = {n: getattr(ufuncs, n) for n in NAMES}
    except AttributeError as e:
        print(f"gufuncs.py: {e}", file=sys.stderr)
        return 1
    print(f"# {processor()}, Python {platform.python_version()}, NumPy {np.__version__}; "
          f"median of {args.repeat} rounds")
    print("| function | dtype | shape | accurate (ms) | gufunc (ms) | gufunc, out= (ms) | accurate/gufunc | accurate/out= |")
    print("|---|---|---|---|---|---|---|---|")
    rng = np.random.default_rng(0)
    for dt in dtypes:
        for shape in SHAPES:
            x = (rng.standard_normal(shape) * 4).astype(dt)
            for name in NAMES:
                f, g = getattr(accurate, name), gus[name]
                ref = f(x, axis=-1)
                buf = np.empty_like(ref)
                if not (g(x).tobytes() == ref.tobytes() and g(x, out=buf).tobytes() == ref.tobytes()):
                    print(f"gufuncs.py: {name} {dt} {shape}: the gufunc's bits differ", file=sys.stderr)
                    return 1
                ta, tg, to = [], [], []
                for _ in range(args.repeat):
                    ta.append(_timed(lambda: f(x, axis=-1)))
                    tg.append(_timed(lambda: g(x)))
                    to.append(_timed(lambda: g(x, out=buf)))
                med = statistics.median
                print(f"| {name} | {dt} | {'x'.join(map(str, shape))} | {med(ta) * 1e3:.3f} | {med(tg) * 1e3:.3f} | "
                      f"{med(to) * 1e3:.3f} | {med(a / b for a, b in zip(ta, tg)):.2f} | "
                      f"{med(a / b for a, b in zip(ta, to)):.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
