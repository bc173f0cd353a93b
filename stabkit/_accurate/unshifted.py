"""The accurate tier's rows without the shift: softmax (and, for float32
and narrower, log-softmax) of rows where no exp can overflow, from the exact
inputs, and the float32 tie-break behind a far winner.

The shift by the row maximum exists to keep ``exp`` from overflowing; where
it cannot, skipping it also skips the shift's rounding error and the passes
that correct it. Used by :mod:`stabkit.accurate` on blocks of rows; every row
takes its path by its own values alone.
"""

from __future__ import annotations

import numpy as np

from stabkit._native import rows as native

from .eft import NARROW, normalized, rowmax, rowmin, rowsum, sum2, sum_split_scaled, workspace

#: Bounds under which softmax needs no shift (see :func:`softmax_unshifted`):
#: exp(650) * 2**32 terms stays below float64's 1.8e308, and exp(-708) is
#: normal (exp(-745) is the last subnormal).
UNSHIFTED_MAX = 650.0
UNSHIFTED_MIN = -708.0


def unshifted_rows(x: np.ndarray, exact: bool) -> np.ndarray:
    """Which rows :func:`softmax_unshifted` may take (decided per row, so a
    row's result never depends on the rows beside it):

    * float64 targets (``exact``): every entry in [-708, 650] or -inf (a
      masked entry, whose term is an exact 0 either way), with a finite
      maximum: every other term is a normal float64 and the sum of up to
      2**32 of them is finite;
    * narrower targets: a maximum in [-600, 650]. Terms that underflow in
      float64 (entries below -708) then belong to probabilities below
      exp(-108) = 1e-47, which round to 0 in float32 and narrower.

    NaN and ``+inf`` fail both tests, as do rows of -inf alone: such rows
    take the shifted path, which handles them.
    """
    with np.errstate(invalid="ignore"):
        if exact:
            mn, mx = rowmin(x), rowmax(x)
            ok = (mn >= UNSHIFTED_MIN) & (mx <= UNSHIFTED_MAX)
            masked = (mn == -np.inf) & (mx >= UNSHIFTED_MIN) & (mx <= UNSHIFTED_MAX)
            if np.count_nonzero(masked):
                ok[masked] = least_unmasked(x[masked]) >= UNSHIFTED_MIN
            return ok
        m = rowmax(x)
        return (m >= -600.0) & (m <= UNSHIFTED_MAX)


def least_unmasked(x: np.ndarray) -> np.ndarray:
    """Each row's least entry other than -inf (+inf for a row of -inf alone)."""
    return rowmin(np.where(x == -np.inf, np.inf, x))


def softmax_unshifted(x: np.ndarray, exact: bool, dst: np.ndarray | None, block_rows: int) -> np.ndarray:
    """``exp(x_i) / sum_j exp(x_j)`` for rows that :func:`unshifted_rows`
    accepts, into ``dst`` when given.

    The shift by the row maximum is there to keep ``exp`` from overflowing.
    Where it cannot overflow, ``exp(x_i)`` of the exact input is as accurate as
    ``exp`` of an exactly shifted value, so neither the shift nor its TwoSum
    residual is needed: one exp, one sum (compensated for float64 targets,
    :func:`stabkit._accurate.eft.sum_split_scaled`) and one division.
    """
    n_rows, n = x.shape
    E, S1, S2 = (w[:n_rows] for w in workspace(max(n_rows, block_rows), n, 5)[1:4])
    np.exp(x, out=E, dtype=np.float64)  # float32 blocks are converted first
    out = E if dst is None else dst
    if not exact:
        # float64 working precision for a narrower target: the plain sum and
        # one reciprocal are accurate to ~2**-50, far below its half ulp;
        # wide rows in one compiled pass (stabkit._native.rows), the same bits
        # (a float16 dst: float64 into E, which the caller rounds once)
        fused = native.scale_rows(E, native.writable(dst)) if n > NARROW else None
        return fused if fused is not None else np.multiply(E, (1.0 / rowsum(E))[:, None], out=out)
    # terms up to exp(650): the extraction needs a sigma per row
    fused = native.softmax_sums(E, None, 0.0) if n > NARROW else None
    if fused is not None:
        # the same sums in one compiled pass (stabkit._native.rows); as
        # sum_split_scaled: normalised pairs, a plain sum where n max e is not finite
        hi, lo = normalized(*fused[:2])
        hi[~fused[2]], lo[~fused[2]] = fused[0][~fused[2]], 0.0
    else:
        hi, lo = sum_split_scaled(E, S1, S2, nonneg=True) if n > NARROW else sum2(E)
    return np.divide(E, (hi + lo)[:, None], out=out)


