"""Ziv's loop: correctly rounded references from the mpmath oracles.

The evaluator applies Ziv's strategy: round both ends of the error interval to
the target format; if they agree the rounding is certain, otherwise double the
precision and try again, up to ``max_prec`` bits. A point that never settles
(an exact tie, or a result closer to a rounding boundary than the cap
resolves) is reported in ``unsettled``, its rounded value NaN, never guessed.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass

import mpmath
import numpy as np

from . import certified as _certified
from stabkit import _interrupt
from .oracles import ORACLES, _x
from stabkit._accurate.inputs import check_same_shape, last_axis, sparse_labels
from stabkit.floats import (
    Format,
    bits_of_error,
    get_format,
    is_failure,
    round_float64,
    round_to_format,
    TAIL_BELOW,
    split_exact,
    subnormal_tail,
    ulp_error,
)

__all__ = ["Reference", "reference", "MP_LOCK", "DD_PRECISION"]

#: the least double above 0.5: the ulp error of a result that is not the
#: correctly rounded one although float64 puts it at 0.5 (Reference.ulp_error)
ABOVE_HALF = float(np.nextafter(0.5, 1.0))


# ------------------------------------------------------------ the evaluator


@dataclass
class Reference:
    """Correctly rounded reference values of one evaluation.

    ``rounded`` is in the target format (NaN where ``unsettled``); ``hi + lo``
    is the high-precision value as float64 pairs, for ulp errors;
    ``precision`` holds the bits each point needed. For float64 targets,
    ``tail`` holds what the pair cannot: ``(exact - hi - lo) * 2**1074``
    where ``hi`` is below 2**-969 (see :func:`stabkit.floats.subnormal_tail`),
    else 0; None measures against ``hi + lo`` alone.
    """

    fmt: Format
    rounded: np.ndarray
    hi: np.ndarray
    lo: np.ndarray
    unsettled: np.ndarray
    precision: np.ndarray
    tail: np.ndarray | None = None

    def _overflows(self) -> np.ndarray:
        """Where the exact value is finite but beyond the format's range, so
        that its correct rounding is an infinity."""
        r = self.rounded.astype(np.float64)
        return np.isinf(r) & np.isfinite(self.hi)

    def ulp_error(self, y) -> np.ndarray:
        """Ulp error of ``y`` (same shape) against the exact values; 0 where the
        exact value overflows the format and ``y`` is that infinity.

        At 0.5 ulp the certified rounding decides, not the float64
        difference: an exact value a hair past a midpoint of the format
        (34960 + e^-34960 in float16) is 0.5 ulp from both neighbours in
        float64 arithmetic, which would grade the wrong one "correctly
        rounded". The correctly rounded result gets at most 0.5; any other
        result at least ABOVE_HALF, the least double above 0.5. (An unsettled
        point, whose rounding Ziv's loop could not decide, keeps the float64
        figure.)"""
        y = np.asarray(y).astype(self.fmt.dtype)
        err = ulp_error(y, self.hi, self.lo, self.fmt, self.tail)
        y64, r64 = y.astype(np.float64), self.rounded.astype(np.float64)
        err = np.where(self._overflows() & (y64 == r64), 0.0, err)
        with np.errstate(invalid="ignore"):
            err = np.where(y64 == r64, np.minimum(err, 0.5), err)
            wrong = (y64 != r64) & ~np.isnan(r64) & (err <= 0.5)
        return np.where(wrong, ABOVE_HALF, err)

    def bits_of_error(self, y) -> np.ndarray:
        return bits_of_error(np.asarray(y).astype(self.fmt.dtype), self.rounded, self.fmt)

    def failures(self, y) -> np.ndarray:
        """NaN/inf where the exact value is finite (or the wrong infinity)."""
        y = np.asarray(y).astype(self.fmt.dtype)
        ok_overflow = self._overflows() & (y.astype(np.float64) == self.rounded.astype(np.float64))
        return is_failure(y, self.hi) & ~np.isnan(self.hi) & ~ok_overflow


def _settle(fn: Callable, args: tuple, fmt: Format, slack: int, start: int, max_prec: int):
    """Ziv's loop for one point or row: (rounded, values, precision, settled)."""
    prec = start
    while True:
        with mpmath.workprec(prec):
            vals, scales = fn(*args)
        ok = True
        rounded = []
        for v, c in zip(vals, scales):
            r = round_to_format(v, fmt)
            if c and mpmath.isfinite(v):
                eps = mpmath.ldexp(c, slack - prec)  # c as is: mpf(c) rounds to the global precision
                # exact interval ends: rounding them would blur a value that
                # lies closer to a rounding boundary than 2**-prec relative
                lo_r = round_to_format(mpmath.fsub(v, eps, exact=True), fmt)
                hi_r = round_to_format(mpmath.fadd(v, eps, exact=True), fmt)
                if not (lo_r == hi_r or (math.isnan(lo_r) and math.isnan(hi_r))):
                    ok = False
            rounded.append(r)
        if ok or prec >= max_prec:
            return rounded, vals, prec, ok
        prec = min(2 * prec, max_prec)


