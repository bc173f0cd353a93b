"""The accurate losses' smoothed and weighted targets rounded once
(stabkit/_accurate/targets64.py), and what that closes:

* float64 losses with label smoothing, class or positive-class weights and a
  sample weight together were 4.15-4.98 ulp off (past the 4-ulp contract):
  the targets' five roundings stacked onto the loss's own, and a sample
  weight that moves the result to the top of its binade doubles a relative
  error counted in ulps. The search below puts the sample weight there on
  purpose;
* a target below 2**-1022 (a class or positive-class weight of ~1e-310, or
  ``label_smoothing=5e-324``, whose ``ls / k`` rounds to 0) kept a
  subnormal's bits, which a large logit or sample weight carried into a
  normal loss (229 ulp, 28 ulp, 4.6e15 ulp, or 0 for a loss of 1.7e-21).

References: mpmath, 3000 bits where subnormals meet 1 in one sum."""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest

from helpers.numerics import ulps
from stabkit import accurate
from stabkit._accurate import targets64

_MP = mpmath.MPContext()
_MP.prec = 3000


def _mp(v):
    return _MP.mpf(float(v))


def _ulps_parts(frac, e, exact) -> float:
    """ulps of ``frac 2**e`` against ``exact`` in a float64 of unbounded
    exponent (the target's rounding, before any subnormal one)."""
    if exact == 0:
        return 0.0 if frac == 0 else math.inf
    got = _MP.ldexp(_mp(frac), int(e))
    top = int(_MP.floor(_MP.log(abs(exact), 2)))
    return float(abs(got - exact) / _MP.mpf(2) ** (top - 52))


_YS = [0.0, 1.0, 0.3, 0.7, 1 - 2**-53, 2**-53, 5e-324, 1e-310, 2.5e-300, 0.5, 0.1]
_LS = [0.0, 0.1, 5e-324, 1e-310, 2**-1000, 0.3, 1 - 2**-53, 1.0, 0.017429587344166303]
_WS = [None, 1.0, 3.7, 1e-310, 3e-300, 1e300, 1.7e308, 0.0]


@pytest.mark.parametrize("k", [2, 3, 10, 1000])
def test_targets_are_rounded_once(k):
    """``w (y (1 - ls) + ls / k)`` and the binary ``1 - y'`` within half an
    ulp (of an unbounded exponent) on every combination of the extremes:
    subnormal labels, ``ls = 5e-324`` (``ls / 2`` is 0 in float64), ``1 -
    2**-53``, weights from 1e-310 to the largest float64."""
    for y in _YS:
        for ls in _LS:
            for w in _WS:
                f, e = targets64.parts(np.array([y]), np.array([0.0]), ls, k, None if w is None else np.array([w]))
                exact = (1 if w is None else _mp(w)) * (_mp(y) * (1 - _mp(ls)) + _mp(ls) / k)
                assert _ulps_parts(f[0], e[0], exact) <= 0.5, (y, ls, w, k)
            if k == 2:
                (_, _), (fb, eb) = targets64.binary_parts(np.array([y]), ls, None)
                exact = 1 - (_mp(y) * (1 - _mp(ls)) + _mp(ls) / 2)
                assert _ulps_parts(fb[0], eb[0], exact) <= 0.5, (y, ls)


def test_tiny_flags_what_lost_bits():
    """``lost`` marks targets below 2**-1022 that lost bits, the ones whose
    float64 value rounded to 0 included, and nothing else."""
    f, e = targets64.parts(np.array([0.3, 0.3, 0.0, 0.0, 1.0]), np.zeros(5), 0.0, 2,
                           np.array([1e-310, 1.0, 5.0, 1e-308, 2.0**-1022]))
    assert targets64.lost(f, e).tolist() == [True, False, False, False, False]
    (fa, ea), (fb, eb) = targets64.binary_parts(np.array([0.0, 1.0]), 5e-324, np.array([1e300, 1.0]))
    assert targets64.value(fa, ea)[0] == pytest.approx(2.5e-324 * 1e300, rel=1e-15)
    assert targets64.lost(fa, ea).tolist() == [False, False]
    assert targets64.lost(fb, eb).tolist() == [False, True]  # 1 - y' = ls / 2 for y = 1