def below_ties(d: np.ndarray, L: np.ndarray) -> np.ndarray:
    """``d - L`` in float64 for rows of a narrower target (d = x - m exact,
    L >= 0 the row's log-sum-exp beyond its maximum as float64 gives it),
    one float64 ulp further down wherever the subtraction returned a
    negative ``d`` itself.

    ``x - m`` of two float32 values is often exactly a float32 midpoint, and
    when L is below half a float64 ulp of it (a winner ~37 or more ahead),
    ``d - L`` rounds back to d and the final rounding to float32 breaks the
    tie to even, half the time the wrong way; the exact value lies just below
    d. One ulp down settles the tie and is still far closer than float32 can
    tell apart. The exact L is positive wherever some ``d < 0`` is finite (it
    is at least ``log1p(exp(d))``), also where its float64 value is 0 (a
    winner more than 745 ahead, ``exp(d)`` below the least subnormal): so
    the step is keyed on ``d < 0``, not on the float64 L. A ``d = 0`` (a
    maximum) is left as ``-L``.
    """
    lp = d - L[:, None]
    tie = (lp == d) & (d < 0)
    if tie.any():
        lp[tie] = np.nextafter(d[tie], -np.inf)
    return lp


#: tie_rows' threshold: ``L <= span * TIE_SPAN``
TIE_SPAN = 2.0**-51


def tie_rows(span: np.ndarray, L: np.ndarray) -> np.ndarray:
    """Rows where a log-probability can come out on or above a negative
    midpoint ``d = x - m`` of the narrower format while the exact one lies
    below it: ``L <= span * TIE_SPAN`` (0 included: see :func:`below_ties`;
    ``span``, the maximum minus the minimum, is at least every |d|; inf with
    masked entries, which then take the careful path too). Such rows take
    :func:`below_ties` (one rounding of ``d - L``, then the step).

    ``d - L`` rounded once lands on d only for L up to half a float64 ulp
    of d. The unshifted form ``x - (m + L)`` rounds twice: ``m + L`` is off
    by up to half an ulp of m, and where d is a midpoint, ``|m| < 2|d|``
    (x and m are multiples of the finer spacing of the two, and d is not a
    multiple of its own), so by up to one ulp of d; the result is then d,
    or the float64 number above it, for L up to 1.5 ulps of d, below
    ``2**-51.4 |d|`` (a bfloat16 row [122.5, -16]: d = -138.5, L = 2e-14,
    gave -138.5 and then -138.0, where the exact value rounds to -139)."""
    with np.errstate(invalid="ignore"):
        return L <= span * TIE_SPAN


def log_softmax_unshifted(x: np.ndarray, dst: np.ndarray | None, block_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Log-softmax for narrower targets (float32 and below) without the
    shift, into ``dst`` (or a new float64 array), and the rows it settles:
    those whose maximum m is in [-600, 650] (see :func:`unshifted_rows`);
    the caller shifts the others.

    With ``E_i = exp(x_i)`` of the exact inputs and k a maximum, the winner's
    share ``s = sum_{i != k} E_i / E_k`` is accurate to ~34u (u = 2**-53: one
    per exp, 32 for NumPy's pairwise sum), so is ``L = log1p(s)``, and the
    winner gets ``-L`` (Blanchard, Higham & Higham's form: accurate at any
    gap). The others get ``x_i - (m + L)``, off by at most
    ``u |m + L| + 34u L``; as ``L + (m - x_i) >= log 2`` for every i (L is at
    least ``log1p(exp(x_i - m))``), that is below ``34u + 1.45u |m + L|``, or
    2**-43 relative for |m| <= 650. A float32 result is then the correctly
    rounded one unless the exact value lies within 2**-19 ulp of a rounding
    boundary. Masked (-inf) entries get -inf and cost nothing.
    """
    n_rows, n = x.shape
    rows = np.arange(n_rows)
    E = workspace(max(n_rows, block_rows), n, 5)[1][:n_rows]
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        top = np.argmax(x, axis=-1)
        m = x[rows, top].astype(np.float64)
        ok = (m >= -600.0) & (m <= UNSHIFTED_MAX)
        np.exp(x, out=E, dtype=np.float64)
        winner = E[rows, top]
        E[rows, top] = 0.0
        L = np.log1p(rowsum(E) / winner)
        # float32 rows: the differences, the winners' -L and the row minima
        # in one compiled pass (stabkit._native.rows), the same bits
        fused = native.log_softmax32(x, m + L, L, top, dst)
        if fused is None:
            # float16 and bfloat16 rows (float64 here): the differences in
            # one compiled pass, the same bits (a float16 dst: float64, which
            # the caller rounds once)
            out = native.minus_rows(x, m + L, native.writable(dst))
            if out is None:
                out = np.subtract(x, (m + L)[:, None], out=np.empty(x.shape) if dst is None else dst, dtype=np.float64)
            out[rows, top] = -L
            mn = rowmin(x)
        else:
            out, mn = fused
        tied = tie_rows(m - mn, L) & ok
        if tied.any():
            # m + L rounds to m there: x - m, ties settled (see below_ties);
            # the winner's -L (d = 0: below_ties leaves d - L)
            out[tied] = below_ties(np.subtract(x[tied], m[tied, None], dtype=np.float64), L[tied])
            out[rows[tied], top[tied]] = -L[tied]
    return out, ok
