"""Adversarial families: inputs that ordinal-uniform samples and random rows
almost never produce, each aimed at a cut-off inside the accurate tier
(stabkit/accurate.py and its stabkit/_accurate/ modules). Pure functions of
their arguments and ``rng``.
"""

from __future__ import annotations

import math

import numpy as np

from stabkit.floats import Format, get_format, ordinal, round_float64, round_to_format
from stabkit.registry import get

from .ordinals import from_ordinal, unique_sorted

__all__ = ["loser_mass_cutoffs", "dense_elementwise", "winner_rows", "cancelling_rows", "extreme_rows", "soft_targets"]


#: Cut-offs of the accurate tier in the loser mass ``s = sum_{i != k}
#: exp(x_i - m)`` of a row of n entries (the n**2 * 2**-39 floor of the
#: extraction sum, the n * 2**-1020 switch to scaled tiny sums, log1p(s) = s
#: below 2**-53, ties at 1), which :func:`winner_rows` samples densely around.
def loser_mass_cutoffs(n: int) -> list[float]:
    return [n * n * 2.0**-39, n * 2.0**-1020, 2.0**-53, 2.0**-26, 1.0]


def _band_thresholds(function: str, f: Format) -> list[float]:
    """Both signs of: the accurate tier's series switch (|x| < 2**-10), the
    registry's regime bounds, where ``1 + exp(-|x|)`` rounds to 1 (p ln 2 and
    (p + 1) ln 2), PyTorch's softplus threshold 20, and the points where exp
    overflows or leaves the normal and subnormal range of ``f``."""
    ln2 = math.log(2.0)
    t = [2.0**-10, 2.0**-30, 20.0, f.precision * ln2, (f.precision + 1) * ln2]
    t += [math.log(f.max), -math.log(f.smallest_normal), -math.log(f.smallest_subnormal)]
    t += [abs(b) for r in get(function).regimes for b in (r.lo, r.hi) if 0 < abs(b) < 1e3]
    return sorted({s * v for v in t for s in (1.0, -1.0) if v <= f.max})


