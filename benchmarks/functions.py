"""Throughput of every tier of every function beside SciPy, NumPy and PyTorch.

    python benchmarks/functions.py [--repeat 15] [--quick] [--only NAME[,NAME...]] [--dtype float32|float64]

Shapes: 1e6 elements for the elementwise functions (float32 and float64);
rows of (10000, 10) and (1000, 1000) for the row-wise functions and the
losses. Every implementation is timed in the same process, interleaved round
by round in an order shuffled every round (seeded: so that none always
inherits the cache and allocator state that the same neighbour leaves; in a
fixed order SciPy always ran right after the accurate tier), and the median over the rounds is reported as million
elements (or rows, for the losses) per second. The ratios of stabkit's
stable and accurate tiers to SciPy's equivalent are medians of the per-round
ratios (pairs timed moments apart, so a load that drifts over the run moves
both). PyTorch runs on one thread (two threads stall at random on small
shared VMs). Timings are wall-clock medians, never assertions: the machine
is shared and noisy.
"""

from __future__ import annotations

import argparse
import platform
import time
import warnings
from collections.abc import Callable

import numpy as np
import scipy
import scipy.special as sp

import stabkit
from stabkit import naive, stable

try:  # optional peer
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(1)
except ImportError:  # pragma: no cover - depends on the machine
    torch = None


def _scipy_sparse_ce(y, z):
    return -np.take_along_axis(sp.log_softmax(z, axis=-1), y[:, None], axis=-1)[:, 0]


def _scipy_cce(y, z):
    # soft labels: the cross-entropy users write from log_softmax
    return -np.sum(y * sp.log_softmax(z, axis=-1), axis=-1)


def _scipy_bce(y, z):
    # SciPy has no BCE: users write it from log_expit
    return -(y * sp.log_expit(z) + (1 - y) * sp.log_expit(-z))


def peers(fn: str) -> dict[str, Callable]:
    """The third-party equivalents of one function, as users call them."""
    out: dict[str, Callable] = {}
    table = {
        "sigmoid": (sp.expit, None, "sigmoid"),
        "log_sigmoid": (sp.log_expit, None, "logsigmoid"),
        "softplus": (None, lambda x: np.logaddexp(0, x), "softplus"),
        "softmax": (lambda z: sp.softmax(z, axis=-1), None, "softmax"),
        "log_softmax": (lambda z: sp.log_softmax(z, axis=-1), None, "log_softmax"),
        "logsumexp": (lambda z: sp.logsumexp(z, axis=-1), lambda z: np.logaddexp.reduce(z, axis=-1), "logsumexp"),
        "binary_crossentropy": (_scipy_bce, None, "bce"),
        "sparse_categorical_crossentropy": (_scipy_sparse_ce, None, "ce"),
        "categorical_crossentropy": (_scipy_cce, None, "ce"),
    }
    if fn not in table:
        return out
    s, n, t = table[fn]
    if s is not None:
        out["scipy"] = s
    if n is not None:
        out["numpy"] = n
    if torch is not None:
        tf = {
            "sigmoid": torch.sigmoid,
            "logsigmoid": F.logsigmoid,
            "softplus": F.softplus,
            "softmax": lambda z: torch.softmax(z, dim=-1),
            "log_softmax": lambda z: torch.log_softmax(z, dim=-1),
            "logsumexp": lambda z: torch.logsumexp(z, dim=-1),
            "bce": lambda y, z: F.binary_cross_entropy_with_logits(z, y, reduction="none"),
            "ce": lambda y, z: F.cross_entropy(z, y, reduction="none"),
        }[t]
        out["torch"] = ("torch", tf)
    return out


