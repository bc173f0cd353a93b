"""Exhaustive sweeps of a one-argument function over every bit pattern of a
format (all 2**32 float32 inputs), streamed in chunks.

Each chunk of bit patterns (NaNs left out, as :func:`stabkit.floats.
enumerate_format` leaves them out) gets certified references
(:mod:`stabkit.certified32` first, the double-double tier and mpmath for the
few points it cannot certify), is evaluated by every implementation and is
reduced to *partial statistics*: counts, the maximum, the sum
of the errors, a histogram of the ulp error, the worst inputs and the
breakdown candidates. No per-point array outlives its chunk. The partials are
merged into the same :class:`stabkit.analysis.Stats` that the in-memory
analysis reports; the per-point definitions (ulp error, failure, spurious
zero, bits of error) are those of :func:`stabkit.analysis._points`, applied
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
import tempfile
import time
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import certified as _dd_tier
from . import certified32
from ._io import read_npz
from .analysis import TOP_K, Points, Stats, _points
from .floats import Format, get_format
from .reference import MP_LOCK, Reference, reference
from .sampling import Group, Sample

__all__ = ["CHUNK", "DEFAULT_IMPLS", "VERSION", "SweepResult", "state_dir", "sweep"]

#: Bumped whenever a chunk's partial statistics could change.
VERSION = 1
#: Bit patterns per chunk: 1,024 chunks for float32.
CHUNK = 2**22
#: Cheap enough to run on every chunk (JAX only when asked for).
DEFAULT_IMPLS = ("naive", "stable", "accurate", "scipy", "numpy", "torch")
_M = 12  # mantissa bits kept by the histogram
_E_LO = 1023 - 64  # ulp errors below 2**-64 share the first bin
_NBINS = 512 << _M  # exponents up to 2**447
def _sources(roots=("sweep.py", "naive.py", "stable.py", "accurate.py", "thirdparty.py")) -> tuple[str, ...]:
    """Every module of the package that ``roots`` import, directly or not
    (relative imports anywhere in a module, read from its syntax tree): the
    files whose bytes key a sweep's state, so an edit to any module a number
    comes from starts a fresh sweep."""
    import ast

    here, seen, todo = Path(__file__).parent, set(), list(roots)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for node in ast.walk(ast.parse((here / name).read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                mods = [node.module] if node.module else [a.name for a in node.names]
                todo += [f"{m}.py" for m in mods if (here / f"{m}.py").is_file()]
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
    from .cache import cache_dir

    return cache_dir() / "sweeps" / key[:24]


def _sweep_key(function: str, f: Format, impls, chunk: int, start: int, stop: int) -> str:
    h = hashlib.sha256()
    here = Path(__file__).parent
    for name in _sources():
        h.update((here / name).read_bytes())
    meta = {"v": VERSION, "function": function, "fmt": f.name, "chunk": chunk, "start": start, "stop": stop,
            "impls": [[i.name, i.version] for i in impls], "numpy": np.__version__}
    h.update(json.dumps(meta, sort_keys=True).encode())
    return h.hexdigest()


# ------------------------------------------------------------ one chunk


def _inputs(f: Format, lo: int, hi: int) -> np.ndarray:
    bits = np.arange(lo, hi, dtype=np.uint64).astype(f.unsigned_view)
    x = bits.view(f.dtype)
    with np.errstate(invalid="ignore"):
        return x[~np.isnan(x.astype(np.float64))]


def _references(function: str, x: np.ndarray, f: Format) -> tuple[Reference, int]:
    """Certified references of one chunk and how many the fast tier settled."""
    r, hi, lo, ok = certified32.evaluate(function, x, f)
    unsettled = np.zeros(x.size, bool)
    left = np.flatnonzero(~ok)
    if left.size:
        ref = reference(function, x[left], fmt=f)  # double-double, then mpmath
        r[left], hi[left], lo[left] = ref.rounded.astype(np.float64), ref.hi, ref.lo
        unsettled[left] = ref.unsettled
    with np.errstate(all="ignore"):
        # where the exact value may lie within the fast tier's error of a value
        # of the format, a 1-ulp-off result could be faithful or not: measure
        # those few against the double-double value
        err = certified32.EPS * certified32.carrier(function, x.astype(np.float64), hi, lo)
        near = (np.abs((hi - r) + lo) <= 2 * err) & (err > 0)  # err = 0: the asymptotic branches
    near[left] = False
    idx = np.flatnonzero(near)
    if idx.size:
        _, h2, l2, _ = _dd_tier.evaluate(function, x[idx], f)
        hi[idx], lo[idx] = h2, l2
    ref = Reference(f, r.astype(f.dtype), hi, lo, unsettled, np.zeros(x.size, np.int32))
    return ref, int(ok.sum())


def _hist(u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if u.size == 0:
        return np.zeros(0, np.int32), np.zeros(0, np.int64)
    key = np.ascontiguousarray(u).view(np.int64) >> (52 - _M)  # u >= 0: sign bit clear
    key -= _E_LO << _M
    lo, hi = int(key.min()), int(key.max())
    if lo < 0 or hi >= _NBINS:
        np.clip(key, 0, _NBINS - 1, out=key)
        lo, hi = (min(max(v, 0), _NBINS - 1) for v in (lo, hi))
    # count over the occupied range only: a small, cache-friendly array
    key -= lo
    counts = np.bincount(key, minlength=hi - lo + 1)
    keys = np.flatnonzero(counts)
    return (keys + lo).astype(np.int32), counts[keys]


def _bin_value(key: np.ndarray) -> np.ndarray:
    """The middle of each histogram bin (0 for the first, which holds [0, 2**-64))."""
    b = ((key.astype(np.int64) + (_E_LO << _M)) << (52 - _M)) | (1 << (51 - _M))
    return np.where(key == 0, 0.0, b.astype(np.int64).view(np.float64))


def _nearest_zero(c: np.ndarray) -> float:
    """The value nearest to zero; on ties the first in bit-pattern order (the
    positive one, +0 before -0), as :func:`stabkit.analysis._threshold` picks
    on an exhaustive sample."""
    if c.size == 0:
        return math.nan
    a = np.abs(c)
    tie = c[a == a.min()]
    pos = tie[~np.signbit(tie)]
    return float(pos[0] if pos.size else tie[0])


class _Chunk:
    """What every implementation's points share within one chunk, so that
    :meth:`points` costs a few passes per implementation. It gives the
    :class:`stabkit.analysis.Points` that :func:`stabkit.analysis._points`
    gives: the common case (finite result, finite exact value that does not
    overflow) is computed here, and every other point goes through
    ``_points`` itself."""

    def __init__(self, ref: Reference, x64: np.ndarray):
        self.ref, self.f, self.x64 = ref, ref.fmt, x64
        self.hi, self.lo = ref.hi, ref.lo
        self.r64 = ref.rounded.astype(np.float64)
        self.inv_ulp = _inv_ulp_of_exact(self.hi, self.lo, self.f)
        self.plain = np.isfinite(self.hi) & np.isfinite(self.r64)
        self.undefined = np.isnan(self.hi)
        self.unsettled = ref.unsettled & ~self.undefined
        self.r_nonzero = (self.r64 != 0) & ~np.isnan(self.r64) & ~self.undefined
        self.ones = np.ones(x64.shape, bool)
        self.ord_r = _ordinal(ref.rounded)

    def points(self, y: np.ndarray) -> Points:
        """The points of result ``y``, except that ``bits`` holds the ordinal
        distance ``d`` (bits of error are ``log2(1 + d)``, taken on the
        maximum only by :func:`_partial`)."""
        y = np.asarray(y)
        y = y if y.dtype == self.f.dtype else y.astype(self.f.dtype)
        y64 = y.astype(np.float64)
        with np.errstate(all="ignore"):
            ulp = np.subtract(y64, self.hi)
            ulp -= self.lo
            np.abs(ulp, out=ulp)
            ulp *= self.inv_ulp
            d = _ordinal(y)
            d -= self.ord_r
            np.abs(d, out=d)
        fail = np.zeros(y.shape, bool)
        odd = np.flatnonzero(~(self.plain & np.isfinite(y64)))
        if odd.size:
            sub = Reference(self.f, self.ref.rounded[odd], self.hi[odd], self.lo[odd], self.ref.unsettled[odd],
                            self.ref.precision[odd])
            x = self.x64[odd]
            g = Sample("", self.f, True, "x", [Group((x,), x, np.ones(odd.size, bool))], True)
            p = _points(g, [sub], [y[odd]])
            ulp[odd], fail[odd] = p.ulp, p.failure
            with np.errstate(invalid="ignore"):
                # back to distances: only finite, non-failing ones are used
                d[odd] = np.where(np.isfinite(p.bits), np.rint(np.exp2(p.bits) - 1.0), 0).astype(np.int64)
        return Points(self.x64, self.ones, self.ones, y64, self.hi, self.r64, ulp, d, fail, self.undefined,
                      self.unsettled)


def _inv_ulp_of_exact(hi: np.ndarray, lo: np.ndarray, f: Format) -> np.ndarray:
    """``1 / _ulp_of_exact(hi, lo, f)`` for finite ``hi`` (other points are
    measured by ``_points`` itself), from the exponent alone: ulps are powers
    of two, so multiplying by this is the same as dividing by the ulp."""
    with np.errstate(all="ignore"):
        m, e = np.frexp(np.abs(hi))
        e = e.astype(np.int32) - 1  # floor(log2 |hi|)
        # a power of two with lo pulling below it: the binade below
        e -= (m == 0.5) & (hi * lo < 0)
        e[hi == 0] = f.emin
        np.clip(e, f.emin, f.emax, out=e)
        return np.ldexp(1.0, f.precision - 1 - e)


def _ordinal(a: np.ndarray) -> np.ndarray:
    """:func:`stabkit.floats.ordinal` for formats of at most 32 bits, faster."""
    f = get_format(a.dtype)
    b = np.ascontiguousarray(a).view(f.unsigned_view).astype(np.int64)
    sign = 1 << (f.width - 1)
    neg = b >= sign
    b &= sign - 1
    np.negative(b, out=b, where=neg)
    return b


def _partial(p: Points, x: np.ndarray, top_k: int, r_nonzero: np.ndarray) -> dict[str, np.ndarray]:
    """A chunk's points reduced to mergeable arrays (see :class:`_Acc`): the
    definitions of :func:`stabkit.analysis.stats_of`, with the masks skipped
    where they are empty (no failures, no undefined or unsettled points)."""
    with np.errstate(all="ignore"):
        n_fail, n_und, n_uns = (int(np.count_nonzero(m)) for m in (p.failure, p.undefined, p.unsettled))
        ok = ~p.undefined & ~p.failure if n_fail or n_und else None
        u = p.ulp if ok is None else p.ulp[ok]
        d = p.bits if not (n_fail or n_und or n_uns) else p.bits[~p.undefined & ~p.failure & ~p.unsettled]
        zero = p.y == 0
        zero &= r_nonzero
        if n_fail:
            zero &= ~p.failure
        counts = np.array([x.size - n_und, n_und, n_uns, n_fail, np.count_nonzero(zero), u.size,
                           np.count_nonzero(u <= 0.5), np.count_nonzero(u < 1.0)], np.int64)
        # failures have an infinite error, so "fails or exceeds 1 ulp" is ulp > 1
        floats = np.array([u.max() if u.size else -np.inf, np.sum(u),
                           math.log2(1.0 + float(d.max())) if d.size else -np.inf,
                           _nearest_zero(p.coord[p.failure]) if n_fail else math.nan,
                           _nearest_zero(p.coord[p.ulp > 1.0])])
        keys, cnt = _hist(u)
        i = _worst_candidates(p, keys, cnt, n_fail, top_k)
        pattern = x[i].view(get_format(x.dtype).unsigned_view).astype(np.float64)
        worst = np.stack([p.failure[i], p.ulp[i], x[i].astype(np.float64), p.y[i], p.rounded[i], p.exact[i], pattern],
                         axis=1)
    # sorted keys stored as differences: small numbers, which compress well
    return {"counts": counts, "floats": floats, "hist_keys": np.diff(keys, prepend=0).astype(np.int32),
            "hist_counts": cnt.astype(np.int64), "worst": _top(worst.astype(np.float64), top_k)}


def _worst_candidates(p: Points, keys, cnt, n_fail: int, k: int) -> np.ndarray:
    """Indices that include the ``k`` worst points (see :func:`_top`)."""
    if n_fail >= k:  # failures (infinite error) first, ties in chunk (bit-pattern) order
        return np.flatnonzero(p.failure)[:k]
    # a lower bound on the (k - n_fail)-th largest finite error: its bin's lower edge
    above = np.cumsum(cnt[::-1])
    j = int(np.searchsorted(above, k - n_fail))
    if j >= keys.size:
        return np.flatnonzero(~p.undefined)
    key = int(keys[::-1][j])
    edge = 0.0 if key == 0 else float(np.array(((key + (_E_LO << _M)) << (52 - _M)), np.int64).view(np.float64))
    cand = np.flatnonzero(p.ulp >= edge)
    if cand.size > 4096:  # a crowded bin (every error 0, say): the k-th largest exactly
        key = np.where(p.undefined, -np.inf, p.ulp)
        kth = np.partition(key, key.size - k)[key.size - k]
        # ties at the k-th are taken in chunk order, which is bit-pattern order
        cand = np.concatenate([np.flatnonzero(key > kth), np.flatnonzero(key == kth)[:k]])
    return cand


def _run_chunk(function: str, fmt: str, names: tuple, device: str, lo: int, hi: int, path: str | None,
               meta: dict) -> dict:
    """Evaluate one chunk, write its state file (when ``path``), return it."""
    f = get_format(fmt)
    x = _inputs(f, lo, hi)
    ref, n_fast = _references(function, x, f)
    x64 = x.astype(np.float64)
    pre = _Chunk(ref, x64)
    out = {"n_fast": np.array([n_fast, x.size], np.int64)}
    notes, unsupported = {}, []
    from .thirdparty import Unsupported

    for impl in _impls(names, device):
        try:
            y = impl.evaluate(function, f, (x,))
        except Unsupported:
            unsupported.append(impl.name)
            continue
        notes[impl.name] = impl.notes.get((function, f.name), "")
        part = _partial(pre.points(y), x, TOP_K, pre.r_nonzero)
        out.update({f"{impl.name}/{k}": v for k, v in part.items()})
    meta = dict(meta, notes=notes, unsupported=unsupported)
    out["meta"] = np.array(json.dumps(meta, sort_keys=True))
    if path:
        _save(path, out)
    return out


_IMPL_CACHE: dict = {}


def _impls(names: tuple, device: str):
    key = (names, device)
    if key not in _IMPL_CACHE:
        from .thirdparty import resolve

        _IMPL_CACHE[key] = resolve(list(names), device)[0]
    return _IMPL_CACHE[key]


def _worker_init() -> None:
    # one thread per process: the pool already fills the cores
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass


def _save(path: str, arrays: dict) -> None:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=p.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez_compressed(fh, **arrays)
        os.replace(tmp, p)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass


#: A chunk's state is a few KiB of partial statistics; far more is forged.
_MAX_STATE_BYTES = 1 << 28


def _load(path: Path, meta: dict, names: tuple) -> dict | None:
    """A chunk's saved state, or None when absent, corrupt or foreign."""
    if not path.is_file():
        return None
    try:
        out = read_npz(path, max_bytes=_MAX_STATE_BYTES)
        stored = json.loads(str(out["meta"]))
        if not isinstance(stored, dict) or any(stored.get(k) != v for k, v in meta.items()):
            return None
        done = [n for n in names if n not in stored["unsupported"]]
        for n in done:
            if out[f"{n}/counts"].shape != (8,) or out[f"{n}/floats"].shape != (5,) or out[f"{n}/worst"].shape[1:] != (7,):
                return None
            if out[f"{n}/hist_keys"].shape != out[f"{n}/hist_counts"].shape:
                return None
        if out["n_fast"].shape != (2,):
            return None
        return out
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile, json.JSONDecodeError, EOFError, zlib.error):
        return None