def _rows(a: np.ndarray) -> np.ndarray:
    """``a`` (classes last) as a 2-d stack of rows; reshape(-1, 0) is ambiguous
    for empty rows, so the row count is spelled out."""
    return a.reshape(math.prod(a.shape[:-1]), a.shape[-1])


def _iter_points(name: str, args: tuple, axis: int, from_logits: bool, fmt: Format):
    """Yield (out_index, oracle_args, n_terms) and return the output shape."""
    kind = ORACLES[name].kind
    # one correct rounding to fmt: before ml_dtypes 0.7, the float64 ->
    # bfloat16 cast went through float32 and rounded twice
    q = lambda a: round_float64(a, fmt).astype(np.float64)  # noqa: E731
    if kind == "elementwise":
        (x,) = args
        x = q(x)
        return x.shape, ((i, (_x(v),), 1) for i, v in enumerate(x.ravel()))
    if kind == "binary_loss":
        y, x = (np.asarray(a) for a in args)
        check_same_shape(y, x)
        y, x = q(y), q(x)
        return x.shape, ((i, (_x(a), _x(b), from_logits), 2) for i, (a, b) in enumerate(zip(y.ravel(), x.ravel())))
    if kind in ("rowwise", "rowwise_scalar"):
        (x,) = args
        xl = last_axis(q(x), axis)
        rows = _rows(xl)
        shape = xl.shape if kind == "rowwise" else xl.shape[:-1]
        return shape, ((i, ([_x(v) for v in row],), len(row)) for i, row in enumerate(rows))
    if kind == "sparse_loss":
        labels, x = args
        xl = last_axis(q(x), axis)
        lab = sparse_labels(labels, xl).ravel()
        rows = _rows(xl)
        return xl.shape[:-1], ((i, (int(lab[i]), [_x(v) for v in row], from_logits), len(row)) for i, row in enumerate(rows))
    if kind == "categorical_loss":
        y, x = (np.asarray(a) for a in args)
        check_same_shape(y, x)
        yl, xl = last_axis(q(y), axis), last_axis(q(x), axis)
        yr, rows = _rows(yl), _rows(xl)
        pts = ((i, ([_x(v) for v in yr[i]], [_x(v) for v in rows[i]], from_logits), 2 * rows.shape[1]) for i in range(len(rows)))
        return xl.shape[:-1], pts
    raise ValueError(f"no oracle kind {kind!r}")


