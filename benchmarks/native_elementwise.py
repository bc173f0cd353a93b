"""The compiled elementwise ufuncs beside the NumPy path, SciPy and PyTorch.

    python benchmarks/native_elementwise.py [--rounds 15] [--n 1000000] [--threads]

sigmoid, log_sigmoid and softplus on ``n`` float32 inputs (normal, sd 10):
stabkit.accurate with its compiled ufunc (``native``), the same function
with ``STABKIT_NATIVE=0`` (``numpy path``), scipy.special (expit,
log_expit, softplus) and PyTorch on one thread. Every round times each
implementation once, in an order shuffled every round (seeded); the table
gives the median time and the medians of the per-round ratios to the native
path (> 1: native is faster). ``--threads`` also times two threads each
calling the ufunc on 1e7 elements against two calls in sequence (the GIL
is released inside the loop). Wall-clock medians on a shared machine: read
ratios, not absolute times.
"""

from __future__ import annotations

import argparse
import os
import platform
import threading
import time

import numpy as np
import scipy
import scipy.special as sp

from stabkit import accurate
from stabkit._native import elementwise

try:  # optional peer
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(1)
except ImportError:  # pragma: no cover - depends on the machine
    torch = None

SCIPY = {"sigmoid": sp.expit, "log_sigmoid": sp.log_expit, "softplus": getattr(sp, "softplus", None)}
TORCH = {"sigmoid": "sigmoid", "log_sigmoid": "logsigmoid", "softplus": "softplus"}


def _numpy_path(fn):
    def run(x):
        os.environ["STABKIT_NATIVE"] = "0"
        try:
            return fn(x)
        finally:
            del os.environ["STABKIT_NATIVE"]

    return run


def implementations(name: str) -> dict:
    fn = getattr(accurate, name)
    out = {"native": fn, "numpy path": _numpy_path(fn)}
    if SCIPY[name] is not None:
        out["scipy"] = SCIPY[name]
    if torch is not None:
        tf = torch.sigmoid if name == "sigmoid" else getattr(F, TORCH[name])
        out["torch 1 thread"] = ("torch", tf)
    return out


def bench(name: str, x: np.ndarray, rounds: int, rng) -> dict[str, list[float]]:
    impls = implementations(name)
    xt = torch.from_numpy(x) if torch is not None else None
    times: dict[str, list[float]] = {k: [] for k in impls}
    for _ in range(rounds):
        for k in rng.permutation(list(impls)):
            f = impls[k]
            arg = x
            if isinstance(f, tuple):
                f, arg = f[1], xt
            t0 = time.perf_counter()
            f(arg)
            times[k].append(time.perf_counter() - t0)
    return times


def threads(n: int = 10_000_000, rounds: int = 7) -> None:
    x = np.random.default_rng(1).normal(0, 10, n).astype(np.float32)
    outs = [np.empty_like(x), np.empty_like(x)]
    ext = elementwise.extension()
    for name in elementwise.FUNCTIONS:
        uf = getattr(ext, name)
        ratios, seq_t, par_t = [], [], []
        for _ in range(rounds):
            t0 = time.perf_counter()
            uf(x, out=outs[0])
            uf(x, out=outs[1])
            seq = time.perf_counter() - t0
            ts = [threading.Thread(target=uf, args=(x,), kwargs={"out": o}) for o in outs]
            t0 = time.perf_counter()
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            par = time.perf_counter() - t0
            seq_t.append(seq)
            par_t.append(par)
            ratios.append(seq / par)
        print(f"| {name} | {np.median(seq_t) * 1e3:.1f} ms | {np.median(par_t) * 1e3:.1f} ms | "
              f"{np.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f}) |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=15, help="interleaved rounds per function (default 15)")
    ap.add_argument("--n", type=int, default=1_000_000, help="elements per call (default 1e6)")
    ap.add_argument("--threads", action="store_true", help="also time two threads on 1e7 elements")
    args = ap.parse_args()
    if elementwise.ufunc("sigmoid", "float32") is None:
        raise SystemExit(f"the native path is not active: {elementwise.why_not('sigmoid', 'float32')}")
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; "
          f"numpy {np.__version__}, scipy {scipy.__version__}" + (f", torch {torch.__version__}" if torch else ""))
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(args.n) * 10).astype(np.float32)
    print("\n| function (float32, n=%d) | implementation | median ms | native faster by (median of rounds) |" % args.n)
    print("| --- | --- | --- | --- |")
    for name in elementwise.FUNCTIONS:
        times = bench(name, x, args.rounds, rng)
        nat = np.array(times["native"])
        for k, v in times.items():
            ratio = "" if k == "native" else f"{np.median(np.array(v) / nat):.2f}x"
            print(f"| {name} | {k} | {np.median(v) * 1e3:.2f} | {ratio} |")
    if args.threads:
        print("\n| ufunc (float32, 1e7 each) | two calls in sequence | two threads | speed-up (range) |")
        print("| --- | --- | --- | --- |")
        threads()


if __name__ == "__main__":
    main()