# ------------------------------------------------------------ merging


def _quantile(keys: np.ndarray, counts: np.ndarray, n: int, q: float) -> float:
    """numpy.percentile's linear quantile from the histogram."""
    if n == 0:
        return math.nan
    pos = q * (n - 1)
    k = math.floor(pos)
    frac = pos - k
    cum = np.cumsum(counts)
    vals = _bin_value(keys)
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
        self.hist = np.zeros(_NBINS, np.int64)
        self.floats: list[np.ndarray] = []
        self.worst = np.zeros((0, 7))

    def add(self, part: dict) -> None:
        n = self.name
        self.counts += part[f"{n}/counts"]
        keys = np.cumsum(part[f"{n}/hist_keys"].astype(np.int64))  # stored as differences
        np.add.at(self.hist, keys, part[f"{n}/hist_counts"].astype(np.int64))
        self.floats.append(part[f"{n}/floats"])
        self.worst = _top(np.concatenate([self.worst, part[f"{n}/worst"]]), TOP_K)

    def stats(self, function: str, f: Format, note: str) -> Stats:
        n, undefined, unsettled, failures, spurious, n_ok, n_cr, n_faithful = (int(v) for v in self.counts)
        fl = np.stack(self.floats)
        keys = np.flatnonzero(self.hist)
        cnt = self.hist[keys]
        max_bits = float(fl[:, 2].max())

        def nearest(col):
            v = fl[:, col]
            v = v[~np.isnan(v)]
            return None if v.size == 0 else _nearest_zero(v)

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


def _top(w: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` worst rows of (failure, ulp, x, value, reference, exact, bit
    pattern): failures first, then the largest error, then the first in
    bit-pattern order, the order of :func:`stabkit.analysis.stats_of` on an
    exhaustive (bit-pattern ordered) sample."""
    order = np.lexsort((w[:, 6], -np.where(np.isnan(w[:, 1]), -1.0, w[:, 1]), w[:, 0] == 0))
    return w[order[:k]]


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
    :func:`stabkit.distributed.executor_for`) runs the chunks instead of the
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
            got = _load(p, metas[i], names)
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
        _worker_init()
        for i, a in zip(todo, args):
            finished(i, _run_chunk(*a))
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
    with cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_worker_init) as pool:
        futures = {pool.submit(_run_chunk, *a): i for i, a in zip(todo, args)}
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
    _worker_init()
    with MP_LOCK:
        return _run_chunk(*args[:6], None, args[7])


def _remote(todo, args, executor, finished) -> None:

    futures = {executor.submit(_run_chunk_remote, *a): (i, a[6]) for i, a in zip(todo, args)}

    def done(fut):
        i, path = futures[fut]
        part = fut.result()
        _save(path, part)
        finished(i, part)

    _as_completed(futures, done)
