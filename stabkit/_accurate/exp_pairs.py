"""``exp(x - m)`` as double-double pairs within 2**-77.9 of themselves, in
NumPy: the operations of the C ``exp_term`` (``_native/_exp_term.h``, whose
header derives the bound and whose tests measure it against MPFR), in the
same order, so the same bits (tests/test_exp_pairs.py compares them). The
weighted logsumexp's NumPy steps use it where float64's ``exp`` is too
coarse for Ziv's test and the double-double ``exp`` of
:mod:`.double_double` (2**-90, ~0.7 us an entry) more than needed.

For ``x - m`` in [-200, 177] (outside: junk, which the caller masks; below
-200 the pair is 0): ``x - m = ah + al`` by TwoSum; ``k = round(ah 128 /
ln 2)``; ``r = ah - k ln2/128`` with ln2/128 in three pieces (the first two
products exact: 37 and 36 bits against ``|k| < 2**15``), ``r = rh + rl``;
``exp(r) - 1 = rh + rh**2/2 + rh**3 Q(rh) + rl exp(rh)`` with ``rh**2``
exact (Dekker) and Q Taylor's to degree 5; then ``2**(i/128) (1 + v)`` with
the table's pair for ``i = k mod 128`` and Dekker's product, scaled by
``2**floor(k/128)``.
"""

from __future__ import annotations

import mpmath
import numpy as np

C1 = float.fromhex("0x1.62e42fefa0000p-8")
C2 = float.fromhex("0x1.cf79abc9e0000p-47")
C3 = float.fromhex("0x1.d9cc01f97b57ap-86")
INV = float.fromhex("0x1.71547652b82fep+7")  # 128 / ln2
SHIFT = float.fromhex("0x1.8p52")
SPLIT = 134217729.0  # 2**27 + 1


def _table() -> tuple[np.ndarray, np.ndarray]:
    """2**(i/128) = hi + lo, correctly rounded pairs (a private mpmath
    context: the caller's precision is left alone)."""
    mp = mpmath.MPContext()
    mp.prec = 200
    hi, lo = np.empty(128), np.empty(128)
    for i in range(128):
        v = mp.power(2, mp.mpf(i) / 128)
        hi[i] = float(v)
        lo[i] = float(v - mp.mpf(hi[i]))
    return hi, lo


TABLE_HI, TABLE_LO = _table()
_SHIFT_BITS = np.float64(SHIFT).view(np.int64)


def exp_pairs(x: np.ndarray, m) -> tuple[np.ndarray, np.ndarray]:
    """``exp(x - m)`` as ``(hi, lo)`` (unnormalised), float64 arrays of
    ``x``'s broadcast shape with ``m``; 0 where ``x - m < -200``."""
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        ah = x - m
        bb = ah - x
        al = (x - (ah - bb)) + (-m - bb)
        live = ah >= -200.0
        ah = np.where(live, ah, 0.0)
        al = np.where(live, al, 0.0)
        t = ah * INV + SHIFT
        k = t - SHIFT
        # exact: k C1 has at most 52 bits, and ah lies within a factor 2 of it
        r1 = ah - k * C1
        kc2 = -(k * C2)
        rh = r1 + kc2
        bb = rh - r1
        rl = (r1 - (rh - bb)) + (kc2 - bb)
        rl = rl + (al - k * C3)
        # rh**2 = P + Pe exactly (Dekker: rh's halves of 26 and 27 bits)
        c = SPLIT * rh
        sh = c - (c - rh)
        sl = rh - sh
        P = rh * rh
        Pe = ((sh * sh - P) + 2.0 * sh * sl) + sl * sl
        q = np.full_like(rh, 1.0 / 40320.0)
        for coef in (1.0 / 5040.0, 1.0 / 720.0, 1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0):
            q = q * rh + coef
        tail = rh * P * q
        # v = exp(r) - 1: Fast2Sum of rh and P/2, then the small parts
        vh = rh + 0.5 * P
        vl0 = 0.5 * P - (vh - rh)
        vl = vl0 + (0.5 * Pe + (tail + rl * (1.0 + (vh + tail))))
        # the table's index and 2**e from t's low bits (k biased positive)
        kb = t.view(np.int64) - _SHIFT_BITS + (1 << 22)
        i = kb & 127
        sbits = ((kb >> 7) - (1 << 15) + 1023) << 52
        scale = np.where(live, sbits.view(np.float64), 0.0)
        Th, Tl = TABLE_HI[i], TABLE_LO[i]
        # Th vh = p + pe exactly (Dekker)
        ct = SPLIT * Th
        th = ct - (ct - Th)
        tl = Th - th
        cv = SPLIT * vh
        v1 = cv - (cv - vh)
        v2 = vh - v1
        p = Th * vh
        pe = ((th * v1 - p) + th * v2 + tl * v1) + tl * v2
        # Fast2Sum: |Th| > |p|
        uh = Th + p
        ul = (p - (uh - Th)) + (pe + (Th * vl + Tl * (1.0 + vh)))
        return uh * scale, ul * scale
