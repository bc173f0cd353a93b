"""The accurate tier's contract over the adversarial families (issue 13).

An outside audit found float64 inputs where the accurate tier breaks its
contract and that the project's own samplers never produced: a winner over
many (nearly) equal losers, log-probability rows whose logsumexp cancels to
1e-300, float64 sigmoid in [-10, 0], and finite logits at +-max with soft
labels. The families in ``helpers.numerics.family_cases`` (built on
``stabkit.sampling``) reach them on their own; these tests run the accurate
tier over them against ``stabkit.reference.reference`` and assert the
contract:

* float64: <= 2 ulp for sigmoid, log_sigmoid and softplus, <= 4 ulp for the
  row-wise functions and the losses (rows of up to 10**4 entries);
* float16, bfloat16, float32: < 1 ulp;
* no NaN or infinity where the exact value is finite, and every reference
  settled.

The default run takes the small sizes; ``-m slow`` adds rows of 10**4 entries
and denser sweeps.
"""

import numpy as np
import pytest
from helpers.numerics import (
    cancelling_logprob_rows,
    contract_violations,
    dense_regime_inputs,
    extreme_logit_rows,
    family_cases,
    winner_over_losers,
)

from stabkit.floats import FORMATS
from stabkit.reference import reference
from stabkit.analysis.sampling import loser_mass_cutoffs

ELEMENTWISE = ("sigmoid", "log_sigmoid", "softplus", "binary_crossentropy")
ROWWISE = ("softmax", "log_softmax", "logsumexp", "sparse_categorical_crossentropy", "categorical_crossentropy")
FMTS = ("float16", "bfloat16", "float32", "float64")


def _assert_contract(fn, fmt, cases):
    msgs = []
    for family, args, kwargs in cases:
        msgs += contract_violations(fn, fmt, family, args, kwargs)[2]
    assert not msgs, f"{len(msgs)} contract violations:\n" + "\n".join(msgs)


# ------------------------------------------------------------ the generators


def test_families_are_reproducible_from_their_seed():
    for make in (winner_over_losers, cancelling_logprob_rows, extreme_logit_rows):
        a, b, c = make("float64", 17, 6, 3), make("float64", 17, 6, 3), make("float64", 17, 6, 4)
        assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert np.array_equal(dense_regime_inputs("sigmoid", "float32", 300, 1), dense_regime_inputs("sigmoid", "float32", 300, 1))


def test_dense_inputs_fill_the_float64_bands_and_both_sides_of_the_thresholds():
    x = dense_regime_inputs("sigmoid", "float64", 4000, 0)
    # bit-pattern sampling puts 1 float64 in ~600 in [-10, 0]; the bands, a tenth
    assert ((x > -10) & (x < 0)).mean() > 0.1
    for t in (2.0**-10, -(2.0**-10), 709.782712893384, -745.1332191019412):
        assert ((x > t - abs(t) / 16) & (x < t)).sum() >= 20 and ((x > t) & (x < t + abs(t) / 16)).sum() >= 20


def test_winner_rows_sweep_the_loser_mass_around_the_cut_offs():
    n = 1000
    x = winner_over_losers("float64", n, 60, 0)
    m = x.max(axis=1, keepdims=True)
    with np.errstate(under="ignore"):
        s = np.exp(x - m).sum(axis=1) - 1  # float64 is plenty to locate s
    # one winner per row, but where s reaches its cap n - 1 (gap 0: all tied)
    assert (np.sum(x == m, axis=1) == 1).mean() > 0.9
    cut = loser_mass_cutoffs(n)[0]
    assert ((s > cut / 8) & (s < cut * 16)).sum() >= 3
    assert s.min() < 1e-10 and s.max() > 10
    # two rows in three have exactly equal losers
    equal = [np.unique(np.delete(r, np.argmax(r))).size == 1 for r in x]
    assert 0.5 < np.mean(equal) < 0.8


@pytest.mark.parametrize("fmt", ["float64", "float32"])
def test_cancelling_rows_have_a_tiny_exact_logsumexp(fmt):
    x = cancelling_logprob_rows(fmt, 3, 40, 5)
    ref = reference("logsumexp", x)
    p = FORMATS[fmt].precision
    # a = log1p(-S) moved by up to 2 ulps: logsumexp = log(exp(a) + S) is within
    # (2 + 1/2) ulp(a) <= 5 * 2**-p |a| of 0, and |a| is at most the row's largest |x|
    a = np.abs(x.astype(np.float64)).max(axis=1)
    assert np.all(np.abs(ref.hi) <= 5.01 * 2.0**-p * a)
    if fmt == "float64":
        assert np.abs(ref.hi).min() < 1e-250 and np.abs(ref.hi).max() > 1e-40


def test_extreme_rows_reach_the_format_range():
    x = extreme_logit_rows("float32", 3, 20, 0).astype(np.float64)
    assert np.all(np.isfinite(x)) and np.all(np.abs(x).max(axis=1) == FORMATS["float32"].max)


# ------------------------------------------------------------ the contract


@pytest.mark.parametrize("fmt", ["float32", "float64"])
@pytest.mark.parametrize("fn", ELEMENTWISE)
def test_elementwise_families(fn, fmt):
    # 16-bit formats are checked exhaustively in test_elementwise.py
    _assert_contract(fn, fmt, family_cases(fn, fmt, seed=0))


@pytest.mark.parametrize("fmt", FMTS)
@pytest.mark.parametrize("fn", ROWWISE)
def test_rowwise_families(fn, fmt):
    _assert_contract(fn, fmt, family_cases(fn, fmt, seed=0))


def _many_losers():
    x = np.full((1, 10000), -17.77)
    x[0, 0] = 0.0
    return (x,)


_BIG = np.finfo(np.float64).max


@pytest.mark.parametrize("fn, args, kwargs", [
    # the audit's cases, one per family; the generators above reach each of
    # them on their own, these pin the published ones
    ("logsumexp", _many_losers(), {}),  # 23,632 ulp before the fix
    ("logsumexp", (np.array([[-1e-40, -92.10340371976183]]),), {}),  # exact -1.5e-55, not 0
    ("categorical_crossentropy", (np.full((1, 3), 1 / 3), np.array([[_BIG, -_BIG, 0.0]])), {"from_logits": True}),  # exact 1.8e308, not inf
], ids=["many-losers", "cancelling", "extreme"])
def test_audit_cases(fn, args, kwargs):
    _assert_contract(fn, "float64", [("audit", args, kwargs)])


@pytest.mark.slow
@pytest.mark.parametrize("fn", ("sigmoid", "log_sigmoid", "softplus", "binary_crossentropy") + ROWWISE)
def test_float64_families_dense(fn):
    # four times the rows, other seeds, and two winner rows of 10**4 entries
    for seed in (1, 2):
        _assert_contract(fn, "float64", family_cases(fn, "float64", seed=seed, scale=4, long_rows=2))