def dense_elementwise(function: str, fmt, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` inputs of a one-argument function, uniform in *value* (not bit
    pattern: ordinal sampling puts 1 float64 in 600 in [-10, 0]) over the bands
    [-2, 2], [-40, 0], [0, 40] and [-750, 750], and on both sides of every
    threshold of :func:`_band_thresholds`: half of each threshold's points in
    [t - |t|/16, t], half in [t, t + |t|/16], plus its 16 neighbours by
    ordinal on each side. Half the points go to the bands, half to the
    thresholds."""
    f = get_format(fmt)
    bands = [(-2.0, 2.0), (-40.0, 0.0), (0.0, 40.0), (-750.0, 750.0)]
    ts = _band_thresholds(function, f)
    per_band = max(1, (n // 2) // len(bands))
    per_side = max(1, (n - per_band * len(bands)) // (2 * len(ts)))
    parts = [rng.uniform(lo, hi, per_band) for lo, hi in bands]
    for t in ts:
        w = abs(t) / 16
        parts += [rng.uniform(t - w, t, per_side), rng.uniform(t, t + w, per_side)]
        o = int(ordinal(np.array([t]).astype(f.dtype), f)[0])
        parts.append(from_ordinal(np.arange(o - 16, o + 17), f).astype(np.float64))
    with np.errstate(over="ignore"):
        x = round_float64(np.clip(np.concatenate(parts), -f.max, f.max), f)
    return unique_sorted(x, f)


def winner_rows(fmt, n: int, count: int, rng: np.random.Generator, s_range=(1e-20, 1e4)) -> np.ndarray:
    """``count`` rows of ``n`` entries: one winner at a random column over
    n - 1 losers at ``winner - gap``, the gap chosen so that the loser mass
    ``s = (n - 1) exp(-gap)`` is within a factor 2**-3..2**4 of one of
    :func:`loser_mass_cutoffs` (even rows, the cut-offs in turn, the
    extraction floor first) or log-uniform over ``s_range`` (odd rows); s is
    capped at n - 1 (gap >= 0). Losers are exactly equal in two rows of three
    (their rounding errors then add up in one direction instead of
    averaging out) and carry noise of 1e-15 to 0.1 otherwise. The winner sits
    at 0 (two rows in five), at a random offset up to +-1e4, past 650 (where
    softmax must shift), or at ``-log1p(s)``, where logsumexp cancels to
    about 0. Rounded to ``fmt``."""
    f = get_format(fmt)
    out = np.empty((count, n))
    cuts = [c for c in loser_mass_cutoffs(n) if 1e-300 < c < n - 1]
    for i in range(count):
        if i % 2 == 0 and cuts:
            s = cuts[(i // 2) % len(cuts)] * 2.0 ** rng.uniform(-3, 4)
        else:
            s = 10.0 ** rng.uniform(math.log10(s_range[0]), math.log10(s_range[1]))
        s = min(s, n - 1.0)
        gap = max(0.0, math.log((n - 1) / s)) if n > 1 else 0.0
        noise = 0.0 if i % 3 != 2 else 10.0 ** rng.uniform(-15, -1)
        row = -gap + noise * rng.standard_normal(n)
        row[int(rng.integers(n))] = 0.0
        m = (0.0, 0.0, float(rng.choice([-1, 1]) * 10.0 ** rng.uniform(0, 4)), 650.0 + rng.uniform(0, 60), -math.log1p(s))[int(rng.integers(5))]
        out[i] = row + m
    with np.errstate(over="ignore"):
        return round_float64(out, f)


def cancelling_rows(fmt, n: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` rows of ``n`` log-probabilities whose logsumexp is tiny by
    construction: n - 1 entries ``b_j = log(eps * w_j)`` rounded to ``fmt``
    (w from a Dirichlet), eps log-uniform from ~1e-284 (float64; the format's
    tiny * 2**(p + 20) otherwise, 1e-2 at most) to 0.95, and one entry
    ``a = log1p(-S)`` correctly rounded, with S = sum exp(b_j) exactly
    (mpmath), then moved by -2..2 ulps. logsumexp = log(exp(a) + S) is then
    within (|moved| + 1/2) ulp(a) ~ eps * 2**-p of 0: down to 1e-300 in
    float64 (eps > 1/2 makes a b_j the maximum, the other cancelling form)."""
    import mpmath

    f = get_format(fmt)
    lo = math.log10(min(f.smallest_normal * 2.0 ** (f.precision + 20), 1e-2))
    out = np.empty((count, n))
    for i in range(count):
        eps = 10.0 ** rng.uniform(lo, math.log10(0.95))
        w = rng.dirichlet(np.ones(n - 1)) if n > 2 else np.ones(1)
        with np.errstate(divide="ignore"):
            b = round_float64(math.log(eps) + np.log(w), f).astype(np.float64)
        with mpmath.workprec(f.precision + 200):
            S = mpmath.fsum(mpmath.exp(mpmath.mpf(float(v))) for v in b)
            a = round_to_format(mpmath.log1p(-S), f) if S < 1 else -0.0
        a = float(from_ordinal(ordinal(np.array([a]).astype(f.dtype), f) + int(rng.integers(-2, 3)), f)[0])
        k = int(rng.integers(n))
        out[i] = np.insert(b, k, min(a, 0.0))
    return round_float64(out, f)


def extreme_rows(fmt, n: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` rows of ``n`` finite logits at the edge of ``fmt``'s range:
    each entry +-max, +-max/2, +-max * (1 - 2**-p), 0 or uniform in
    [-max, max], with at least one +max or -max per row, so that shifted
    logits ``x_i - m`` overflow although the softmax, log-softmax and (soft-
    label) losses are finite."""
    f = get_format(fmt)
    top = f.max * (1 - 2.0**-f.precision)
    choices = np.array([f.max, -f.max, f.max / 2, -f.max / 2, top, -top, 0.0])
    out = rng.choice(choices, size=(count, n))
    wild = rng.random((count, n)) < 0.2
    out[wild] = f.max * rng.uniform(-1.0, 1.0, size=int(wild.sum()))  # uniform(-max, max) overflows its width
    out[np.arange(count), rng.integers(n, size=count)] = rng.choice([f.max, -f.max], size=count)
    return round_float64(out, f)


def soft_targets(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Per row, cycling: uniform 1/n, Dirichlet(1), one-hot at the maximum,
    one-hot at the minimum, label-smoothed (0.9 one-hot + 0.1/n) at the
    maximum. float64, rows of ``x``'s shape."""
    count, n = x.shape
    y = np.zeros((count, n))
    finite = np.where(np.isfinite(x), x, np.nan)
    for i in range(count):
        kind = i % 5
        if kind == 0:
            y[i] = 1.0 / n
        elif kind == 1:
            y[i] = rng.dirichlet(np.ones(n))
        else:
            j = np.nanargmin(finite[i]) if kind == 3 else np.nanargmax(finite[i])
            y[i, j] = 1.0
            if kind == 4:
                y[i] = 0.9 * y[i] + 0.1 / n
    return y