def test_odd_weights_give_the_plain_products():
    f, e = targets64.parts(np.array([np.nan, 0.5, 0.0, 0.5]), np.zeros(4), 0.0, 2,
                           np.array([1.0, np.inf, np.inf, np.nan]))
    v = targets64.value(f, e)
    assert np.isnan(v[0]) and v[1] == np.inf and np.isnan(v[2]) and np.isnan(v[3])


# ------------------------------------------------------------ losses with every option


def _bce(y, v, ls, w, s, logits):
    yp = _mp(y) * (1 - _mp(ls)) + _mp(ls) / 2
    if logits:
        sp = lambda x: _MP.log1p(_MP.exp(x))  # noqa: E731
        return _mp(s) * (_mp(w) * yp * sp(-_mp(v)) + (1 - yp) * sp(_mp(v)))
    return -_mp(s) * (_mp(w) * yp * _MP.log(_mp(v)) + (1 - yp) * _MP.log1p(-_mp(v)))


def _cce(t, x, ls, cw, s, logits):
    n = len(x)
    xs = [_mp(v) for v in x]
    if logits:
        L = _MP.log(_MP.fsum(_MP.exp(v) for v in xs))
        lp = [v - L for v in xs]
    else:
        S = _MP.fsum(xs)
        lp = [_MP.log(v / S) for v in xs]
    tt = [(1 if cw is None else _mp(cw[j])) * (_mp(t[j]) * (1 - _mp(ls)) + _mp(ls) / n) for j in range(n)]
    return -_mp(s) * _MP.fsum(tt[j] * lp[j] for j in range(n))


def test_the_reproducers():
    """The binary loss from probabilities (4.98 ulp before) and the
    categorical one from logits (4.15) with smoothing, weights and a sample
    weight, both now inside the contract with room."""
    y, p = float.fromhex("0x1.349c799e2f72cp-1"), float.fromhex("0x1.31d1faa15d214p-12")
    w, s = float.fromhex("0x1.b5e4b565c0827p+1"), float.fromhex("0x1.f0098565899ecp+1")
    got = accurate.binary_crossentropy([[y]], [[p]], from_logits=False, label_smoothing=0.1, pos_weight=[[w]],
                                       sample_weight=[[s]])[0, 0]
    assert ulps(got, _bce(y, p, 0.1, w, s, False)) <= 3.0
    t, x = [0.9395280103239515, 0.060471989676048526], [2.890216749546961, -5.833976713839787]
    ls, cw, s = 0.017429587344166303, [1.8256707628741813, 4.383424284115588], 1.5350088299835256
    got = accurate.categorical_crossentropy(np.array([t]), np.array([x]), from_logits=True, label_smoothing=ls,
                                            class_weight=cw, sample_weight=[s])[0]
    assert ulps(got, _cce(t, x, ls, cw, s, True)) <= 3.5


def _top_of_binade(loss0: float, rng) -> float:
    """A sample weight in [1.4, 7.7] putting ``loss0 s`` just below a power of
    two, where an error relative to the loss counts the most ulps."""
    for up in range(1, 4):
        s = 2.0 ** (math.floor(math.log2(loss0 * 1.4)) + up) * (1 - 2.0**-40) / loss0
        if 1.4 <= s <= 7.7:
            return s
    return float(rng.uniform(1.4, 7.7))


