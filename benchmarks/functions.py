"""Throughput of every tier of every function beside SciPy, NumPy, PyTorch and JAX.

    python benchmarks/functions.py [--repeat 15] [--quick] [--dtypes float32,float64]
                                   [--peers scipy,numpy,torch,jax] [--only softmax,...]
                                   [--tiers naive,stable,accurate]

Shapes: 1e6 elements for the elementwise functions; rows of (10000, 10) and
(1000, 1000) for the row-wise functions and the losses. Every implementation
is timed in the same process, interleaved round by round (A B C A B C ...) in
an order shuffled every round (seeded: so that none always inherits the
cache and allocator state that the same neighbour leaves; in a fixed order
SciPy always ran right after the accurate tier), and the median over the
rounds is reported as million elements (or rows, for the losses) per second.
The ratios ("x": the peer's time over stabkit's, > 1 means stabkit is
faster) are medians of the per-round ratios (pairs timed moments apart, so a
load that drifts over the run moves both): the stable and accurate tiers
against SciPy, the accurate tier against PyTorch and JAX. A last line per
ratio column counts the rows where it reads 1.00 or more.

The peers (``peers.py`` beside this file) are called as their users call
them: PyTorch on one thread (two threads stall at random on small shared
VMs) on ``torch.from_numpy`` views; JAX's ``jax.nn`` jit-compiled, on device
arrays, waiting for every result, with one XLA thread unless
``--jax-threads 0``. Every implementation is called once before the rounds
(JAX compiles then). A peer that raises on a format or returns another
format than its input's (SciPy's ``expit`` returns float64 for float16) is
shown as n/a, with the reason in a footnote. PyTorch and JAX are optional: a
line says when one is not installed. Timings are wall-clock medians, never
assertions: the machine is shared and noisy.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # peers.py, when imported from elsewhere

import stabkit  # noqa: E402
from peers import FUNCTIONS, load  # noqa: E402
from stabkit import naive, stable  # noqa: E402
from stabkit._machine import processor  # noqa: E402
from stabkit.floats import get_format  # noqa: E402

TIERS = ("naive", "stable", "accurate")
PEERS = ("scipy", "numpy", "torch", "jax")
DTYPES = ("float16", "bfloat16", "float32", "float64")


def cases(quick: bool, dtypes: list[str]):
    """(function, dtype name, args, units, stabkit keywords) of every case."""
    rng = np.random.default_rng(0)
    n = 200_000 if quick else 1_000_000
    for name in dtypes:
        dt = get_format(name).dtype
        x = (rng.standard_normal(n) * 10).astype(dt)
        y = rng.integers(0, 2, n).astype(dt)
        for fn in ("sigmoid", "log_sigmoid", "softplus"):
            yield fn, name, (x,), n, {}
        yield "binary_crossentropy", name, (y, x), n, {"from_logits": True}
        for shape in ((10_000, 10), (1_000, 1_000)):
            if quick:
                shape = (shape[0] // 5, shape[1])
            for fn, args, units, kw in row_cases(rng, shape, dt):
                yield fn, name, args, units, kw


def row_cases(rng, shape: tuple[int, int], dt):
    """(function, args, units, stabkit keywords) of the row-wise functions
    on one shape: logits of sd 5, labels, Dirichlet rows (also
    ab_kernels.py's inputs)."""
    z = (rng.standard_normal(shape) * 5).astype(dt)
    for fn in ("softmax", "log_softmax", "logsumexp"):
        # one value per row, as the peers are called (logsumexp's
        # default, like SciPy's, reduces the whole array)
        yield fn, (z,), z.size, {"axis": -1}
    lab = rng.integers(0, shape[1], shape[0])
    yield "sparse_categorical_crossentropy", (lab, z), shape[0], {"from_logits": True}
    soft = rng.dirichlet(np.ones(shape[1]), size=shape[0]).astype(dt)
    yield "categorical_crossentropy", (soft, z), shape[0], {"from_logits": True}


class Notes:
    """Footnotes for n/a cells: one number per (implementation, reason), with
    the cases it covers."""

    def __init__(self):
        self.keys: dict[tuple[str, str], int] = {}
        self.where: dict[int, list[str]] = {}

    def add(self, impl: str, reason: str, case: str) -> str:
        k = self.keys.setdefault((impl, reason), len(self.keys) + 1)
        self.where.setdefault(k, []).append(case)
        return f"n/a [{k}]"

    def lines(self) -> list[str]:
        return [f"[{k}] {impl}: {reason} ({', '.join(self.where[k])})" for (impl, reason), k in self.keys.items()]


def _probe(call: Callable[[], object], dtype_name: Callable[[object], str], want: str) -> str | None:
    """Call once (the warm-up; JAX compiles here): None when the result has
    the input's format, else why the implementation is left out."""
    try:
        got = dtype_name(call())
    except Exception as e:  # noqa: BLE001 - any failure of a peer is reported, not raised
        return f"raises {type(e).__name__}: {str(e).splitlines()[0][:90] if str(e) else ''}"
    return None if got == want else f"returns {got} for {want} input (computed in another format)"


def implementations(fn, dtype, args, kw, peers, notes: Notes, label: str, tiers=TIERS):
    """No-argument calls of every implementation of one case (the stabkit
    tiers named in ``tiers``), and the n/a cells (with their footnote mark)
    of those left out."""
    calls: dict[str, Callable[[], object]] = {}
    na: dict[str, str] = {}
    np_name = lambda r: np.dtype(r.dtype).name  # noqa: E731
    for tier, mod in zip(TIERS, (naive, stable, stabkit)):
        if tier not in tiers:
            continue
        f = getattr(mod, fn)
        calls[tier] = (lambda f: lambda: f(*args, **kw))(f)
    for p in peers:
        try:
            call = p.bind(fn, args)
        except Exception as e:  # noqa: BLE001 - e.g. a format the peer cannot take in
            na[p.name] = notes.add(p.name, f"cannot take {dtype} input ({type(e).__name__}: {e})", label)
            continue
        if call is not None:
            calls[p.name] = call
    for name in list(calls):
        dn = next((p.dtype_name for p in peers if p.name == name), np_name)
        why = _probe(calls[name], dn, dtype)
        if why is not None:
            na[name] = notes.add(name, why, label)
            del calls[name]
    return calls, na


def run_case(calls: dict[str, Callable[[], object]], repeat: int, order) -> dict[str, list[float]]:
    """Seconds per call, round by round, every implementation once per round
    in a shuffled order."""
    times: dict[str, list[float]] = {k: [] for k in calls}
    names = list(calls)
    for _ in range(repeat):
        for name in order.permutation(names):
            call = calls[name]
            t0 = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - t0)
    return times


