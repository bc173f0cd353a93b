"""Exhaustive sweeps of a one-argument function over every bit pattern of a
format (all 2**32 float32 inputs), streamed in chunks.

Each chunk of bit patterns (NaNs left out, as :func:`stabkit.floats.
enumerate_format` leaves them out) gets certified references
(:mod:`stabkit.reference.certified32` first, the double-double tier and mpmath for the
few points it cannot certify), is evaluated by every implementation and is
reduced to *partial statistics*: counts, the maximum, the sum
of the errors, a histogram of the ulp error, the worst inputs and the
breakdown candidates. No per-point array outlives its chunk. The partials are
merged into the same :class:`stabkit.analysis.Stats` that the in-memory
analysis reports; the per-point definitions (ulp error, failure, spurious
zero, bits of error) are those of :func:`stabkit.analysis.points_of`, applied
to each chunk.

p99 and the median come from the histogram: its bins are the float64 bit
patterns of the ulp error cut to 12 mantissa bits (relative width 2**-12),
so each order statistic is known to within 2**-13 relative (the bin's
middle), and the quantile interpolates between the two order statistics
around ``q (n - 1)`` as ``numpy.percentile`` does. Ulp errors are measured
against the fast tier's double word, whose error (below 2**-45 of the value;
for sigmoid and softplus, of its rounded part only) moves them by at most
2**-21 ulp in float32; points whose exact value may lie that close to a
float32 value, where it could decide "faithful", are measured against the
double-double value instead.

Every finished chunk is written atomically into a state folder keyed by the
function, the format, the implementations with their versions, the chunk size
and a hash of the stabkit sources that compute the numbers; a rerun reuses
the finished chunks (``resume``), and a corrupt or foreign chunk file is
recomputed, never trusted.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from stabkit.reference import certified32
from .stats import TOP_K, Stats
from stabkit.floats import Format, get_format
from stabkit.reference.ziv import MP_LOCK
from .chunks import NBINS, bin_value, nearest_zero, top, load_state, run_chunk, save_state, worker_init

__all__ = ["CHUNK", "DEFAULT_IMPLS", "VERSION", "SweepResult", "state_dir", "sweep"]

#: Bumped whenever a chunk's partial statistics could change.
VERSION = 1
#: Bit patterns per chunk: 1,024 chunks for float32.
CHUNK = 2**22
#: Cheap enough to run on every chunk (JAX only when asked for).
DEFAULT_IMPLS = ("naive", "stable", "accurate", "scipy", "numpy", "torch")
_PACKAGE_DIR = Path(__file__).resolve().parents[1]  # stabkit/
_ROOTS = ("analysis/sweep.py", "naive.py", "stable.py", "accurate.py", "analysis/thirdparty.py")


def _sources(roots=_ROOTS) -> tuple[str, ...]:
    """Every module of the package that ``roots`` import, directly or not
    (stabkit imports anywhere in a module, read from its syntax tree), as paths
    under ``stabkit/``: the files whose bytes key a sweep's state, so an edit to
    any module a number comes from starts a fresh sweep. Names a package's
    ``__init__`` loads lazily are not followed: the modules here import from
    the submodules (``stabkit.reference.ziv``), not the package door."""
    import ast

    top, seen, todo = _PACKAGE_DIR, set(), list(roots)

    def files(module: str) -> list[str]:  # "stabkit.a.b" -> ["a/b.py"] or ["a/b/__init__.py"] (or ["a/b.c"])
        rel = Path(*module.split(".")[1:])
        # a compiled extension (stabkit._native._elementwise) counts by its C source
        hits = [rel.with_suffix(".py"), rel / "__init__.py", rel.with_suffix(".c")] if rel.parts else [Path("__init__.py")]
        # and the sources built into it (_elementwise64.c and .h beside _elementwise.c)
        if rel.parts and (top / rel.with_suffix(".c")).is_file():
            hits += sorted(p.relative_to(top) for p in (top / rel.parent).glob(rel.name + "?*.[ch]"))
        return [h.as_posix() for h in hits if (top / h).is_file()]

    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        if name.endswith((".c", ".h")):  # hashed, not parsed
            continue
        parts = ["stabkit", *Path(name).with_suffix("").parts]
        package = parts[:-1] if parts[-1] != "__init__" else parts[:-1]
        for node in ast.walk(ast.parse((top / name).read_text())):
            if not isinstance(node, ast.ImportFrom):
                continue
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            elif (node.module or "").split(".")[0] == "stabkit":
                module = node.module
            else:
                continue
            todo += files(module)
            for a in node.names:  # names that are modules themselves
                todo += [f for f in files(f"{module}.{a.name}") if f not in seen]
    for f in list(seen):  # the packages above each module run first (their __init__ files)
        for parent in list(Path(f).parents)[:-1]:
            if (top / parent / "__init__.py").is_file():
                seen.add((parent / "__init__.py").as_posix())
    return tuple(sorted(seen))


@dataclass
class SweepResult:
    """Merged statistics of a sweep (``None`` for unsupported implementations)."""

    function: str
    fmt: str
    n: int
    stats: dict[str, Stats | None]
    chunks: int
    reused: int
    seconds: float
    certified_fast: int = 0
    settled_dd_or_mpmath: int = 0
    skipped: list[str] = field(default_factory=list)

    def __repr__(self) -> str:
        return f"SweepResult({self.function}, {self.fmt}, {self.n:,} points, {self.chunks} chunks, {self.reused} reused)"


def state_dir(key: str) -> Path:
    """Where the chunks of sweep ``key`` are kept: under the reference cache."""
    from stabkit.reference.cache import cache_dir

    return cache_dir() / "sweeps" / key[:24]


def _sweep_key(function: str, f: Format, impls, chunk: int, start: int, stop: int) -> str:
    h = hashlib.sha256()
    for name in _sources():
        h.update((_PACKAGE_DIR / name).read_bytes())
    meta = {"v": VERSION, "function": function, "fmt": f.name, "chunk": chunk, "start": start, "stop": stop,
            "impls": [[i.name, i.version] for i in impls], "numpy": np.__version__}
    h.update(json.dumps(meta, sort_keys=True).encode())
    return h.hexdigest()


# ------------------------------------------------------------ merging


def _quantile(keys: np.ndarray, counts: np.ndarray, n: int, q: float) -> float:
    """numpy.percentile's linear quantile from the histogram."""
    if n == 0:
        return math.nan
    pos = q * (n - 1)
    k = math.floor(pos)
    frac = pos - k
    cum = np.cumsum(counts)
    vals = bin_value(keys)
    a = float(vals[np.searchsorted(cum, k + 1)])
    b = float(vals[np.searchsorted(cum, min(k + 2, n))])
    return a + (b - a) * frac