def test_every_option_together_stays_inside_four_ulp():
    """The outside search's regime (smoothing 0.001-0.3, weights 1-10, sample
    weights 1.4-7.7), with each sample weight chosen to put the result at
    the top of its binade: all three losses, from logits and probabilities.
    Before targets64 this search found 4.15 and 4.35 ulp in 6,000 draws."""
    rng = np.random.default_rng(20261206)
    worst = 0.0
    for _ in range(150):
        ls, w = float(10 ** rng.uniform(-3, math.log10(0.3))), float(rng.uniform(1, 10))
        y = float(rng.random())
        for logits, v in ((True, float(rng.normal(0, 4))), (False, float(rng.random()))):
            def f(**k):
                return accurate.binary_crossentropy(np.array([y]), np.array([v]), from_logits=logits,
                                                    label_smoothing=ls, pos_weight=[w], **k)[0]
            s = _top_of_binade(f(), rng)
            worst = max(worst, ulps(f(sample_weight=[s]), _bce(y, v, ls, w, s, logits)))
        n = int(rng.integers(2, 12))
        x, cw = rng.normal(0, 3, n), rng.uniform(1, 10, n)
        lab = int(rng.integers(n))
        t = rng.dirichlet(np.ones(n)) if rng.random() < 0.5 else np.eye(n)[lab]
        for logits in (True, False):
            xin = x if logits else np.exp(x - x.max()) / np.exp(x - x.max()).sum()
            for sparse in (False, True):
                tt = np.eye(n)[lab] if sparse else t

                def g(**k):
                    if sparse:
                        return accurate.sparse_categorical_crossentropy(np.array([lab]), xin[None], from_logits=logits,
                                                                        label_smoothing=ls, class_weight=cw, **k)[0]
                    return accurate.categorical_crossentropy(tt[None], xin[None], from_logits=logits,
                                                             label_smoothing=ls, class_weight=cw, **k)[0]
                s = _top_of_binade(g(), rng)
                worst = max(worst, ulps(g(sample_weight=[s]), _cce(tt, xin, ls, cw, s, logits)))
    assert worst <= 4.0


# ------------------------------------------------------------ targets below float64's normal range


@pytest.mark.parametrize("dtype, w", [(np.float64, 1e-310), (np.float32, 1e-320)])
def test_tiny_positive_weight_under_a_large_logit(dtype, w):
    """A ``pos_weight`` of 1e-310 times 0.3 is subnormal (3e-311, ~40 bits),
    and 1e-320 times 0.3 keeps ~10 bits; a logit of -1e300 (float64), or
    -3e38 and a sample weight of 1e300 (float32), make the loss normal: 229
    ulp and 4,314 float32 ulp off before."""
    z, s = (-1e300, 1.0) if dtype == np.float64 else (-3e38, 1e300)
    got = accurate.binary_crossentropy(np.array([0.3], dtype), np.array([z], dtype), from_logits=True,
                                       pos_weight=[w], sample_weight=[s])[0]
    exact = _bce(float(dtype(0.3)), float(dtype(z)), 0.0, w, s, True)
    assert ulps(got, exact, dtype) <= (1.0 if dtype == np.float32 else 4.0)


def test_tiny_weights_from_probabilities():
    """The same subnormal target on a probability, lifted by a sample weight."""
    for y, p, w, s in [(0.3, 1e-300, 1e-310, 1e300), (0.7, 0.25, 3e-310, 1e308), (0.1, 0.5, 1e-320, 1e300)]:
        got = accurate.binary_crossentropy(np.array([y]), np.array([p]), pos_weight=[w], sample_weight=[s])[0]
        assert ulps(got, _bce(y, p, 0.0, w, s, False)) <= 4.0, (y, p, w, s)


