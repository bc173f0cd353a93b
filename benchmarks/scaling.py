"""How the accurate tier's row-wise functions scale with the row length and
the batch size, and how much memory they take on a 10^8-element input.

    python benchmarks/scaling.py [--parts time,memory] [--repeat 7]
                                 [--dtypes float32,float64] [--widths 10,100]

Time: softmax, log_softmax, logsumexp (per row) and the sparse and
categorical cross-entropies (from logits) on single rows of 1e4, 1e5 and 1e6
entries and on batches of 1e3, 1e4 and 1e5 rows of each ``--widths``. For
each case: the median time per element over ``--repeat`` rounds, and its
ratio to the smallest case of the same family (rows, or batches of one
width). Every size of a family, and SciPy on it, is called once per round in
a shuffled order, and the ratios are medians of per-round ratios (a load
that drifts over the run moves the sizes alike).
Linear scaling keeps the ratio near 1 or below (the smallest case carries
the fixed cost of a call); the ratio to the previous (10x smaller) case
shows where the growth happens, and a case more than 1.5x slower per
element than either is flagged.
SciPy's equivalent (as in ``functions.py``) on the same input: its time per
element, and the median of the per-round ratios (SciPy's time over
stabkit's), separate the memory hierarchy (both slow
down once the arrays leave the cache) from stabkit's own growth.
``calls`` counts the Python and C function calls of one call (sys.setprofile):
it grows with the number of blocks, and would grow with the number of rows
if some work were done row by row in Python.

Memory: each function on a 10^8-element float32 input, as (1e5, 1e3) and
as one row of 1e8, in a process of its own (so that peaks do not mix),
under an address-space limit (``--mem-limit-gb``) so that a run that needs
too much fails with MemoryError instead of starving the machine. Reported:
the input's size, the output's, the resident set before the call (after a
small warm-up call that loads stabkit's lazily imported modules), its peak
(``ru_maxrss``) and the growth of the peak over the input's size, with and
without the output, and the resident set after the call (the output held).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

sys.path.insert(0, str(Path(__file__).resolve().parent))  # peers.py

import stabkit  # noqa: E402
from peers import SciPy  # noqa: E402
from stabkit.floats import get_format  # noqa: E402

FUNCTIONS = ("softmax", "log_softmax", "logsumexp", "sparse_categorical_crossentropy", "categorical_crossentropy")
ROW_LENGTHS = (10_000, 100_000, 1_000_000)
BATCHES = (1_000, 10_000, 100_000)
MEMORY_SHAPES = ((100_000, 1_000), (1, 100_000_000))
#: Flag a case whose time per element is this many times the smallest case's.
SUPERLINEAR = 1.5


def inputs(fn: str, shape: tuple[int, int], dtype, rng) -> tuple:
    """The arguments of one call: logits (and the targets of a loss)."""
    z = rng.standard_normal(shape, dtype=np.float32 if dtype == np.float32 else np.float64)
    z *= 5
    z = z.astype(dtype, copy=False)
    if fn == "sparse_categorical_crossentropy":
        return rng.integers(0, shape[1], shape[0]), z
    if fn == "categorical_crossentropy":
        t = rng.random(shape, dtype=np.float32 if dtype == np.float32 else np.float64).astype(dtype, copy=False)
        t /= t.sum(axis=-1, keepdims=True)
        return t, z
    return (z,)


def call(fn: str, args: tuple):
    f = getattr(stabkit, fn)
    if fn.endswith("crossentropy"):
        return f(*args, from_logits=True)
    return f(*args, axis=-1)


def count_calls(fn: str, args: tuple) -> int:
    """Function calls (Python and C) made by one call of ``fn``."""
    n = 0

    def prof(frame, event, arg):
        nonlocal n
        if event in ("call", "c_call"):
            n += 1

    sys.setprofile(prof)
    try:
        call(fn, args)
    finally:
        sys.setprofile(None)
    return n


def _rounds(calls: list, repeat: int, order) -> np.ndarray:
    """Seconds per call, shape (repeat, len(calls)): every call once per
    round in a shuffled order, after one warm-up round (workspaces
    allocated, pages touched)."""
    t = np.empty((repeat + 1, len(calls)))
    for r in range(repeat + 1):
        for i in order.permutation(len(calls)):
            t0 = time.perf_counter()
            calls[i]()
            t[r, i] = time.perf_counter() - t0
    return t[1:]


def time_part(fns, dtypes, widths, repeat, lengths, batches) -> None:
    """Every size of a family (and SciPy on it) timed in the same rounds, so
    that the ratios between sizes are medians of per-round ratios, robust to
    a load that drifts over the run."""
    families = [("row", [(1, n) for n in lengths])]
    families += [(f"batch of width {w}", [(r, w) for r in batches]) for w in widths]
    print("| function | dtype | family | shape | ms per call | ns per element | ratio to smallest | ratio to previous "
          "| calls | scipy ns per element | scipy/accurate | |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    scipy = SciPy().table()
    rng, order, start = np.random.default_rng(0), np.random.default_rng(1), time.perf_counter()
    total, done = len(fns) * len(dtypes) * len(families), 0
    for name in dtypes:
        dt = get_format(name).dtype
        for fn in fns:
            for family, shapes in families:
                done += 1
                print(f"[{done}/{total}] {fn} {name} {family}, {time.perf_counter() - start:.0f} s so far",
                      file=sys.stderr, flush=True)
                args = [inputs(fn, shape, dt, rng) for shape in shapes]
                ours = [(lambda a: lambda: call(fn, a))(a) for a in args]
                peer = [(lambda a: lambda: scipy[fn](*a))(a) for a in args]
                t = _rounds(ours + peer, repeat, order)
                size = np.array([r * c for r, c in shapes], dtype=float)
                per = t[:, : len(shapes)] / size  # seconds per element, round by round
                for k, shape in enumerate(shapes):
                    # medians of per-round ratios: sizes timed moments apart
                    to_first = np.median(per[:, k] / per[:, 0])
                    to_prev = np.median(per[:, k] / per[:, max(k - 1, 0)])
                    flag = "super-linear?" if max(to_first, to_prev) > SUPERLINEAR else ""
                    print(f"| {fn} | {name} | {family} | {shape[0]}x{shape[1]} | {np.median(t[:, k]) * 1e3:.3g} | "
                          f"{np.median(per[:, k]) * 1e9:.3g} | {to_first:.2f} | {to_prev:.2f} | "
                          f"{count_calls(fn, args[k])} | {np.median(t[:, len(shapes) + k]) / size[k] * 1e9:.3g} | "
                          f"{np.median(t[:, len(shapes) + k] / t[:, k]):.2f} | {flag} |", flush=True)


def dominated_part(fns, repeat: int) -> None:
    """Rows of the same length, float64, timed in turn: logits ``5 g`` (g
    standard normal) with the largest raised by 20 (one class wins by a
    margin of 20: the other entries' ``exp(x - max)`` add up to ~1e-8)
    against ``0.01 g`` (every entry counts: they add up to about n). The
    accurate tier re-sums, by a pairwise TwoSum tree, the rows whose
    extracted sum falls below ``n**2 * 2**-39`` (``_accurate.eft.sum_split``);
    the first rows take that path at every length, the second never. With
    plain ``5 g`` logits the others add up to a few units, below the bound
    past ~7e5 entries (rows where one entry stands out reach it sooner)."""
    print("| function | shape (float64) | dominated ns per element | flat ns per element | dominated/flat |")
    print("|---|---|---|---|---|")
    rng, order = np.random.default_rng(2), np.random.default_rng(3)
    for n in (10_000, 100_000, 1_000_000, 4_000_000):
        for fn in fns:
            print(f"dominated rows: {fn} 1x{n}", file=sys.stderr, flush=True)
            g = rng.standard_normal((1, n))
            win = 5 * g
            win[0, np.argmax(g)] += 20
            y = rng.integers(0, n, 1) if fn == "sparse_categorical_crossentropy" else np.full((1, n), 1.0 / n)
            pair = [(win,), (0.01 * g,)]
            if fn.endswith("crossentropy"):
                pair = [(y, a[0]) for a in pair]
            t = _rounds([(lambda a: lambda: call(fn, a))(a) for a in pair], repeat, order)
            print(f"| {fn} | 1x{n} | {np.median(t[:, 0]) / n * 1e9:.3g} | {np.median(t[:, 1]) / n * 1e9:.3g} | "
                  f"{np.median(t[:, 0] / t[:, 1]):.2f} |", flush=True)


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")  # pragma: no cover - not Linux


def child(fn: str, rows: int, cols: int, limit_gb: float) -> None:
    """One memory case, in this process alone; prints one JSON line."""
    lim = int(limit_gb * 2**30)
    resource.setrlimit(resource.RLIMIT_AS, (lim, lim))
    rng = np.random.default_rng(0)
    # a small call first, so that the modules stabkit loads on first use are
    # counted before the call, not in its peak
    call(fn, inputs(fn, (2, min(cols, 1000)), np.float32, rng))
    args = inputs(fn, (rows, cols), np.float32, rng)
    rec = {"input_mb": sum(a.nbytes for a in args) / 2**20, "rss_before_mb": _rss_mb(),
           "peak_before_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    t0 = time.perf_counter()
    try:
        out = call(fn, args)
    except MemoryError:
        rec["error"] = f"MemoryError under a {limit_gb:g} GiB address-space limit"
    else:
        rec["output_mb"] = out.nbytes / 2**20
    rec["seconds"] = time.perf_counter() - t0
    rec["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rec["rss_after_mb"] = _rss_mb()
    print(json.dumps(rec))


def _memory_row(fn: str, shape, r: dict) -> str:
    """One row of the memory table from a child's record (sizes in MiB)."""
    grow = r["peak_mb"] - r["rss_before_mb"]
    out = r.get("output_mb")
    cells = [fn, f"{shape[0]}x{shape[1]}", f"{r['input_mb']:.0f}", r["error"] if out is None else f"{out:.3g}",
             f"{r['rss_before_mb']:.0f}", f"{r['peak_mb']:.0f}", f"{grow:.0f}", f"{grow / r['input_mb']:.2f}",
             "" if out is None else f"{(grow - out) / r['input_mb']:.2f}", f"{r['rss_after_mb']:.0f}", f"{r['seconds']:.2f}"]
    return "| " + " | ".join(cells) + " |"


def memory_part(fns, limit_gb: float) -> None:
    print("| function | shape (float32) | input MB | output MB | RSS before MB | peak RSS MB | peak - before MB | "
          "(peak - before) / input | (peak - before - output) / input | RSS after MB | s (one cold call) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    total, done, start = len(fns) * len(MEMORY_SHAPES), 0, time.perf_counter()
    for shape in MEMORY_SHAPES:
        for fn in fns:
            done += 1
            print(f"[{done}/{total}] memory: {fn} {shape}, {time.perf_counter() - start:.0f} s so far",
                  file=sys.stderr, flush=True)
            cmd = [sys.executable, __file__, "--child", f"{fn}:{shape[0]}:{shape[1]}",
                   "--mem-limit-gb", str(limit_gb)]
            res = subprocess.run(cmd, capture_output=True, text=True)
            lines = [ln for ln in res.stdout.splitlines() if ln.startswith("{")]
            if res.returncode or not lines:
                tail = (res.stderr.strip().splitlines() or ["no output"])[-1]
                print(f"| {fn} | {shape[0]}x{shape[1]} | failed (exit {res.returncode}: {tail[:120]}) |" + " |" * 8)
                continue
            print(_memory_row(fn, shape, json.loads(lines[-1])), flush=True)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parts", default="time,memory",
                    help="comma-separated parts to run, of time,memory,dominated (default time,memory; "
                         "dominated: float64 rows that one entry dominates against flat ones)")
    ap.add_argument("--repeat", type=int, default=7, help="timing rounds; medians over them are reported (default 7)")
    ap.add_argument("--dtypes", default="float32,float64",
                    help="comma-separated formats of the time part, of float32,float64 (default both)")
    ap.add_argument("--widths", default="10,100",
                    help="comma-separated row widths of the batches of the time part (default 10,100)")
    ap.add_argument("--row-lengths", default=",".join(map(str, ROW_LENGTHS)),
                    help="comma-separated lengths of the single rows of the time part (default 10000,100000,1000000)")
    ap.add_argument("--batches", default=",".join(map(str, BATCHES)),
                    help="comma-separated row counts of the batches of the time part (default 1000,10000,100000)")
    ap.add_argument("--functions", default=",".join(FUNCTIONS),
                    help=f"comma-separated functions, of {','.join(FUNCTIONS)} (default all)")
    ap.add_argument("--mem-limit-gb", type=float, default=12.0,
                    help="address-space limit of each memory case's process, in GiB (default 12)")
    ap.add_argument("--child", default="", help="internal: run one memory case FUNCTION:ROWS:COLS and print JSON")
    opts = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    if opts.child:
        fn, rows, cols = opts.child.split(":")
        with np.errstate(all="ignore"):
            child(fn, int(rows), int(cols), opts.mem_limit_gb)
        return
    parts = [p for p in opts.parts.split(",") if p]
    fns = [f for f in opts.functions.split(",") if f]
    dtypes = [d for d in opts.dtypes.split(",") if d]
    for what, got, allowed in (("--parts", parts, ("time", "memory", "dominated")), ("--functions", fns, FUNCTIONS),
                               ("--dtypes", dtypes, ("float32", "float64"))):
        bad = sorted(set(got) - set(allowed))
        if bad:
            ap.error(f"{what}: unknown {', '.join(bad)} (choose from {', '.join(allowed)})")
    sizes = {}
    for what in ("widths", "row_lengths", "batches"):
        text = getattr(opts, what)
        try:
            sizes[what] = [int(float(v)) for v in text.split(",") if v]
        except ValueError:
            ap.error(f"--{what.replace('_', '-')}: whole numbers expected, got {text!r}")
        if any(v < 1 for v in sizes[what]):
            ap.error(f"--{what.replace('_', '-')}: every size must be at least 1")
    if opts.repeat < 1:
        ap.error("--repeat: must be at least 1")
    print(f"# numpy {np.__version__}, stabkit {stabkit.__version__}, accurate tier")
    with np.errstate(all="ignore"):
        if "time" in parts:
            time_part(fns, dtypes, sizes["widths"], opts.repeat, sizes["row_lengths"], sizes["batches"])
        if "dominated" in parts:
            print()
            dominated_part(fns, opts.repeat)
        if "memory" in parts:
            print()
            memory_part(fns, opts.mem_limit_gb)


if __name__ == "__main__":
    main()