@_interrupt.guarded
def reference(
    name: str,
    *args,
    fmt=None,
    axis: int = -1,
    from_logits: bool = False,
    max_prec: int = 4096,
    progress: Callable[[int], None] | None = None,
    engine: str = "auto",
    cache: bool = False,
    workers: int = 1,
    executor=None,
) -> Reference:
    """Correctly rounded reference of function ``name`` at ``args``.

    ``args`` are the function's array arguments (``x``; or ``y_true, y_pred``
    for the losses). Inputs are first rounded to ``fmt`` (default: the format
    of the last argument), exactly as the function under test would see them.
    ``progress(k)`` is called with the number of points (or rows) finished
    since the last call. Row-wise functions return one value per row
    (``logsumexp``, losses) or per element (``softmax``, ``log_softmax``),
    with the class axis moved back for the latter.

    ``engine="auto"`` settles sigmoid, log_sigmoid and softplus with the
    certified double-double tier (:mod:`stabkit.reference.certified`) and sends only
    the points it cannot certify to mpmath; ``"mpmath"`` uses mpmath for
    every point. ``cache=True`` reads and writes the on-disk cache
    (:mod:`stabkit.reference.cache`). ``workers > 1`` spreads the mpmath points over
    that many processes, in chunks; ``executor`` (a
    ``concurrent.futures.Executor``, e.g. a dask.distributed client's
    ``get_executor()``) runs the chunks there instead. Neither changes a result.
    """
    if name not in ORACLES:
        raise ValueError(f"unknown function {name!r}; known: {', '.join(ORACLES)}")
    if engine not in ("auto", "mpmath"):
        raise ValueError(f"unknown engine {engine!r}; use 'auto' or 'mpmath'")
    fmt = get_format(fmt) if fmt is not None else get_format(_default_format(args[-1]))
    oracle = ORACLES[name]
    key = None
    if cache:
        from . import cache as _cache

        opts = {"axis": axis, "from_logits": bool(from_logits), "max_prec": max_prec}
        key = _cache.make_key(name, fmt.name, opts, [np.asarray(a) for a in args])
    # inputs rounded and labels validated once; points is a lazy generator
    shape, points = _iter_points(name, args, axis, from_logits, fmt)
    n_out = int(np.prod(shape)) if shape else 1
    arrays = _cache.load(key, n_out) if key else None
    if arrays is not None:
        if progress is not None:
            progress(n_out // (shape[-1] if oracle.kind == "rowwise" and shape else 1))
    else:
        arrays = _evaluate(name, args, fmt, shape, points, max_prec, progress, engine, workers, executor)
        if key:
            _cache.save(key, arrays)
    out = [arrays[f].reshape(shape) for f in ("rounded", "hi", "lo", "unsettled", "precision")]
    tail = None
    if fmt.name == "float64":
        tail = _tails(name, args, axis, from_logits, fmt, arrays, max_prec).reshape(shape)
    if oracle.kind == "rowwise" and len(shape) > 0:
        out = [np.moveaxis(a, -1, axis) for a in out]
        tail = None if tail is None else np.moveaxis(tail, -1, axis)
    return Reference(fmt, out[0].astype(fmt.dtype), out[1], out[2], out[3], out[4], tail)


#: 1074 ln 2: exp(x + _SUB_LOG) = exp(x) * 2**1074
_SUB_LOG = 1074 * math.log(2)


def _tails(name, args, axis, from_logits, fmt, arrays, max_prec) -> np.ndarray:
    """``(exact - hi - lo) * 2**1074`` for float64 targets (flat, output
    order), which float64 pairs cannot hold where ``hi`` is below 2**-969
    (``lo`` rounded to the subnormal grid): the error of such a result is up
    to 0.5 ulp off without it.

    Nonzero subnormal values are settled again in mpmath (they came from
    there, and are few; a cached reference has no tails stored). Zeros of
    sigmoid, softplus and log_sigmoid are ``+-exp(-|x|)`` below 2**-1075,
    whose tail ``exp(-|x| + 1074 ln 2)`` float64 gives to 2**-40; other
    zeros keep 0.
    """
    hi, lo = arrays["hi"], arrays["lo"]
    tail = np.zeros(hi.shape)
    sub = np.isfinite(hi) & (hi != 0) & (np.abs(hi) < TAIL_BELOW) & ~arrays["unsettled"]
    zero = hi == 0
    if ORACLES[name].kind == "elementwise" and name in _certified.CERTIFIED and zero.any():
        x = round_float64(np.asarray(args[0]), fmt).ravel()
        s = -1.0 if name == "log_sigmoid" else 1.0
        with np.errstate(over="ignore", under="ignore", invalid="ignore"):
            # sigmoid, softplus ~ exp(x) for x < -745; log_sigmoid ~ -exp(-x)
            t = s * np.exp(s * x + _SUB_LOG)
        tail = np.where(zero & np.isfinite(x) & (s * x < -700), t, tail)
    if not sub.any():
        return tail
    kind = ORACLES[name].kind
    width = hi.size // max(1, _n_points(name, args, axis, fmt)) if kind == "rowwise" else 1
    wanted = set((np.flatnonzero(sub) // width).tolist())
    _, points = _iter_points(name, args, axis, from_logits, fmt)
    for i, pargs, n_terms in points:
        if i not in wanted:
            continue
        slack = 10 + int(n_terms).bit_length()
        _, vals, _, _ = _settle(ORACLES[name].fn, pargs, fmt, slack, fmt.precision + 40 + slack, max_prec)
        for k, v in enumerate(vals):
            o = i * width + k
            if sub[o]:
                tail[o] = subnormal_tail(v, float(hi[o]), float(lo[o]))
    return tail


def _n_points(name, args, axis, fmt) -> int:
    """The number of rows of a row-wise function's argument."""
    (x,) = args
    xl = last_axis(np.asarray(x), axis)
    return math.prod(xl.shape[:-1])


#: The precision recorded for points settled by the double-double tier.
DD_PRECISION = 106


def _evaluate(name, args, fmt, shape, points, max_prec, progress, engine, workers, executor=None) -> dict:
    """Flat arrays (rounded, hi, lo, unsettled, precision) in output order."""
    oracle = ORACLES[name]
    n_out = int(np.prod(shape)) if shape else 1
    rounded = np.empty(n_out, np.float64)
    hi, lo = np.empty(n_out), np.empty(n_out)
    unsettled = np.zeros(n_out, bool)
    precision = np.zeros(n_out, np.int32)
    todo = None  # indices left for mpmath (None: all)
    if engine == "auto" and name in _certified.CERTIFIED:
        x = round_float64(np.asarray(args[0]), fmt)
        r, h, lw, ok = _certified.evaluate(name, x, fmt)
        rounded[ok], hi[ok], lo[ok], precision[ok] = r[ok], h[ok], lw[ok], DD_PRECISION
        todo = np.flatnonzero(~ok)
        if progress is not None and ok.any():
            progress(int(ok.sum()))
    width = shape[-1] if oracle.kind == "rowwise" and shape else 1
    if todo is not None:
        wanted = set(todo.tolist())
        points = (p for p in points if p[0] in wanted)
    if workers > 1 or executor is not None:
        results = _settle_parallel(name, list(points), fmt, max_prec, workers, progress, executor)
    else:
        results = (_settle_point(name, p, fmt, max_prec, progress) for p in points)
    for i, r, pair, prec, ok in results:
        sl = slice(i * width, i * width + len(r))
        rounded[sl] = r if ok else np.nan
        if pair:
            hi[sl], lo[sl] = zip(*pair)
        unsettled[sl] = not ok
        precision[sl] = prec
    return {"rounded": rounded, "hi": hi, "lo": lo, "unsettled": unsettled, "precision": precision}


def _settle_point(name, point, fmt, max_prec, progress=None):
    i, pargs, n_terms = point
    slack = 10 + int(n_terms).bit_length()
    start = fmt.precision + 40 + slack
    r, vals, prec, ok = _settle(ORACLES[name].fn, pargs, fmt, slack, start, max_prec)
    if progress is not None:
        progress(1)
    return i, r, [split_exact(v) for v in vals], prec, ok


#: mpmath keeps its working precision in one global setting per process, so
#: chunks that run on worker threads (a Dask worker with --nthreads above 1)
#: take turns; worker processes run side by side.
MP_LOCK = threading.RLock()


def _settle_chunk(name, chunk, fmt_name, max_prec):
    fmt = get_format(fmt_name)
    # mpf inputs travel as floats (exact) and are rebuilt here
    out = []
    with MP_LOCK:
        for i, pargs, n in chunk:
            out.append(_settle_point(name, (i, _from_wire(pargs), n), fmt, max_prec))
    return out


def _to_wire(pargs):
    return tuple([float(v) for v in a] if isinstance(a, list) else (float(a) if isinstance(a, mpmath.mpf) else a) for a in pargs)


def _from_wire(pargs):
    return tuple([_x(v) for v in a] if isinstance(a, list) else (_x(a) if isinstance(a, float) else a) for a in pargs)


def _settle_parallel(name, points, fmt, max_prec, workers, progress, executor=None):
    """Settle points in chunks of a few hundred: in ``workers`` local
    processes, or on ``executor`` (any ``concurrent.futures.Executor``, such
    as a dask.distributed ``Client.get_executor()``)."""
    import concurrent.futures as cf
    import multiprocessing as mp

    if len(points) < 200:
        return [_settle_point(name, p, fmt, max_prec, progress) for p in points]
    size = max(50, min(2000, len(points) // (4 * max(workers, 2))))
    chunks = [[(i, _to_wire(a), n) for i, a, n in points[k:k + size]] for k in range(0, len(points), size)]
    results = []

    def run(pool):
        futures = [pool.submit(_settle_chunk, name, c, fmt.name, max_prec) for c in chunks]
        for fut in cf.as_completed(futures):
            part = fut.result()
            results.extend(part)
            if progress is not None:
                progress(len(part))

    if executor is not None:
        run(executor)
    else:
        ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else None
        with cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            run(pool)
    # chunks finish in any order; the output arrays are filled by index
    return results


def _default_format(a) -> str:
    a = np.asarray(a)
    return "float64" if a.dtype.kind in "biu" else get_format(a.dtype).name