def test_smallest_label_smoothing():
    """``label_smoothing=5e-324``: ``ls / 2`` and ``ls / 3`` round to 0 in
    float64, yet under a positive-class weight of 1e300, or against logits of
    -1e300, they are the whole loss (it came out 0 or 4.6e15 ulp off)."""
    got = accurate.binary_crossentropy(np.array([0.0]), np.array([-700.0]), from_logits=True,
                                       label_smoothing=5e-324, pos_weight=[1e300])[0]
    assert ulps(got, _bce(0.0, -700.0, 5e-324, 1e300, 1.0, True)) <= 4.0
    got = accurate.binary_crossentropy(np.array([0.0]), np.array([0.25]), label_smoothing=5e-324,
                                       pos_weight=[1e300])[0]
    assert ulps(got, _bce(0.0, 0.25, 5e-324, 1e300, 1.0, False)) <= 4.0
    t, x = [1.0, 0.0, 0.0], [1e300, -1e300, -1e300]
    for s in (1.0, 1e300):
        got = accurate.categorical_crossentropy(np.array([t]), np.array([x]), from_logits=True,
                                                label_smoothing=5e-324, sample_weight=[s])[0]
        assert got > 0 and ulps(got, _cce(t, x, 5e-324, None, s, True)) <= 4.0
        got = accurate.sparse_categorical_crossentropy(np.array([0]), np.array([x]), from_logits=True,
                                                       label_smoothing=5e-324, sample_weight=[s])[0]
        assert got > 0 and ulps(got, _cce(t, x, 5e-324, None, s, True)) <= 4.0


def test_tiny_class_weights():
    """Class weights of 1e-310 and 1e-300 make smoothed or soft targets
    subnormal; a logit of -1e300 or a sample weight of 1e300 lifts them:
    0.94 and 28 ulp off before (from logits and from probabilities)."""
    cases = [([0.3, 0.7, 0.0], [-1e300, -1e300, 0.0], 0.0, [1e-310] * 3, 1.0),
             ([0.3, 0.7, 0.0], [-3.0, -2.0, 1.0], 0.0, [1e-310, 1e-310, 1.0], 1e300),
             ([0.3, 0.7, 0.0], [-3.0, -2.0, 1.0], 0.1, [1e-300, 1e-300, 1e-300], 1e300)]
    for t, x, ls, cw, s in cases:
        got = accurate.categorical_crossentropy(np.array([t]), np.array([x]), from_logits=True, label_smoothing=ls,
                                                class_weight=cw, sample_weight=[s])[0]
        assert ulps(got, _cce(t, x, ls, cw, s, True)) <= 4.0, (t, x, ls, cw, s)
        if min(x) > -1000:
            p = np.exp(np.array(x) - max(x))
            p /= p.sum()
            got = accurate.categorical_crossentropy(np.array([t]), p[None], label_smoothing=ls, class_weight=cw,
                                                    sample_weight=[s])[0]
            assert ulps(got, _cce(t, p, ls, cw, s, False)) <= 4.0, (t, ls, cw, s)


def test_the_fast_targets_are_rounded_once():
    """``binary_weights64`` and ``categorical_targets64`` (the losses' own
    path: no scaling, the few entries near the ends from ``parts``) on
    random and extreme labels, smoothings and weights: half an ulp (one ulp
    of the subnormal spacing where the target is subnormal: two roundings,
    and ``tiny`` sends those to the tails)."""
    rng = np.random.default_rng(7)
    ys = np.concatenate([rng.random(300), _YS, 1 - rng.random(50) * 2.0**-40, rng.random(50) * 1e-305])
    for ls in [0.1, 0.3, 0.001, 1 - 2**-53, 5e-324, 2**-1000, float(rng.random())]:
        for w in [None, rng.uniform(1, 10, ys.size), np.full(ys.size, 1e-310), np.full(ys.size, 1.7e308),
                  rng.choice([0.0, 1.0, 3e-300, 1e300], ys.size)]:
            a, b = targets64.binary_weights64(ys, ls, w)
            for i in range(ys.size):
                yp = _mp(ys[i]) * (1 - _mp(ls)) + _mp(ls) / 2
                exact = (1 if w is None else _mp(w[i])) * yp
                # a subnormal target: the mantissa's rounding, then the subnormal one
                bound = 0.5 if abs(exact) >= _MP.mpf(2) ** -1022 else 1.0
                assert ulps(a[i], exact) <= bound, (ys[i], ls, None if w is None else w[i])
                assert ulps(b[i], 1 - yp) <= 0.5, (ys[i], ls)
    y = rng.dirichlet(np.ones(7), 40)
    cw = rng.uniform(0.5, 8, 7)
    t = targets64.categorical_targets64(y, 0.1, cw)
    for i, j in np.ndindex(y.shape):
        assert ulps(t[i, j], _mp(cw[j]) * (_mp(y[i, j]) * (1 - _mp(0.1)) + _mp(0.1) / 7)) <= 0.5


