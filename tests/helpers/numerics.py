"""Shared helpers for the function-library tests: references are expensive,
so each (function, format) sweep is computed once per test session."""

from __future__ import annotations

import functools
import math
import warnings

import mpmath
import numpy as np

from stabkit import registry
from stabkit.analysis import sampling
from stabkit.floats import enumerate_format, get_format
from stabkit.reference import reference
from stabkit.registry import get
from stabkit.analysis.sampling import rng_for

TIERS = {t: registry.module(t) for t in registry.TIERS}
_MP300 = mpmath.MPContext()
_MP300.prec = 300


def ulps(got, exact, dtype=np.float64) -> float:
    """|got - exact| in ulps of ``exact`` (an mpmath value) in ``dtype``
    (the subnormal spacing below the normal range; an exact value that
    rounds past the format's largest gives 0 for inf of its sign)."""
    fi = np.finfo(dtype)
    if abs(exact) >= _MP300.mpf(float(fi.max)) * (1 + _MP300.mpf(2) ** (-fi.nmant - 1)):
        return 0.0 if np.isinf(float(got)) and (float(got) > 0) == (exact > 0) else np.inf
    if exact == 0:
        return 0.0 if float(got) == 0 else np.inf
    e = max(int(_MP300.floor(_MP300.log(abs(exact), 2))), fi.minexp)
    return float(abs(_MP300.mpf(float(got)) - exact) / _MP300.mpf(2) ** (e - fi.nmant))