def cases(quick: bool):
    rng = np.random.default_rng(0)
    n = 200_000 if quick else 1_000_000
    for dt in (np.float32, np.float64):
        x = (rng.standard_normal(n) * 10).astype(dt)
        for fn in ("sigmoid", "log_sigmoid", "softplus"):
            yield fn, dt, (x,), n, {}
        y = rng.integers(0, 2, n).astype(dt)
        yield "binary_crossentropy", dt, (y, x), n, {"from_logits": True}
        for shape in ((10_000, 10), (1_000, 1_000)):
            if quick:
                shape = (shape[0] // 5, shape[1])
            z = (rng.standard_normal(shape) * 5).astype(dt)
            for fn in ("softmax", "log_softmax", "logsumexp"):
                # one value per row, as the peers are called (logsumexp's
                # default, like SciPy's, reduces the whole array)
                yield fn, dt, (z,), z.size, {"axis": -1}
            lab = rng.integers(0, shape[1], shape[0])
            yield "sparse_categorical_crossentropy", dt, (lab, z), shape[0], {"from_logits": True}
            soft = rng.dirichlet(np.ones(shape[1]), size=shape[0]).astype(dt)
            yield "categorical_crossentropy", dt, (soft, z), shape[0], {"from_logits": True}


def _timed(f, args, kw, to_torch):
    if to_torch:
        targs = tuple(torch.from_numpy(np.ascontiguousarray(a)) for a in args)
        t0 = time.perf_counter()
        f(*targs)
        return time.perf_counter() - t0
    t0 = time.perf_counter()
    f(*args, **kw)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=15, help="timing rounds; the median is reported")
    ap.add_argument("--quick", action="store_true", help="smaller arrays (a smoke run)")
    ap.add_argument("--only", default=None, metavar="NAMES",
                    help="comma-separated function names to time (e.g. categorical_crossentropy); default: all")
    ap.add_argument("--dtype", default=None, choices=("float32", "float64"), help="time only this dtype; default: both")
    opts = ap.parse_args()
    only = None if opts.only is None else set(opts.only.split(","))
    unknown = (only or set()) - set(stabkit.__all__)
    if unknown:
        ap.error(f"--only: unknown function(s) {', '.join(sorted(unknown))}")
    print(f"# {platform.processor() or platform.machine()}, {platform.python_version()}, numpy {np.__version__}, "
          f"scipy {scipy.__version__}, torch {torch.__version__ if torch else 'absent'} (1 thread); "
          f"median of {opts.repeat} rounds")
    print("| function | dtype | shape | naive | stable | accurate | scipy | numpy | torch | stable/scipy | accurate/scipy |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    warnings.simplefilter("ignore")
    for fn, dt, args, units, kw in cases(opts.quick):
        # the cases are drawn in full either way, so a row's data is the full run's
        if (only is not None and fn not in only) or (opts.dtype is not None and np.dtype(dt).name != opts.dtype):
            continue
        impls: dict[str, tuple[Callable, bool]] = {
            "naive": (getattr(naive, fn), False),
            "stable": (getattr(stable, fn), False),
            "accurate": (getattr(stabkit, fn), False),
        }
        for name, f in peers(fn).items():
            impls[name] = (f[1], True) if isinstance(f, tuple) else (f, False)
        times: dict[str, list[float]] = {k: [] for k in impls}
        names, order = list(impls), np.random.default_rng(1)
        with np.errstate(all="ignore"):
            for _ in range(opts.repeat):
                for name in order.permutation(names):
                    f, is_torch = impls[name]
                    times[name].append(_timed(f, args, kw if not is_torch and name in ("naive", "stable", "accurate") else {}, is_torch))
        rate = {k: units / np.median(v) / 1e6 for k, v in times.items()}
        shape = "x".join(map(str, args[-1].shape))
        cells = [f"{rate[k]:.3g}" if k in rate else "" for k in ("naive", "stable", "accurate", "scipy", "numpy", "torch")]
        # scipy time / our time, round by round, then the median
        ratio = [f"{np.median(np.divide(times['scipy'], times[k])):.2f}" if "scipy" in times else "" for k in ("stable", "accurate")]
        print(f"| {fn} | {np.dtype(dt).name} | {shape} | " + " | ".join(cells + ratio) + " |", flush=True)


if __name__ == "__main__":
    main()