# ------------------------------------------------------------ what an outside probe of the change found


def test_huge_and_infinite_weights_give_the_plain_products():
    """A zero label under a pos_weight past 2**996 (whose split overflows)
    gave NaN for softplus(z); infinite pos_weight or class weights gave NaN
    for inf (the split of inf is NaN)."""
    from stabkit import stable

    for logits, v in ((True, 0.5), (False, 0.25)):
        got = accurate.binary_crossentropy([0.0], [v], from_logits=logits, pos_weight=1e301)
        assert got[0] == pytest.approx(stable.binary_crossentropy([0.0], [v], from_logits=logits)[0], rel=1e-15)
        assert accurate.binary_crossentropy([0.3], [v], from_logits=logits, pos_weight=np.inf)[0] == np.inf
        got = accurate.binary_crossentropy([0.0], [v], from_logits=logits, pos_weight=np.inf, label_smoothing=0.1)
        assert got[0] == np.inf
    assert np.isnan(accurate.binary_crossentropy([0.0], [0.5], from_logits=True, pos_weight=np.inf)[0])  # 0 inf
    x = [[0.5, 0.2]]
    assert accurate.categorical_crossentropy([[1.0, 0.0]], x, from_logits=True, class_weight=[np.inf, 1],
                                             label_smoothing=0.1)[0] == np.inf
    assert accurate.sparse_categorical_crossentropy([0], x, from_logits=True, class_weight=[np.inf, 1],
                                                    label_smoothing=0.1)[0] == np.inf


def test_infinite_sample_weights_in_the_tail():
    """Entries the binary tail forms again (a tiny target, a logit past 700)
    under an infinite sample weight: inf, as the plain product (was NaN)."""
    cases = [([0.0], [0.5], dict(label_smoothing=5e-324)), ([0.5], [0.5], dict(pos_weight=1e-310)),
             ([0.5], [800.0], {})]
    for y, z, kw in cases:
        assert accurate.binary_crossentropy(y, z, from_logits=True, sample_weight=[np.inf], **kw)[0] == np.inf


def test_one_row_with_tiny_targets():
    """1-d rows (one sample) whose targets may be tiny: the tail's row
    lookup raised on the 0-d row shape."""
    x, p = [0.2, 0.5, 0.3], [0.2, 0.5, 0.3]
    exact_logits = float(_cce([0.0, 1.0, 0.0], x, 0.0, None, 1.0, True))
    assert accurate.categorical_crossentropy([0.0, 1.0, 0.0], x, from_logits=True,
                                             label_smoothing=5e-324) == pytest.approx(exact_logits, rel=1e-15)
    assert accurate.sparse_categorical_crossentropy(1, x, from_logits=True,
                                                    label_smoothing=5e-324) == pytest.approx(exact_logits, rel=1e-15)
    assert accurate.categorical_crossentropy([0.0, 1.0, 0.0], p, label_smoothing=5e-324) == pytest.approx(np.log(2))
    got = accurate.categorical_crossentropy([0.0, 1.0, 0.0], p, class_weight=[1, 1e-310, 1])
    assert ulps(got, _cce([0.0, 1.0, 0.0], p, 0.0, [1, 1e-310, 1], 1.0, False)) <= 1.0


