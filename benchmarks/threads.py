"""Speed-up of ``stabkit.accurate.workers(n)`` over one thread, on 10^7
elements per call.

    python benchmarks/threads.py [--workers 2] [--repeat 9] [--only softmax,...]
                                 [--dtypes float32,float64]

Each case is timed one thread / n threads / one thread / ... (interleaved,
so a load that drifts moves both alike); reported: the median time of each
and the median of the per-round ratios (one thread's time over n threads').
Before timing, the two results are compared bit for bit (they must be
equal: the threads take whole blocks, see ``stabkit/_accurate/threads.py``).
The cases: sigmoid, log_sigmoid, softplus and binary cross-entropy (from
logits) on 10^7 elements; softmax, log_softmax, logsumexp and the two
cross-entropies (from logits) on 10^4 rows of 1000 and on 10^6 rows of 10.
PyTorch is not involved. The ratio can reach n only on n idle cores: on a
machine shared with other work it says as much about the load as about the
code.
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

from stabkit import accurate  # noqa: E402
from stabkit._machine import processor  # noqa: E402
from stabkit._native import status as native_status  # noqa: E402

ELEMENTWISE = ("sigmoid", "log_sigmoid", "softplus", "binary_crossentropy")
ROWWISE = ("softmax", "log_softmax", "logsumexp", "sparse_categorical_crossentropy", "categorical_crossentropy")


def _cases(dtype, only):
    rng = np.random.default_rng(0)
    flat = (rng.standard_normal(10**7) * 8).astype(dtype)
    bits = (rng.random(10**7) < 0.5).astype(dtype)
    for name in ELEMENTWISE:
        if only and name not in only:
            continue
        fn = getattr(accurate, name)
        if name == "binary_crossentropy":
            yield name, "10000000", (lambda f=fn: f(bits, flat, from_logits=True))
        else:
            yield name, "10000000", (lambda f=fn: f(flat))
    for shape in ((10**4, 1000), (10**6, 10)):
        x = flat.reshape(shape)
        labels = rng.integers(0, shape[1], shape[0])
        onehot = np.eye(shape[1], dtype=dtype)[labels]
        for name in ROWWISE:
            if only and name not in only:
                continue
            fn = getattr(accurate, name)
            if name == "sparse_categorical_crossentropy":
                call = (lambda f=fn, x=x, y=labels: f(y, x, from_logits=True))
            elif name == "categorical_crossentropy":
                call = (lambda f=fn, x=x, y=onehot: f(y, x, from_logits=True))
            elif name == "logsumexp":
                call = (lambda f=fn, x=x: f(x, axis=-1))
            else:
                call = (lambda f=fn, x=x: f(x))
            yield name, f"{shape[0]}x{shape[1]}", call


def _timed(call, n: int) -> tuple[float, np.ndarray]:
    with accurate.workers(n):
        t = time.perf_counter()
        y = call()
        return time.perf_counter() - t, y


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", type=int, default=2, help="threads to compare with one (default 2)")
    ap.add_argument("--repeat", type=int, default=9, help="interleaved rounds per case; medians are reported (default 9)")
    ap.add_argument("--only", default="", help="comma-separated function names (default: all)")
    ap.add_argument("--dtypes", default="float32,float64", help="comma-separated formats (default float32,float64)")
    args = ap.parse_args(argv)
    if args.workers < 2 or args.repeat < 1:
        print("error: --workers must be at least 2 and --repeat at least 1", file=sys.stderr)
        return 2
    only = {s for s in args.only.split(",") if s}
    unknown = only - set(ELEMENTWISE) - set(ROWWISE)
    if unknown:
        print(f"error: unknown function(s) {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    print(f"# {processor()}, Python {platform.python_version()}, NumPy {np.__version__}; "
          f"{args.workers} workers vs 1; median of {args.repeat} interleaved rounds")
    print("# " + native_status.summary().replace("\n", "\n# "))
    print("| function | dtype | shape | 1 thread (ms) | workers (ms) | speed-up (median, range) |")
    print("|---|---|---|---|---|---|")
    for dt in args.dtypes.split(","):
        for name, shape, call in _cases(np.dtype(dt), only):
            _, a = _timed(call, 1)
            _, b = _timed(call, args.workers)
            if np.asarray(a).tobytes() != np.asarray(b).tobytes():
                print(f"error: {name} {dt} {shape}: {args.workers} workers changed the result", file=sys.stderr)
                return 1
            one, many, ratio = [], [], []
            for _ in range(args.repeat):
                t1, _ = _timed(call, 1)
                tn, _ = _timed(call, args.workers)
                one.append(t1)
                many.append(tn)
                ratio.append(t1 / tn)
            print(f"| {name} | {dt} | {shape} | {1e3 * statistics.median(one):.1f} | {1e3 * statistics.median(many):.1f} "
                  f"| {statistics.median(ratio):.2f} ({min(ratio):.2f}-{max(ratio):.2f}) |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
