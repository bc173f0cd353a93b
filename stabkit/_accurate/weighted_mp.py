"""The last resort of the weighted logsumexp: one row in MPFR (gmpy2), and
the two results that are known exactly.

``S = sum_i b_i exp(x_i)`` with float ``x_i`` and ``b_i``: group the entries
by their value of ``x`` and let ``c_j`` be the exact sum of the group's
weights. By the Lindemann-Weierstrass theorem the ``exp`` of distinct
rationals are linearly independent over the algebraic numbers, so

* ``S = 0`` exactly iff every ``c_j`` is 0 (``x = [1, 1], b = [1, -1]``):
  the log is -inf and the sign 0;
* ``S = 1`` (logsumexp exactly 0) iff the group at ``x = 0`` has ``c = 1``
  and every other ``c_j`` is 0.

Anything else is a nonzero sum whose log is not 0, so refining the
precision settles it (up to ``MP_CAP``).
"""

from __future__ import annotations


import gmpy2
import numpy as np

#: Working precision (bits) of the first try; it doubles up to ``MP_CAP``.
MP_START = 192
#: Precision past which a row is not refined further: the result is then the
#: value at this precision, whose error bound was not yet met (a sum that
#: cancels to 2**-8000 of its terms).
MP_CAP = 1 << 13


def _exact_units(w: float) -> int:
    """``w`` as an exact integer multiple of ``2**-1074`` (every finite
    float64 is one: its denominator is a power of two, at most 2**1074)."""
    n, d = w.as_integer_ratio()
    return n * ((1 << 1074) // d)


#: 1.0 in units of 2**-1074 (the group at x = 0 summing to exactly 1).
_ONE_UNITS = 1 << 1074


def _groups(x: np.ndarray, b: np.ndarray) -> list[tuple[float, list[float], int]]:
    """``(x value, its weights, their exact sum in units of 2**-1074)`` for
    each distinct ``x`` whose weights do not cancel (sum not 0).

    The entries are grouped by sorting (-0.0 and 0.0 are one value). A
    group of integer weights whose magnitudes sum to at most 2**53 (the
    +-1 weights of most cancelling rows) has an exact float64 sum: every
    partial sum is an integer of at most 53 bits, whatever the order. Any
    other group is summed as Python integers, exact and unable to overflow
    (math.fsum raised OverflowError on 1e308 + 1e308)."""
    if x.size <= 64:  # a short row: a dict is quicker than the sort
        by_x: dict[float, list[float]] = {}
        for v, w in zip(x.tolist(), b.tolist()):
            by_x.setdefault(v, []).append(w)  # -0.0 and 0.0 are one key
        groups = ((v, ws, sum(_exact_units(w) for w in ws)) for v, ws in by_x.items())
        return [(v + 0.0, ws, units) for v, ws, units in groups if units]
    # +0.0 turns -0.0 into 0.0, one key with it
    xs = x.astype(np.float64) + 0.0
    order = np.argsort(xs, kind="stable")
    xs, bs = xs[order], b.astype(np.float64)[order]
    starts = np.flatnonzero(np.r_[True, xs[1:] != xs[:-1]])
    with np.errstate(over="ignore", invalid="ignore"):  # huge weights: inf sums, exact = False
        sums = np.add.reduceat(bs, starts)
        exact = np.logical_and.reduceat(bs == np.round(bs), starts) & (np.add.reduceat(np.abs(bs), starts) <= 2.0**53)
    ends = np.r_[starts[1:], xs.size]
    out = []
    for j in np.flatnonzero(~exact | (sums != 0)).tolist():
        ws = bs[starts[j]:ends[j]].tolist()
        units = int(sums[j]) << 1074 if exact[j] else sum(_exact_units(w) for w in ws)
        if units:
            out.append((float(xs[starts[j]]), ws, units))
    return out


def weighted_row_mp(x: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """``(log|S|, sign S)`` of one row of finite ``x`` and finite nonzero ``b``
    (at least one entry), to float64.

    At precision p each group's weight sum (gmpy2's fsum), each ``exp`` and
    each product are correctly rounded, and ``x - m`` rounds by 2**-p of
    itself, so a term ``t = c exp(x - m)`` is off by at most
    ``(4 + |x - m|) 2**-p |t|``; fsum adds them with one rounding. With
    ``delta`` = (sum of the terms' bounds + 2**-p |S|) / |S| <= 1/4, ``log|S|``
    is off by at most ``2 delta`` and ``m + log|S|`` by ``err = 2 delta +
    2**(1-p) (|m| + |log S|)``. Settled when every number within ``2 err``
    of ``val`` rounds to the same float64 (Ziv's test: the result is then the
    correctly rounded one, subnormal results included, as every step of the
    weighted logsumexp gives it); else p doubles, to ``MP_CAP``, where the
    value found is returned (-inf and 0 if the sum still rounds to 0 there).
    The exact value is never a float64 midpoint, so the test ends: it is
    transcendental unless the sum is one group with weights summing to 1,
    whose logsumexp is its x, a float64 (Lindemann-Weierstrass).
    """
    groups = _groups(x, b)
    if not groups:
        return -np.inf, 0.0
    if len(groups) == 1 and groups[0][0] == 0.0 and groups[0][2] == _ONE_UNITS:
        return 0.0, 1.0
    m = max(v for v, _, _ in groups)
    prec = MP_START
    while True:
        # a fresh context: default flags, no traps, round to nearest
        with gmpy2.context(precision=prec):
            terms, bound = [], gmpy2.mpfr(0)
            for v, ws, _ in groups:
                d = gmpy2.mpfr(v) - gmpy2.mpfr(m)
                t = gmpy2.fsum(ws) * gmpy2.exp(d)
                terms.append(t)
                bound += abs(t) * (4 + abs(d))
            s = gmpy2.fsum(terms)
            if s != 0:
                delta = gmpy2.mul_2exp(bound + abs(s), -prec) / abs(s)
                log_s = gmpy2.log(abs(s))
                val = m + log_s
                err = 2 * delta + gmpy2.mul_2exp(abs(m) + abs(log_s), 1 - prec)
                # Ziv's test: everything within 2 err of val rounds to one
                # float64, on one side of 0 (val +- 2 err round by at most
                # 2**(1-p) |val| <= err here: the exact value stays inside)
                settled = delta <= 0.25 and abs(val) > 2 * err and float(val - 2 * err) == float(val + 2 * err)
                if settled or prec >= MP_CAP:
                    # mpfr_get_d: one correct rounding, subnormals included
                    return float(val), (1.0 if s > 0 else -1.0)
            elif prec >= MP_CAP:
                return -np.inf, 0.0
        prec *= 2