def quiet(fn, *args, **kw):
    """Call a tier with its RuntimeWarnings silenced (the naive tier warns)."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        return fn(*args, **kw)


@functools.lru_cache(maxsize=None)
def exhaustive(fn_name: str, fmt: str):
    """Every non-NaN value of a 16-bit format and its reference."""
    x = enumerate_format(fmt)
    return x, reference(fn_name, x)


def errors(fn_name: str, tier: str, *args, ref=None, **kw):
    """(ulp errors, failures, outputs, reference) of one tier at ``args``."""
    ref = ref if ref is not None else reference(fn_name, *args, **kw)
    # the registry's call: a row-wise reduction (logsumexp) reduces each row
    y = quiet(get(fn_name).tier(tier), *args, **kw)
    return ref.ulp_error(y), ref.failures(y), y, ref


def ordinal_uniform(fmt: str, n: int, seed: int, lo=None, hi=None) -> np.ndarray:
    """n floats of ``fmt`` drawn uniformly over bit patterns (every float equally
    likely, as Herbie samples), optionally restricted to [lo, hi]."""
    rng = np.random.default_rng(seed)
    dt = {"float32": (np.float32, np.uint32), "float64": (np.float64, np.uint64)}[fmt]
    out = []
    while sum(len(o) for o in out) < n:
        bits = rng.integers(0, np.iinfo(dt[1]).max, size=4 * n, dtype=dt[1], endpoint=True)
        v = bits.view(dt[0])
        v = v[np.isfinite(v)]
        if lo is not None:
            v = v[(v >= lo) & (v <= hi)]
        out.append(v)
    return np.concatenate(out)[:n]


def adversarial_rows(fmt: str, seed: int, n_rows: int = 48, lengths=(2, 3, 10, 100)) -> list[np.ndarray]:
    """Rows built to hurt: offsets up to +-1e4, spreads from 1e-3 to the
    format's range, a single winner with a chosen gap, ties, all-equal rows,
    masked (-inf) entries, log-probability rows (logsumexp ~ 0) and rows with a
    negative maximum (where m + log1p(s) cancels). Returned as a list of 1-d
    arrays of mixed lengths."""
    rng = np.random.default_rng(seed)
    big = {"float64": 1e300, "float32": 1e38, "float16": 6e4, "bfloat16": 1e38}[fmt]
    rows = []
    for i in range(n_rows):
        n = int(lengths[i % len(lengths)])
        kind = i % 9
        off = float(rng.choice([0.0, rng.uniform(-1e4, 1e4), rng.uniform(-30, 30)]))
        if kind == 0:
            r = rng.normal(size=n) * float(rng.choice([1e-3, 1, 30, 700]))
        elif kind == 1:  # one winner at a chosen gap
            r = rng.normal(size=n)
            r[rng.integers(n)] = r.max() + float(rng.choice([5, 10, 16, 20, 36, 40, 100, 700, 1e4]))
        elif kind == 2:  # all equal
            r = np.full(n, float(rng.normal()) * 10)
        elif kind == 3:  # ties at the top
            r = rng.normal(size=n)
            r[: max(2, n // 3)] = r.max() + 3.0
        elif kind == 4:  # log-probabilities: logsumexp is ~0
            r, off = np.log(rng.dirichlet(np.ones(n) * float(rng.choice([0.1, 1, 10])))), 0.0
        elif kind == 5:  # negative maximum of the size of log(n)
            r, off = rng.normal(size=n) - math.log(n) - float(rng.uniform(-1, 1)), 0.0
        elif kind == 6:  # masked classes
            r = rng.normal(size=n) * 5
            r[rng.random(n) < 0.4] = -np.inf
            r[rng.integers(n)] = rng.normal()
        elif kind == 7:  # spread up to the format's range
            r = rng.uniform(-1, 1, size=n) * big
            off = 0.0
        else:  # uniform over a wide interval
            r = rng.uniform(-800, 800, size=n)
        with np.errstate(over="ignore"):
            rows.append((r + off).astype(fmt))
    return rows


# ------------------------------------------------------------ adversarial families
# The generators live in stabkit.sampling (the reports use them too); these
# wrappers key them by an integer seed and turn them into ready-made calls for
# every function. See tests/test_adversarial_families.py.

#: The accurate tier's contract in ulps: float64 elementwise functions, then
#: float64 row-wise functions and losses; every narrower format is below 1 ulp
#: (correctly rounded or faithful).
CONTRACT_F64 = {"elementwise": 2.0, "rows": 4.0}
CONTRACT_NARROW = 1.0


def contract_bound(fn_name: str, fmt: str) -> float:
    """The largest ulp error the accurate tier may make (``<=`` in float64,
    ``<`` in narrower formats)."""
    if fmt != "float64":
        return CONTRACT_NARROW
    return CONTRACT_F64["elementwise" if get(fn_name).kind == "elementwise" else "rows"]


def dense_regime_inputs(fn_name: str, fmt: str, n: int, seed: int) -> np.ndarray:
    """About ``n`` inputs of a one-argument function, uniform in value over
    bands and on both sides of each internal threshold
    (:func:`stabkit.analysis.adversarial.dense_elementwise`)."""
    return sampling.dense_elementwise(fn_name, fmt, n, np.random.default_rng(seed))


def winner_over_losers(fmt: str, n: int, count: int, seed: int, s_range=(1e-20, 1e4)) -> np.ndarray:
    """``count`` rows of one winner over n - 1 equal or nearly equal losers,
    the loser mass swept around the accurate tier's cut-offs
    (:func:`stabkit.analysis.adversarial.winner_rows`)."""
    return sampling.winner_rows(fmt, n, count, np.random.default_rng(seed), s_range)


def cancelling_logprob_rows(fmt: str, n: int, count: int, seed: int) -> np.ndarray:
    """``count`` rows of ``n`` log-probabilities whose logsumexp is exactly
    tiny, down to 1e-300 (:func:`stabkit.analysis.adversarial.cancelling_rows`)."""
    return sampling.cancelling_rows(fmt, n, count, np.random.default_rng(seed))


def extreme_logit_rows(fmt: str, n: int, count: int, seed: int) -> np.ndarray:
    """``count`` rows of finite logits at +-max of ``fmt``
    (:func:`stabkit.analysis.adversarial.extreme_rows`)."""
    return sampling.extreme_rows(fmt, n, count, np.random.default_rng(seed))


#: Rows per family and length at ``scale=1``: (family, length, rows).
FAMILY_SIZES = (
    ("winner", 2, 8), ("winner", 3, 8), ("winner", 16, 8), ("winner", 17, 8), ("winner", 150, 16), ("winner", 1000, 4),
    ("cancel", 2, 24), ("cancel", 3, 8), ("cancel", 10, 8), ("cancel", 100, 4),
    ("extreme", 2, 8), ("extreme", 3, 8), ("extreme", 10, 4),
)
_ROW_MAKERS = {"winner": winner_over_losers, "cancel": cancelling_logprob_rows, "extreme": extreme_logit_rows}


def family_cases(fn_name: str, fmt: str, seed: int, scale: float = 1.0, long_rows: int = 0):
    """Calls of ``fn_name`` over the adversarial families in ``fmt``, as a
    list of ``(family, args, kwargs)``; every array is a pure function of
    ``(fn_name, fmt, seed, scale, long_rows)``.

    * one-argument functions: ``dense`` inputs, 600 * scale of them;
    * binary cross-entropy from logits: the same dense logits with labels
      cycling 0, 1, uniform soft, and the confident-and-right label, plus
      ``extreme`` logits at +-max;
    * row-wise functions and the other losses (from logits): the rows of
      :data:`FAMILY_SIZES` (times ``scale``), plus ``long_rows`` winner rows
      of 10,000 entries. Sparse labels are the winner in winner rows (the
      loss that is about s), else cycle winner / smallest / random;
      categorical targets are soft (uniform, Dirichlet, one-hot at the
      maximum or minimum, smoothed).
    """
    kind = get(fn_name).kind
    rng = rng_for(seed, "families", fn_name, fmt)
    sub = lambda: int(rng.integers(2**31))  # noqa: E731  (one seed per family call)
    if kind == "elementwise":
        return [("dense", (dense_regime_inputs(fn_name, fmt, int(600 * scale), sub()),), {})]
    if kind == "binary_loss":
        z = dense_regime_inputs(fn_name, fmt, int(600 * scale), sub())
        big = get_format(fmt).max
        ze = np.array([big, -big, big / 2, -big / 2, 0.0] * 4).astype(z.dtype)
        out = []
        for name, zz in (("dense", z), ("extreme", ze)):
            z64 = zz.astype(np.float64)
            y = np.stack([np.zeros_like(z64), np.ones_like(z64), rng.random(z64.shape), (z64 > 0).astype(float)])
            y = y[np.arange(z64.size) % 4, np.arange(z64.size)]
            out.append((name, (y.astype(zz.dtype), zz), {"from_logits": True}))
        return out
    sizes = [(fam, L, max(1, round(c * scale))) for fam, L, c in FAMILY_SIZES]
    sizes += [("winner", 10000, long_rows)] if long_rows else []
    out = []
    for fam, L, count in sizes:
        x = _ROW_MAKERS[fam](fmt, L, count, sub())
        if kind in ("rowwise", "rowwise_scalar"):
            out.append((f"{fam}/{L}", (x,), {}))
            continue
        x64 = x.astype(np.float64)
        if kind == "sparse_loss":
            top, low = np.argmax(x64, axis=1), np.argmin(x64, axis=1)
            cyc = np.stack([top, low, rng.integers(L, size=count)])[np.arange(count) % 3, np.arange(count)]
            labels = top if fam == "winner" else cyc
            out.append((f"{fam}/{L}", (labels, x), {"from_logits": True}))
        else:
            y = sampling.soft_targets(x64, rng).astype(x.dtype)
            out.append((f"{fam}/{L}", (y, x), {"from_logits": True}))
    return out


def contract_violations(fn_name: str, fmt: str, family: str, args: tuple, kwargs: dict, limit: int = 3) -> tuple[float, int, list[str]]:
    """(worst ulp error, points checked, messages) of the accurate tier on one
    family call: a message for each of the worst ``limit`` points past the
    contract, for each failure (NaN/inf where the exact value is finite) and
    for each reference that did not settle."""
    e, fails, y, ref = errors(fn_name, "accurate", *args, **kwargs)
    e, fails = np.atleast_1d(e), np.atleast_1d(fails)
    bound = contract_bound(fn_name, fmt)
    bad = (e > bound) if fmt == "float64" else (e >= bound)
    bad &= ~np.isnan(e) & ~fails
    msgs = []
    where = lambda i: np.unravel_index(i, np.shape(e))  # noqa: E731
    for i in np.argsort(-np.where(bad, e, -1).ravel())[: min(limit, int(bad.sum()))]:
        msgs.append(f"{fn_name} {fmt} {family}: {e.ravel()[i]:.4g} ulp at {where(i)} (got {np.ravel(y)[i]!r}, exact {ref.hi.ravel()[i]!r})")
    for i in np.flatnonzero(fails.ravel())[:limit]:
        msgs.append(f"{fn_name} {fmt} {family}: failure at {where(i)} (got {np.ravel(y)[i]!r}, exact {ref.hi.ravel()[i]!r})")
    if int(fails.sum()) > limit:
        msgs.append(f"{fn_name} {fmt} {family}: {int(fails.sum())} failures in all")
    if np.any(ref.unsettled):
        msgs.append(f"{fn_name} {fmt} {family}: {int(np.sum(ref.unsettled))} reference points did not settle")
    ok = ~np.isnan(e) & ~fails
    worst = float(np.max(e[ok])) if ok.any() else 0.0
    return worst, int(e.size), msgs
