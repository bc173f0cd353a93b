"""Two or more builds of the row kernels, timed side by side in one process.

    python benchmarks/ab_kernels.py BASE.so NEW.so [--rounds 10] [--calls 15]
        [--only log_softmax,softmax] [--dtypes float64] [--shapes 1000x1000,50x1000]

Each ``.so`` is a build of ``stabkit._native._kernels`` (``python setup.py
build_ext --inplace`` in a worktree of the commit, then the file under
``stabkit/_native/``). The accurate tier's row-wise functions (softmax,
log_softmax, logsumexp, the sparse and categorical cross-entropies from
logits) reach the row kernels through one ctypes library; here each build is
loaded beside the others and swapped in before its calls, so every build
sees the same arrays at the same addresses. A build is timed only after it
gave the first build's results bit for bit on every case (a change to the
kernels must not change a bit; exit status 1 otherwise).

Why in one process: on the shared machines these numbers come from, two
processes running one build (an A/A test) differed by a median of 7% on the
float64 1000x1000 log-softmax, and single rounds by up to 44%: where a
process's arrays land in memory moves the time of the rows that stream from
it. In one process the same A/A test gives medians of 0.97-1.03, quartiles
within 0.91-1.06 on the 1000-row cases and 0.97-1.02 in cache. Pass the
same file twice for that calibration.

Every round times each case with each build (``--calls`` calls, their
median), the builds' order reversed every other round; the table gives each
build's median time per row and the median and quartiles of its per-round
ratio to the first build (< 1: faster than the first). Wall-clock times on a
shared machine: read the ratios.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import shutil
import sys
import tempfile
import time

import numpy as np

from functions import row_cases  # the script's folder is on sys.path
from stabkit import accurate
from stabkit._native import rows as _rows

FUNCTIONS = ("softmax", "log_softmax", "logsumexp", "sparse_categorical_crossentropy", "categorical_crossentropy")
DTYPES = ("float32", "float64")


def _load(paths: list[str], tmp: str) -> list[ctypes.CDLL]:
    """Each build loaded with the row kernels' signatures, from a copy of
    its own (the loader would hand back one library for two loads of a
    path)."""
    libs = []
    for k, path in enumerate(paths):
        copy = os.path.join(tmp, f"build{k}.so")
        shutil.copyfile(path, copy)
        try:
            lib = ctypes.CDLL(copy)
            for name, (args, res) in _rows._SIGNATURES.items():
                fn = getattr(lib, name)
                fn.argtypes, fn.restype = args, res
        except (OSError, AttributeError) as e:
            raise SystemExit(f"ab_kernels.py: {path} is not a build of the row kernels this tree calls ({e})")
        libs.append(lib)
    return libs


def _cases(only: list[str], dtypes: list[str], shapes: list[tuple[int, int]]):
    """(label, rows, call) for each function, format and shape, on
    functions.py's inputs."""
    rng = np.random.default_rng(0)
    for dt in dtypes:
        for shape in shapes:
            for name, args, _, kw in row_cases(rng, shape, np.dtype(dt)):
                if name in only:
                    call = (lambda f, args, kw: lambda: f(*args, **kw))(getattr(accurate, name), args, kw)
                    yield f"{name} {dt} {shape[0]}x{shape[1]}", shape[0], call


def _use(lib: ctypes.CDLL) -> None:
    _rows._LIB = lib  # every row kernel (and the cancelling rows' steps) asks rows.library()


def _same_bits(libs, cases) -> str | None:
    """The first case where a build's result differs from the first
    build's in a bit, or None."""
    for label, _, call in cases:
        _use(libs[0])
        want = np.asarray(call())
        for k, lib in enumerate(libs[1:], 1):
            _use(lib)
            got = np.asarray(call())
            if got.shape != want.shape or got.tobytes() != want.tobytes():
                return f"{label}: build {k} differs from build 0"
    return None


def _median_time(call, n: int) -> float:
    ts = []
    for _ in range(n):
        t0 = time.perf_counter()
        call()
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("builds", nargs="+", help="paths of _kernels builds (.so); the first is the base of the ratios")
    ap.add_argument("--rounds", type=int, default=10, help="rounds; each times every case with every build")
    ap.add_argument("--calls", type=int, default=15, help="calls per case, build and round (their median)")
    ap.add_argument("--only", default="log_softmax,softmax,logsumexp",
                    help=f"comma-separated functions, of {','.join(FUNCTIONS)}")
    ap.add_argument("--dtypes", default="float64", help=f"comma-separated formats, of {','.join(DTYPES)}")
    ap.add_argument("--shapes", default="1000x1000,50x1000",
                    help="comma-separated ROWSxCOLS (the second default fits in the caches)")
    opts = ap.parse_args(argv)
    only = [f for f in opts.only.split(",") if f]
    dtypes = [d for d in opts.dtypes.split(",") if d]
    for what, got, allowed in (("--only", only, FUNCTIONS), ("--dtypes", dtypes, DTYPES)):
        bad = sorted(set(got) - set(allowed))
        if bad or not got:
            ap.error(f"{what}: unknown or empty {', '.join(bad)} (choose from {', '.join(allowed)})")
    try:
        shapes = [tuple(int(v) for v in s.split("x")) for s in opts.shapes.split(",") if s]
    except ValueError:
        ap.error(f"--shapes: {opts.shapes!r} is not a list of ROWSxCOLS")
    if not shapes or any(len(s) != 2 or min(s) < 1 for s in shapes):
        ap.error(f"--shapes: {opts.shapes!r} is not a list of ROWSxCOLS (each at least 1)")
    if opts.rounds < 1 or opts.calls < 1:
        ap.error("--rounds and --calls: at least 1")
    missing = [p for p in opts.builds if not os.path.isfile(p)]
    if missing:
        ap.error(f"no such build: {', '.join(missing)}")
    if _rows.library() is None:  # opens the installed build: the addresses and loops the calls use
        print(f"ab_kernels.py: the row kernels are off here ({_rows.status()})", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        libs = _load(opts.builds, tmp)
        cases = list(_cases(only, dtypes, shapes))
        diff = _same_bits(libs, cases)
        if diff is not None:
            print(f"ab_kernels.py: {diff}: the builds must give the same bits", file=sys.stderr)
            return 1
        per_row = {(c, k): [] for c, *_ in cases for k in range(len(libs))}
        for rnd in range(opts.rounds):
            order = list(range(len(libs)))[:: 1 if rnd % 2 == 0 else -1]
            for label, n_rows, call in cases:
                for k in order:
                    _use(libs[k])
                    per_row[(label, k)].append(_median_time(call, opts.calls) / n_rows * 1e6)
            print(f"[round {rnd + 1}/{opts.rounds}]", file=sys.stderr, flush=True)
    print(f"# builds: {', '.join(f'{k}: {p}' for k, p in enumerate(opts.builds))}; "
          f"{opts.rounds} rounds of {opts.calls} calls")
    print("| case | build | us per row | ratio to build 0 (median) | quartiles |")
    print("|---|---|---|---|---|")
    for label, *_ in cases:
        base = np.array(per_row[(label, 0)])
        for k in range(len(libs)):
            t = np.array(per_row[(label, k)])
            r = t / base
            print(f"| {label} | {k} | {np.median(t):.3f} | {np.median(r):.3f} | "
                  f"{np.percentile(r, 25):.3f}-{np.percentile(r, 75):.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
