"""Double-double exp and log (stabkit._accurate.double_double) against mpmath, and the logsumexp
rows that need them."""

from __future__ import annotations

import mpmath
import numpy as np
import pytest
from helpers.numerics import errors

from stabkit._accurate import double_double as _dd


def _rel_err(hi, lo, exact):
    with mpmath.workprec(400):
        return max(float(abs((mpmath.mpf(h) + mpmath.mpf(l) - e) / e)) for h, l, e in zip(hi, lo, exact))


def test_exp_is_accurate_to_2_to_the_minus_100():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.uniform(-650, 0, 400), -(10.0 ** rng.uniform(-20, 0, 100)), [0.0, -1e-300]])
    xl = x * rng.uniform(-1e-16, 1e-16, x.size)
    hi, lo = _dd.exp(x, xl)
    with mpmath.workprec(400):
        exact = [mpmath.exp(mpmath.mpf(a) + mpmath.mpf(b)) for a, b in zip(x, xl)]
    assert _rel_err(hi, lo, exact) < 2.0**-100
    assert np.all(_dd.exp(np.array([-800.0]), np.array([0.0]))[0] == 0.0)


def test_log_is_accurate_to_2_to_the_minus_100():
    rng = np.random.default_rng(1)
    s = np.exp(rng.uniform(-40, 9, 400))
    sl = s * rng.uniform(-1e-17, 1e-17, s.size)
    hi, lo = _dd.log(s, sl)
    with mpmath.workprec(400):
        exact = [mpmath.log(mpmath.mpf(a) + mpmath.mpf(b)) for a, b in zip(s, sl)]
    assert _rel_err(hi, lo, exact) < 2.0**-95


@pytest.mark.parametrize("fmt", ["float64", "float32"])
@pytest.mark.parametrize("kind", ["log-probabilities", "negative logits"])
def test_cancelling_logsumexp_rows(fmt, kind):
    # both kinds make m + log1p(s) cancel: float32 negative logits go through
    # double-double, log-probability rows (logsumexp ~ 1e-17) through
    # stabkit._accurate.near_zero's exact sums
    rng = np.random.default_rng(2)
    if kind == "log-probabilities":
        x = np.log(rng.dirichlet(np.ones(7), size=60))
    else:
        x = rng.normal(size=(60, 7)) - np.log(7) + rng.uniform(-1, 1, size=(60, 1))
    e, f, _, ref = errors("logsumexp", "accurate", x.astype(fmt))
    assert not f.any()
    assert np.max(e) <= (1.0 if fmt == "float64" else 0.5 + 1e-6)
