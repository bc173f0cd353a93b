"""The exact weighted logsumexp for the tests of stabkit's (mpmath)."""

from __future__ import annotations

import mpmath
import numpy as np


def exact_lse(x, b, prec: int = 2400):
    """``(log|S|, sign S)`` of ``S = sum b_i exp(x_i)`` in mpmath at ``prec``
    bits; the weights of equal ``x`` added first (exactly: float64s span at
    most 2098 bits), so that an exact cancellation gives ``(-inf, 0)``."""
    groups: dict[float, list] = {}
    for xi, bi in zip(np.asarray(x, np.float64).ravel().tolist(), np.asarray(b, np.float64).ravel().tolist()):
        if bi != 0:
            groups.setdefault(xi, []).append(mpmath.mpf(bi))
    with mpmath.workprec(prec):
        s = mpmath.fsum(mpmath.fsum(w) * mpmath.exp(mpmath.mpf(v)) for v, w in groups.items())
        if s == 0:
            return mpmath.mpf("-inf"), 0.0
        return mpmath.log(abs(s)), (1.0 if s > 0 else -1.0)
