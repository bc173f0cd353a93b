"""Shared helpers for the function-library tests: references are expensive,
so each (function, format) sweep is computed once per test session."""

from __future__ import annotations

import functools
import math
import warnings

import numpy as np

from stabkit import accurate, naive, stable
from stabkit.floats import enumerate_format
from stabkit.reference import reference

TIERS = {"naive": naive, "stable": stable, "accurate": accurate}


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
    y = quiet(getattr(TIERS[tier], fn_name), *args, **kw)
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
