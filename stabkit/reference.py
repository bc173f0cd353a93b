"""Correctly rounded references from mpmath.

Every oracle evaluates its function exactly at the float inputs
(``mpf(float(x))`` is exact for every format here) in a cancellation-free
form, inside a scoped ``workprec``. It returns, for each output value ``v``, a
*scale* ``c`` such that the error of ``v`` is below ``c * 2**(slack - prec)``:

* each mpmath operation (``exp``, ``log``, ``log1p``, a division) is accurate
  to a couple of ulps at the working precision, and shifted logits are formed
  exactly (``fsub(..., exact=True)``);
* the forms add only terms of one sign, so relative errors stay relative;
  where a form can cancel (logsumexp's ``m + log1p(s)``, losses with labels
  outside [0, 1]) the scale is the sum of the magnitudes, an absolute bound;
* ``slack = 10 + bit_length(n)`` covers the operation count plus a sum of
  ``n`` terms with a wide margin.

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
from mpmath.libmp import from_float

from . import certified as _certified
from ._common import check_same_shape, last_axis, sparse_labels
from .floats import (
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

__all__ = ["Reference", "reference", "ORACLES", "oracle_value"]

mpf = mpmath.mpf
INF, NINF, NAN = mpf("inf"), mpf("-inf"), mpf("nan")


def _x(v) -> mpmath.mpf:
    # mpf(float) rounds to the *global* precision (a caller's mp.dps = 5 would
    # round every input to 17 bits); from_float keeps all 53 bits.
    return mpmath.mp.make_mpf(from_float(float(v)))


def _xmul(a, b):
    """a * b with 0 * anything = 0 (cross-entropy's 0 log 0 = 0)."""
    return mpf(0) if a == 0 else a * b


# ------------------------------------------------------------ scalar oracles
# Each returns (values, scales): lists of mpf, one per output element.


def _sigmoid(x):
    if mpmath.isnan(x):
        return [NAN], [0]
    if mpmath.isinf(x):
        return [mpf(1) if x > 0 else mpf(0)], [0]
    v = 1 / (1 + mpmath.exp(-x))
    return [v], [abs(v)]


def _softplus(x):
    if mpmath.isnan(x):
        return [NAN], [0]
    if mpmath.isinf(x):
        return [INF if x > 0 else mpf(0)], [0]
    v = mpmath.log1p(mpmath.exp(x))
    return [v], [abs(v)]


def _log_sigmoid(x):
    (v,), (c,) = _softplus(-x)
    return [-v], [c]


class _Row:
    """Exact shift analysis of one row: m, winner k, d_i = x_i - m (exact),
    s = sum_{i != k} exp(d_i), L = log1p(s); or a special kind."""

    def __init__(self, row):
        self.row = row
        self.n = len(row)
        self.kind = "finite"
        if any(mpmath.isnan(v) for v in row):
            self.kind = "nan"
            return
        n_pinf = sum(1 for v in row if v == INF)
        if n_pinf:
            self.kind = "pinf1" if n_pinf == 1 else "pinf2"
            return
        if self.n == 0 or all(v == NINF for v in row):
            self.kind = "ninf"
            return
        self.m = max(row)
        self.k = row.index(self.m)
        self.d = [NINF if v == NINF else mpmath.fsub(v, self.m, exact=True) for v in row]
        terms = [mpmath.exp(di) for i, di in enumerate(self.d) if i != self.k and di != NINF]
        self.s = mpmath.fsum(terms)
        self.L = mpmath.log1p(self.s)

    def log_softmax(self):
        if self.kind == "nan" or self.kind == "ninf" or self.kind == "pinf2":
            return [NAN] * self.n, [0] * self.n
        if self.kind == "pinf1":
            return [mpf(0) if v == INF else NINF for v in self.row], [0] * self.n
        # d_i is exact and the subtraction is exact, so the only error is L's:
        # the bound scales with |L|, not |d_i - L|. A relative bound would not
        # settle d_i - L when d_i is a midpoint of the target format and L is
        # 1e-2000 (a winner thousands of units ahead).
        vals, scales = [], []
        for di in self.d:
            v, c = _exact_minus(di, self.L)
            vals.append(v)
            scales.append(c)
        return vals, scales


def _exact_minus(d, L):
    """(d - L, error scale) with the subtraction exact; d is exact, L >= 0 carries
    the only error. An L below every rounding boundary near d (d has at most
    ~2100 significant bits, being a difference of two float64s) is replaced by
    a stand-in 2**(mag(d) - 2300): d - L and d - stand-in round alike in every
    format, and the exact subtraction stays small."""
    if d == NINF:
        return NINF, 0
    if L != 0 and d != 0:
        floor = mpmath.mag(d) - 2300
        if mpmath.mag(L) < floor:
            L = mpmath.ldexp(mpf(1), floor)
    return mpmath.fsub(d, L, exact=True), abs(L)


def _softmax(row):
    r = _Row(row)
    if r.kind == "nan" or r.kind == "ninf" or r.kind == "pinf2":
        return [NAN] * r.n, [0] * r.n
    if r.kind == "pinf1":
        return [mpf(1) if v == INF else mpf(0) for v in row], [0] * r.n
    vals = [mpmath.exp(di) / (1 + r.s) for di in r.d]
    return vals, [abs(v) for v in vals]


def _log_softmax(row):
    return _Row(row).log_softmax()


def _logsumexp(row):
    r = _Row(row)
    special = {"nan": NAN, "ninf": NINF, "pinf1": INF, "pinf2": INF}
    if r.kind in special:
        return [special[r.kind]], [0]
    # m + L may cancel (m < 0): the bound is absolute, scaled by |m| + L
    return [r.m + r.L], [abs(r.m) + r.L]


def _bce(y, x, from_logits):
    if mpmath.isnan(y) or mpmath.isnan(x):
        return [NAN], [0]
    if from_logits:
        a = _softplus(-x)[0][0]
        b = _softplus(x)[0][0]
        t1, t2 = _xmul(y, a), _xmul(1 - y, b)
    else:
        if x < 0 or x > 1:
            return [NAN], [0]
        t1 = -_xmul(y, mpmath.log(x) if x > 0 else NINF)
        t2 = -_xmul(1 - y, mpmath.log1p(-x) if x < 1 else NINF)
    v = t1 + t2
    if mpmath.isnan(v) or mpmath.isinf(v):
        return [v], [0]
    return [v], [abs(t1) + abs(t2)]


def _sparse(label, row, from_logits):
    if from_logits:
        vals, scales = _Row(row).log_softmax()
        return [-vals[label]], [scales[label]]
    p = row[label]
    if mpmath.isnan(p) or p < 0:
        return [NAN], [0]
    v = -mpmath.log(p) if p > 0 else INF
    return [v], [abs(v) if mpmath.isfinite(v) else 0]


def _categorical(yrow, row, from_logits):
    if from_logits:
        logp, _ = _Row(row).log_softmax()
    else:
        logp = [NAN if (mpmath.isnan(p) or p < 0) else (mpmath.log(p) if p > 0 else NINF) for p in row]
    terms = [-_xmul(y, lp) for y, lp in zip(yrow, logp)]
    v = mpmath.fsum(terms) if terms else mpf(0)
    if mpmath.isnan(v) or mpmath.isinf(v):
        return [v], [0]
    return [v], [mpmath.fsum(abs(t) for t in terms)]


@dataclass(frozen=True)
class Oracle:
    """How to evaluate one function: its scalar form and its argument shape."""

    kind: str  # elementwise | rowwise | rowwise_scalar | binary_loss | sparse_loss | categorical_loss
    fn: Callable


ORACLES: dict[str, Oracle] = {
    "sigmoid": Oracle("elementwise", _sigmoid),
    "log_sigmoid": Oracle("elementwise", _log_sigmoid),
    "softplus": Oracle("elementwise", _softplus),
    "softmax": Oracle("rowwise", _softmax),
    "log_softmax": Oracle("rowwise", _log_softmax),
    "logsumexp": Oracle("rowwise_scalar", _logsumexp),
    "binary_crossentropy": Oracle("binary_loss", _bce),
    "sparse_categorical_crossentropy": Oracle("sparse_loss", _sparse),
    "categorical_crossentropy": Oracle("categorical_loss", _categorical),
}


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
        exact value overflows the format and ``y`` is that infinity."""
        y = np.asarray(y).astype(self.fmt.dtype)
        err = ulp_error(y, self.hi, self.lo, self.fmt, self.tail)
        return np.where(self._overflows() & (y.astype(np.float64) == self.rounded.astype(np.float64)), 0.0, err)

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
    certified double-double tier (:mod:`stabkit.certified`) and sends only
    the points it cannot certify to mpmath; ``"mpmath"`` uses mpmath for
    every point. ``cache=True`` reads and writes the on-disk cache
    (:mod:`stabkit.cache`). ``workers > 1`` spreads the mpmath points over
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


def oracle_value(name: str, *args, prec: int = 200, from_logits: bool = False) -> list:
    """The oracle's raw mpmath values at ``prec`` bits (for tests and pinned
    regression values), from Python floats or lists of floats."""
    oracle = ORACLES[name]
    conv = [([_x(v) for v in a] if isinstance(a, (list, tuple, np.ndarray)) else (a if isinstance(a, int) and oracle.kind == "sparse_loss" else _x(a))) for a in args]
    if oracle.kind.endswith("loss"):
        conv.append(from_logits)
    with mpmath.workprec(prec):
        vals, _ = oracle.fn(*conv)
    return vals