class _Acc:
    """Merged partials of one implementation. Every field merges exactly and
    in any order (integer counts, maxima, ``math.fsum`` of the chunk sums,
    selections under a total order), so a resumed sweep gives the same
    statistics as an uninterrupted one."""

    def __init__(self, name: str):
        self.name = name
        self.counts = np.zeros(8, np.int64)
        self.hist = np.zeros(NBINS, np.int64)
        self.floats: list[np.ndarray] = []
        self.worst = np.zeros((0, 7))

    def add(self, part: dict) -> None:
        n = self.name
        self.counts += part[f"{n}/counts"]
        keys = np.cumsum(part[f"{n}/hist_keys"].astype(np.int64))  # stored as differences
        np.add.at(self.hist, keys, part[f"{n}/hist_counts"].astype(np.int64))
        self.floats.append(part[f"{n}/floats"])
        self.worst = top(np.concatenate([self.worst, part[f"{n}/worst"]]), TOP_K)

    def stats(self, function: str, f: Format, note: str) -> Stats:
        n, undefined, unsettled, failures, spurious, n_ok, n_cr, n_faithful = (int(v) for v in self.counts)
        fl = np.stack(self.floats)
        keys = np.flatnonzero(self.hist)
        cnt = self.hist[keys]
        max_bits = float(fl[:, 2].max())

        def nearest(col):
            v = fl[:, col]
            v = v[~np.isnan(v)]
            return None if v.size == 0 else nearest_zero(v)

        worst = [{"input": {"x": float(r[2])}, "value": float(r[3]), "reference": float(r[4]), "exact": float(r[5]),
                  "ulp": float(r[1]), "failure": bool(r[0])} for r in self.worst]
        pct = (lambda m: 100.0 * m / n_ok if n_ok else math.nan)
        return Stats(
            function=function, format=f.name, impl=self.name, from_logits=True, n=n, undefined=undefined,
            unsettled=unsettled, failures=failures, spurious_zeros=spurious,
            max_ulp=float(fl[:, 0].max()) if n_ok else math.nan,
            p99_ulp=_quantile(keys, cnt, n_ok, 0.99), median_ulp=_quantile(keys, cnt, n_ok, 0.5),
            mean_ulp=math.fsum(fl[:, 1].tolist()) / n_ok if n_ok else math.nan,
            max_bits=max_bits if max_bits != -np.inf else math.nan,
            pct_correctly_rounded=pct(n_cr), pct_faithful=pct(n_faithful),
            first_failure=nearest(3), first_over_1ulp=nearest(4), worst=worst, note=note,
        )