def _ratio(times, peer: str, ours: str, na: dict[str, str]) -> str:
    for name in (peer, ours):
        if name in na:
            return na[name]
    if peer not in times or ours not in times:
        return ""
    # the peer's time over ours, round by round, then the median
    return f"{np.median(np.divide(times[peer], times[ours])):.2f}"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=15, help="timing rounds; the median is reported")
    ap.add_argument("--quick", action="store_true", help="smaller arrays (a smoke run)")
    ap.add_argument("--dtypes", default="float32,float64",
                    help=f"comma-separated formats to time, of {','.join(DTYPES)} (default float32,float64)")
    ap.add_argument("--peers", default=",".join(PEERS),
                    help=f"comma-separated peers to time beside stabkit, of {','.join(PEERS)} (default all; "
                         "torch and jax are skipped with a line when not installed)")
    ap.add_argument("--only", default="",
                    help="comma-separated stabkit function names to time (default every function)")
    ap.add_argument("--tiers", default=",".join(TIERS),
                    help=f"comma-separated stabkit tiers to time, of {','.join(TIERS)} (default all; "
                         "fewer tiers leave fewer calls between a peer's and the accurate tier's)")
    ap.add_argument("--jax-threads", type=int, default=1,
                    help="XLA CPU threads for JAX (default 1, like PyTorch's; 0 leaves XLA's default; "
                         "ignored when XLA_FLAGS is set)")
    opts = ap.parse_args(argv)
    dtypes = [d for d in opts.dtypes.split(",") if d]
    names = [p for p in opts.peers.split(",") if p]
    only = {f for f in opts.only.split(",") if f}
    tiers = tuple(t for t in TIERS if t in opts.tiers.split(","))
    for what, got, allowed in (("--dtypes", dtypes, DTYPES), ("--peers", names, PEERS), ("--only", only, FUNCTIONS),
                               ("--tiers", [t for t in opts.tiers.split(",") if t], TIERS)):
        bad = sorted(set(got) - set(allowed))
        if bad:
            ap.error(f"{what}: unknown {', '.join(bad)} (choose from {', '.join(allowed)})")
    if opts.repeat < 1:
        ap.error("--repeat: must be at least 1")
    if not tiers:
        ap.error("--tiers: name at least one of " + ", ".join(TIERS))

    peers, missing = load(names, opts.jax_threads)
    versions = ", ".join(f"{p.name} {p.version}" for p in peers)
    print(f"# {processor()}, Python {platform.python_version()}, "
          f"stabkit {stabkit.__version__}, {versions}; torch on 1 thread; median of {opts.repeat} rounds")
    for p in peers:
        if p.name == "jax":
            print(f"# jax: XLA_FLAGS={p.flags}")
    for line in missing:
        print(line)
    cols = [*tiers, *(p.name for p in peers)]
    have = {p.name for p in peers}
    ratios = [(peer, ours) for peer, ours in (("scipy", "stable"), ("scipy", "accurate"),
                                               ("torch", "accurate"), ("jax", "accurate"))
              if peer in have and ours in tiers]
    head = cols + [f"{ours}/{peer}" for peer, ours in ratios]
    print("| function | dtype | shape | " + " | ".join(head) + " |")
    print("|" + "---|" * (3 + len(head)))

    warnings.simplefilter("ignore")
    todo = [c for c in cases(opts.quick, dtypes) if not only or c[0] in only]
    notes, order, start = Notes(), np.random.default_rng(1), time.perf_counter()
    tally = {f"{ours}/{peer}": [0, 0] for peer, ours in ratios}  # rows at or above 1.0, rows with a ratio
    for i, (fn, dtype, args, units, kw) in enumerate(todo, 1):
        shape = "x".join(map(str, args[-1].shape))
        print(f"[{i}/{len(todo)}] {fn} {dtype} {shape}, {time.perf_counter() - start:.0f} s so far",
              file=sys.stderr, flush=True)
        with np.errstate(all="ignore"):
            calls, na = implementations(fn, dtype, args, kw, peers, notes, f"{fn} {dtype} {shape}", tiers)
            times = run_case(calls, opts.repeat, order)
        rate = {k: units / np.median(v) / 1e6 for k, v in times.items()}
        cells = [f"{rate[k]:.3g}" if k in rate else na.get(k, "") for k in cols]
        for peer, ours in ratios:
            cells.append(_ratio(times, peer, ours, na))
            try:
                at_least = float(cells[-1]) >= 1.0
            except ValueError:  # n/a or empty
                continue
            tally[f"{ours}/{peer}"][0] += at_least
            tally[f"{ours}/{peer}"][1] += 1
        print(f"| {fn} | {dtype} | {shape} | " + " | ".join(cells) + " |", flush=True)
    summary = [f"{name} at or above 1.0 (stabkit as fast or faster): {above} of {counted} rows"
               for name, (above, counted) in tally.items() if counted]
    if summary:
        print("\n" + "\n".join(summary))
    if notes.keys:
        print("\nn/a: the implementation is left out of that case:")
        for line in notes.lines():
            print(line)
    print("\nEmpty cells: the peer has no such function (SciPy has no softplus; the NumPy column "
          "holds only logaddexp's softplus and logsumexp).")


if __name__ == "__main__":
    main()
