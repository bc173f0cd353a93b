"""One chunk of an exhaustive sweep: its inputs, certified references, the
implementations' errors reduced to mergeable partial statistics (counts, a
histogram of the ulp error, the worst inputs), and its saved state."""

from __future__ import annotations

import io
import json
import math
import zipfile
import zlib
from pathlib import Path

import numpy as np

from stabkit.reference import certified as _dd_tier
from stabkit.reference import certified32
from stabkit._io import atomic_write, read_npz
from .stats import TOP_K, Points, points_of
from stabkit.floats import Format, get_format
from stabkit.reference.ziv import Reference, reference
from .sampling import Group, Sample

__all__ = ["M", "E_LO", "NBINS", "bin_value", "run_chunk", "worker_init", "save_state", "load_state", "nearest_zero", "top"]

M = 12  # mantissa bits kept by the histogram
E_LO = 1023 - 64  # ulp errors below 2**-64 share the first bin
NBINS = 512 << M  # exponents up to 2**447


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
    key = np.ascontiguousarray(u).view(np.int64) >> (52 - M)  # u >= 0: sign bit clear
    key -= E_LO << M
    lo, hi = int(key.min()), int(key.max())
    if lo < 0 or hi >= NBINS:
        np.clip(key, 0, NBINS - 1, out=key)
        lo, hi = (min(max(v, 0), NBINS - 1) for v in (lo, hi))
    # count over the occupied range only: a small, cache-friendly array
    key -= lo
    counts = np.bincount(key, minlength=hi - lo + 1)
    keys = np.flatnonzero(counts)
    return (keys + lo).astype(np.int32), counts[keys]


def bin_value(key: np.ndarray) -> np.ndarray:
    """The middle of each histogram bin (0 for the first, which holds [0, 2**-64))."""
    b = ((key.astype(np.int64) + (E_LO << M)) << (52 - M)) | (1 << (51 - M))
    return np.where(key == 0, 0.0, b.astype(np.int64).view(np.float64))


def nearest_zero(c: np.ndarray) -> float:
    """The value nearest to zero; on ties the first in bit-pattern order (the
    positive one, +0 before -0), as :func:`stabkit.analysis.stats._threshold` picks
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
    :class:`stabkit.analysis.Points` that :func:`stabkit.analysis.points_of`
    gives: the common case (finite result, finite exact value that does not
    overflow) is computed here, and every other point goes through
    ``points_of`` itself."""

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
            p = points_of(g, [sub], [y[odd]])
            ulp[odd], fail[odd] = p.ulp, p.failure
            with np.errstate(invalid="ignore"):
                # back to distances: only finite, non-failing ones are used
                d[odd] = np.where(np.isfinite(p.bits), np.rint(np.exp2(p.bits) - 1.0), 0).astype(np.int64)
        return Points(self.x64, self.ones, self.ones, y64, self.hi, self.r64, ulp, d, fail, self.undefined,
                      self.unsettled)


def _inv_ulp_of_exact(hi: np.ndarray, lo: np.ndarray, f: Format) -> np.ndarray:
    """``1 / _ulp_of_exact(hi, lo, f)`` for finite ``hi`` (other points are
    measured by ``points_of`` itself), from the exponent alone: ulps are powers
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
                           nearest_zero(p.coord[p.failure]) if n_fail else math.nan,
                           nearest_zero(p.coord[p.ulp > 1.0])])
        keys, cnt = _hist(u)
        i = _worst_candidates(p, keys, cnt, n_fail, top_k)
        pattern = x[i].view(get_format(x.dtype).unsigned_view).astype(np.float64)
        worst = np.stack([p.failure[i], p.ulp[i], x[i].astype(np.float64), p.y[i], p.rounded[i], p.exact[i], pattern],
                         axis=1)
    # sorted keys stored as differences: small numbers, which compress well
    return {"counts": counts, "floats": floats, "hist_keys": np.diff(keys, prepend=0).astype(np.int32),
            "hist_counts": cnt.astype(np.int64), "worst": top(worst.astype(np.float64), top_k)}


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
    edge = 0.0 if key == 0 else float(np.array(((key + (E_LO << M)) << (52 - M)), np.int64).view(np.float64))
    cand = np.flatnonzero(p.ulp >= edge)
    if cand.size > 4096:  # a crowded bin (every error 0, say): the k-th largest exactly
        key = np.where(p.undefined, -np.inf, p.ulp)
        kth = np.partition(key, key.size - k)[key.size - k]
        # ties at the k-th are taken in chunk order, which is bit-pattern order
        cand = np.concatenate([np.flatnonzero(key > kth), np.flatnonzero(key == kth)[:k]])
    return cand


def run_chunk(function: str, fmt: str, names: tuple, device: str, lo: int, hi: int, path: str | None,
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
        save_state(path, out)
    return out


_IMPL_CACHE: dict = {}


def _impls(names: tuple, device: str):
    key = (names, device)
    if key not in _IMPL_CACHE:
        from .thirdparty import resolve

        _IMPL_CACHE[key] = resolve(list(names), device)[0]
    return _IMPL_CACHE[key]


def worker_init() -> None:
    # one thread per process: the pool already fills the cores
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass


def save_state(path: str, arrays: dict) -> None:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    try:
        atomic_write(str(p), buf.getvalue())
    except OSError:
        pass  # a chunk that cannot be saved is computed again by the next run


#: A chunk's state is a few KiB of partial statistics; far more is forged.
_MAX_STATE_BYTES = 1 << 28


def load_state(path: Path, meta: dict, names: tuple) -> dict | None:
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


def top(w: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` worst rows of (failure, ulp, x, value, reference, exact, bit
    pattern): failures first, then the largest error, then the first in
    bit-pattern order, the order of :func:`stabkit.analysis.stats_of` on an
    exhaustive (bit-pattern ordered) sample."""
    order = np.lexsort((w[:, 6], -np.where(np.isnan(w[:, 1]), -1.0, w[:, 1]), w[:, 0] == 0))
    return w[order[:k]]