# ------------------------------------------------------------ the driver


def sweep(function: str, fmt="float32", impls=DEFAULT_IMPLS, *, start: int = 0, stop: int | None = None,
          chunk: int = CHUNK, workers: int | None = None, resume: bool = True, device: str = "cpu",
          state: str | os.PathLike | None = None, progress: Callable[[int], None] | None = None,
          set_total: Callable[[int], None] | None = None, max_chunks: int | None = None,
          executor=None) -> SweepResult:
    """Every bit pattern in ``[start, stop)`` of ``fmt`` (default: all of them)
    through every implementation in ``impls``, chunk by chunk.

    ``workers`` processes (default: the CPU count) share the chunks; each
    finished chunk is saved under ``state`` (default :func:`state_dir`), and
    with ``resume`` a rerun reuses the saved chunks. ``progress(k)`` gets the
    number of bit patterns finished; ``set_total(n)`` the total first.
    ``max_chunks`` stops after computing that many new chunks (for tests of
    an interrupted run); the result then covers only the finished chunks.
    ``executor`` (a ``concurrent.futures.Executor``, e.g. from
    :func:`stabkit.reference.executors.executor_for`) runs the chunks instead of the
    local pool; they come back here and are saved here, so the state folder
    need not be shared with the cluster.
    """
    from .thirdparty import resolve

    f = get_format(fmt)
    if f.width > 32:
        raise ValueError(f"{f.name} has 2**{f.width} values; sweeps are for formats of at most 32 bits")
    if function not in certified32.CERTIFIED:
        raise ValueError(f"sweeps cover {', '.join(certified32.CERTIFIED)}, not {function!r}")
    stop = 2**f.width if stop is None else stop
    if not 0 <= start < stop <= 2**f.width:
        raise ValueError(f"bit range [{start}, {stop}) is not inside [0, 2**{f.width})")
    impl_objs, skipped = resolve(list(impls), device)
    names = tuple(i.name for i in impl_objs)
    key = _sweep_key(function, f, impl_objs, chunk, start, stop)
    folder = Path(state) if state is not None else state_dir(key)
    bounds = [(lo, min(lo + chunk, stop)) for lo in range(start, stop, chunk)]
    metas = [{"key": key, "version": VERSION, "index": i, "lo": lo, "hi": hi, "impls": list(names)}
             for i, (lo, hi) in enumerate(bounds)]
    paths = [folder / f"chunk_{i:05d}.npz" for i in range(len(bounds))]
    if folder.is_dir():
        for t in folder.glob("*.tmp"):  # left by an interrupted write
            t.unlink(missing_ok=True)
    t0 = time.perf_counter()
    acc = _Merged(names)
    done = set()
    if resume:
        for i, p in enumerate(paths):
            got = load_state(p, metas[i], names)
            if got is not None:
                acc.add(got)
                done.add(i)
    reused = len(done)
    if set_total is not None:
        set_total(stop - start)
    if progress is not None and done:
        progress(sum(bounds[i][1] - bounds[i][0] for i in done))
    todo = [i for i in range(len(bounds)) if i not in done][:max_chunks]
    workers = workers or os.cpu_count() or 1
    args = [(function, f.name, names, device, *bounds[i], str(paths[i]), metas[i]) for i in todo]

    def finished(i, part):
        acc.add(part)
        done.add(i)
        if progress is not None:
            progress(bounds[i][1] - bounds[i][0])

    if executor is not None:
        _remote(todo, args, executor, finished)
    elif workers == 1 or len(todo) <= 1:
        worker_init()
        for i, a in zip(todo, args):
            finished(i, run_chunk(*a))
    else:
        _parallel(todo, args, workers, finished, device)
    stats = acc.stats(function, f) if done else {n: None for n in names}
    n = next((s.n for s in stats.values() if s is not None), int(acc.n_fast[1]))
    return SweepResult(function, f.name, n, stats, len(done), reused, time.perf_counter() - t0,
                       int(acc.n_fast[0]), int(acc.n_fast[1] - acc.n_fast[0]), skipped)