def test_exact_subnormal_targets_stay_on_the_fast_path(monkeypatch):
    """Soft labels with subnormal entries under class weights of 1, and a
    one-hot row's class weight of 1e-310, are exact targets: no row goes
    to MPFR (every such row did, 200x slower), and the losses hold."""
    from stabkit._accurate import rowtail

    sent = []
    real = rowtail._logit_rows_mp
    monkeypatch.setattr(rowtail, "_logit_rows_mp", lambda x, t, s: (sent.append(len(x)), real(x, t, s))[1])
    rng = np.random.default_rng(3)
    z = 300 * rng.normal(size=(400, 10))
    y = np.exp(z - z.max(axis=1, keepdims=True))
    y /= y.sum(axis=1, keepdims=True)
    assert (y[(y > 0)] < 2.0**-1022).any()
    x = rng.normal(0, 3, (400, 10))
    got = accurate.categorical_crossentropy(y, x, from_logits=True, class_weight=np.ones(10))
    assert np.array_equal(got, accurate.categorical_crossentropy(y, x, from_logits=True))
    cw = np.ones(10)
    cw[3] = 1e-310
    hot = np.eye(10)[rng.integers(0, 10, 400)]
    got = accurate.categorical_crossentropy(hot, x, from_logits=True, class_weight=cw)
    for i in range(0, 400, 37):
        assert ulps(got[i], _cce(hot[i], x[i], 0.0, cw, 1.0, True)) <= 4.0
    assert sum(sent) == 0


def test_a_lost_target_on_an_infinite_softplus():
    """A nonzero target that rounded to 0 (label_smoothing=5e-324) on a logit
    of -inf or a probability of 0: the exact loss is inf (was 0)."""
    assert accurate.binary_crossentropy([0.0], [-np.inf], from_logits=True, label_smoothing=5e-324)[0] == np.inf
    assert accurate.binary_crossentropy([0.0], [0.0], label_smoothing=5e-324)[0] == np.inf
    assert accurate.binary_crossentropy([1.0], [np.inf], from_logits=True, label_smoothing=5e-324)[0] == np.inf


def test_a_lost_target_on_a_masked_class_is_infinite():
    """``label_smoothing=5e-324`` puts ``ls / 3`` (0 in float64) on a class
    whose logit is -inf (probability 0): the exact loss is +inf, which came
    out 0.81 (the rounded target counted ``0 log 0 = 0``). A class weight of
    1e-320 times a label of 1e-5 is the same; the sample weight multiplies
    plainly (NaN for 0, as ``0 * inf``); a target that is exactly 0 there
    still counts 0."""
    x, y = np.array([[-np.inf, 0.0, 1.0]]), np.array([[0.0, 0.5, 0.5]])
    assert accurate.categorical_crossentropy(y, x, from_logits=True, label_smoothing=5e-324)[0] == np.inf
    assert accurate.sparse_categorical_crossentropy(np.array([1]), x, from_logits=True,
                                                    label_smoothing=5e-324)[0] == np.inf
    got = accurate.categorical_crossentropy(np.vstack([y, y]), np.vstack([x, x]), from_logits=True,
                                            label_smoothing=5e-324, sample_weight=[1e300, 0.0])
    assert got[0] == np.inf and np.isnan(got[1])
    assert accurate.categorical_crossentropy(y, np.array([[0.0, 0.5, 0.5]]), label_smoothing=5e-324)[0] == np.inf
    t = np.array([[1e-5, 0.5, 0.5 - 1e-5]])
    assert accurate.categorical_crossentropy(t, x, from_logits=True, class_weight=[1e-320, 1.0, 1.0])[0] == np.inf
    finite = accurate.categorical_crossentropy(y, x, from_logits=True, class_weight=[1e-320, 1.0, 1.0])[0]
    assert ulps(finite, _cce([0.0, 0.5, 0.5], [-1e308, 0.0, 1.0], 0.0, None, 1.0, True)) <= 1.0