class _Merged:
    """The accumulators of every implementation, plus notes and support."""

    def __init__(self, names: tuple):
        self.names = names
        self.acc = {n: _Acc(n) for n in names}
        self.n_fast = np.zeros(2, np.int64)
        self.notes: dict[str, str] = {}
        self.unsupported: set[str] = set()

    def add(self, part: dict) -> None:
        meta = json.loads(str(part["meta"]))
        self.n_fast += part["n_fast"]
        self.unsupported |= set(meta["unsupported"])
        for n, note in meta["notes"].items():
            self.notes[n] = self.notes.get(n) or note
        for n in self.names:
            if n not in meta["unsupported"]:
                self.acc[n].add(part)

    def stats(self, function: str, f: Format) -> dict[str, Stats | None]:
        return {n: None if n in self.unsupported else self.acc[n].stats(function, f, self.notes.get(n, ""))
                for n in self.names}


def _parallel(todo, args, workers, finished, device: str) -> None:
    import concurrent.futures as cf
    import multiprocessing as mp

    # fork is quickest, but not once JAX (multithreaded) is loaded, where it
    # can deadlock, nor for a GPU, whose runtime does not survive a fork
    fork = "fork" in mp.get_all_start_methods() and "jax" not in sys.modules and device == "cpu"
    ctx = mp.get_context("fork" if fork else "spawn")
    with cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=worker_init) as pool:
        futures = {pool.submit(run_chunk, *a): i for i, a in zip(todo, args)}
        _as_completed(futures, lambda fut: finished(futures[fut], fut.result()))


def _as_completed(futures, done) -> None:
    """``done(future)`` for each future as it finishes; on any exception
    (Ctrl-C included) the queued ones are cancelled: finished chunks are
    already on disk."""
    import concurrent.futures as cf

    try:
        for fut in cf.as_completed(futures):
            done(fut)
    except BaseException:
        for fut in futures:
            fut.cancel()
        raise


def _run_chunk_remote(*args) -> dict:
    """A chunk on a cluster worker: computed there, saved by the caller. The
    worker's threads take turns (see ``reference.MP_LOCK``)."""
    worker_init()
    with MP_LOCK:
        return run_chunk(*args[:6], None, args[7])


def _remote(todo, args, executor, finished) -> None:

    futures = {executor.submit(_run_chunk_remote, *a): (i, a[6]) for i, a in zip(todo, args)}

    def done(fut):
        i, path = futures[fut]
        part = fut.result()
        save_state(path, part)
        finished(i, part)

    _as_completed(futures, done)
