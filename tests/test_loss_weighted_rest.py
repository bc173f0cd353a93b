"""Weighted float64 categorical and sparse losses from logits
(stabkit/_accurate/rowrest.py, stabkit/_native/_ce_rest.h).

A row's float64 loss carries a few roundings (the log-softmax's two, the
product with the target, the target's own, the sum's), up to ~2 ulp where
the loss sits at the bottom of its binade. A sample weight that moves the
weighted loss to the top of its binade doubles that in ulps: 3.5-4.02 ulp
were found with smoothing, class weights and a sample weight (the float64
contract is 4). The row is now carried in double-double before the weight's
one rounding. Here: the compiled pass against its NumPy code bit for bit,
the whole losses with the extension on and off, a search that puts each
sample weight where it counts the most ulps, and the rows whose loss must
stand as the kernels gave it (NaN, masked classes, overflowing shifts)."""

from __future__ import annotations

import math
import os

import mpmath
import numpy as np
import pytest

from helpers.numerics import ulps
from stabkit import accurate
from stabkit._accurate import rowrest
from stabkit._native import rows as native_rows

_MP = mpmath.MPContext()
_MP.prec = 200


def _exact(t, x, ls, cw, s):
    """``s sum_j w_j (t_j (1 - ls) + ls / n) (lse(x) - x_j)`` in mpmath."""
    n = len(x)
    xs = [_MP.mpf(float(v)) for v in x]
    k = int(np.argmax(x))
    # lse - x_j = log1p(sum_{i != k} e^(x_i - x_k)) + (x_k - x_j): exact at any gap
    L = _MP.log1p(_MP.fsum(_MP.exp(v - xs[k]) for i, v in enumerate(xs) if i != k))
    tt = [(1 if cw is None else _MP.mpf(float(cw[j]))) * (_MP.mpf(float(t[j])) * (1 - _MP.mpf(ls)) + _MP.mpf(ls) / n)
          for j in range(n)]
    return _MP.mpf(float(s)) * _MP.fsum(tt[j] * (L + (xs[k] - xs[j])) for j in range(n))


def _top_of_binade(loss0: float, rng) -> float:
    """A weight in [1.4, 7.7] putting ``loss0 s`` just below a power of two."""
    for up in range(1, 4):
        s = 2.0 ** (math.floor(math.log2(loss0 * 1.4)) + up) * (1 - 2.0**-40) / loss0
        if 1.4 <= s <= 7.7:
            return s
    return float(rng.uniform(1.4, 7.7))


def _loss(sparse, lab, t, x, ls, cw, **k):
    if sparse:
        return accurate.sparse_categorical_crossentropy(np.array([lab]), x[None], from_logits=True,
                                                        label_smoothing=ls, class_weight=cw, **k)[0]
    return accurate.categorical_crossentropy(t[None], x[None], from_logits=True, label_smoothing=ls,
                                             class_weight=cw, **k)[0]


@pytest.mark.parametrize("options", ["none", "smoothing", "smoothing+class"])
def test_sample_weights_at_the_top_of_the_binade(options):
    """Rows of 2 to 11 logits (standard deviations 1, 3, 10), soft and
    one-hot targets, each sample weight chosen to put the result just below
    a power of two. These draws gave 2.04 / 2.94 / 2.69 ulp before the rest
    and 1.47 / 1.13 / 1.14 with it; longer searches of the same regimes
    reached 3.1-3.5 ulp in 1,500 draws before (4.02 in 20,000), 2.3 with
    the rest in 4,000."""
    rng = np.random.default_rng({"none": 1, "smoothing": 2, "smoothing+class": 3}[options])
    worst = 0.0
    for _ in range(120):
        ls = float(10 ** rng.uniform(-3, math.log10(0.3))) if options != "none" else 0.0
        n = int(rng.integers(2, 12))
        x = rng.normal(0, float(rng.choice([1, 3, 10])), n)
        cw = rng.uniform(1, 10, n) if options == "smoothing+class" else None
        lab = int(rng.integers(n))
        t = rng.dirichlet(np.ones(n)) if rng.random() < 0.5 else np.eye(n)[lab]
        for sparse in (False, True):
            tt = np.eye(n)[lab] if sparse else t
            s = _top_of_binade(_loss(sparse, lab, t, x, ls, cw), rng)
            got = _loss(sparse, lab, t, x, ls, cw, sample_weight=[s])
            worst = max(worst, ulps(got, _exact(tt, x, ls, cw, s)))
    assert worst <= 1.9


def test_the_reproducer():
    """A sparse loss with smoothing under a sample weight: 3.48 ulp before."""
    x = np.array([float.fromhex(h) for h in REPRO_X])
    got = _loss(True, REPRO_LAB, None, x, REPRO_LS, None, sample_weight=[REPRO_S])
    assert ulps(got, _exact(np.eye(x.size)[REPRO_LAB], x, REPRO_LS, None, REPRO_S)) <= 2.0


def test_class_weight_of_the_sparse_loss():
    """The sparse loss's class weight moves the loss in its binade as a
    sample weight does (``w_y (-log p_y)`` is one product): weights chosen
    to put each result at the top of its binade (2.09 ulp before, 1.57 now)."""
    rng = np.random.default_rng(5)
    worst = 0.0
    for _ in range(150):
        n = int(rng.integers(2, 12))
        x = rng.normal(0, float(rng.choice([1, 3, 10])), n)
        lab = int(rng.integers(n))
        w = _top_of_binade(_loss(True, lab, None, x, 0.0, None), rng)
        cw = np.ones(n)
        cw[lab] = w
        got = _loss(True, lab, None, x, 0.0, cw)
        worst = max(worst, ulps(got, _exact(np.eye(n)[lab], x, 0.0, cw, 1.0)))
    assert worst <= 1.9


def _rows_with_edges(rng, shape):
    x = rng.normal(0, 5, shape)
    x[0, 0] = -np.inf  # a masked class
    x[1] = -np.inf  # nothing left: NaN
    x[2, -1] = np.nan
    x[3] = np.log(rng.dirichlet(np.ones(shape[1])))  # log-probabilities: a cancelling logsumexp
    x[4] = 0.0  # ties
    x[5, 0], x[5, 1:] = 1.8e308, -1.8e308  # a shift that overflows
    x[6] = x[6] * 1e-300  # all but equal
    x[7, 0] = x[7, 1:].max() + 800  # a winner far ahead: a subnormal loss
    return x


@pytest.mark.skipif(native_rows.library() is None, reason=f"the row kernels are off: {native_rows.status()}")
@pytest.mark.parametrize("n", [1, 2, 7, 8, 9, 15, 16, 17, 63, 64, 65, 1000])
def test_the_kernel_is_its_numpy_code(n):
    """``_ce_rest.h`` against ``rowrest.numpy_rest``: random and extreme rows,
    targets with zeros, weights from 0 to inf and NaN, three smoothings
    (NaN where one is, whatever its payload)."""
    rng = np.random.default_rng(n)
    rows = 40
    x = rng.normal(0, 5, (rows, n))
    x[rng.random(x.shape) < 0.05] = -np.inf
    x[0, 0] = np.nan
    x[1] = 1e308
    m = np.max(np.where(np.isnan(x), -np.inf, x), axis=1)
    L = np.abs(rng.normal(0, 2, rows))
    y = rng.random((rows, n)) * (rng.random((rows, n)) < 0.7)
    for w in (None, rng.uniform(0.1, 10, n), rng.choice([0.0, 1.0, 1e-310, 1e300, np.inf, np.nan], n)):
        for ls in (0.0, 0.1, 1 - 2**-53):
            c = rowrest.constants(ls, n)
            got = native_rows.ce_rest(x, m, L, y, w, c)
            want = rowrest.numpy_rest(x, m, L, y, w, c)
            assert got is not None
            for g, h in zip(got, want):
                # NaN payloads aside (a NaN row is never used: rowrest._checked)
                nan = np.isnan(h)
                assert np.array_equal(np.isnan(g), nan), (n, ls)
                assert np.array_equal(g[~nan].view(np.uint64), h[~nan].view(np.uint64)), (n, ls)


@pytest.mark.parametrize("shape", [(40, 3), (40, 10), (40, 16), (40, 17), (30, 1000)])
def test_the_same_bits_with_and_without_the_extension(shape, monkeypatch):
    """The weighted losses (every option) with the kernels on and off, on
    rows with every edge the row analysis treats apart."""
    rng = np.random.default_rng(shape[1])
    x = _rows_with_edges(rng, shape)
    y = rng.dirichlet(np.ones(shape[1]), shape[0])
    lab = rng.integers(0, shape[1], shape[0])
    sw, cw = rng.uniform(0.5, 8, shape[0]), rng.uniform(0.5, 8, shape[1])

    def run():
        return [accurate.categorical_crossentropy(y, x, from_logits=True, sample_weight=sw),
                accurate.categorical_crossentropy(y, x, from_logits=True, sample_weight=sw, label_smoothing=0.1,
                                                  class_weight=cw),
                accurate.sparse_categorical_crossentropy(lab, x, from_logits=True, class_weight=cw),
                accurate.sparse_categorical_crossentropy(lab, x, from_logits=True, sample_weight=sw, reduction="mean")]

    on = run()
    monkeypatch.setenv("STABKIT_NATIVE", "0")
    off = run()
    for a, b in zip(on, off):
        assert np.array_equal(np.asarray(a).view(np.uint64), np.asarray(b).view(np.uint64))


def test_rows_whose_loss_stands():
    """NaN rows, rows of only masked classes, an infinite loss (a target on a
    masked class), a loss whose log-softmax overflows and a zero loss keep
    what the kernels gave them times the weight; a zero target at a masked
    class counts 0."""
    x = np.array([[np.nan, 0.0, 1.0], [-np.inf, -np.inf, -np.inf], [-np.inf, 0.0, 1.0],
                  [1.8e308, -1.8e308, 0.0], [0.0, -np.inf, -np.inf], [-np.inf, 0.0, 1.0]])
    y = np.array([[0.2, 0.3, 0.5], [0.2, 0.3, 0.5], [0.5, 0.5, 0.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0],
                  [0.0, 0.25, 0.75]])
    s = np.full(6, 3.0)
    got = accurate.categorical_crossentropy(y, x, from_logits=True, sample_weight=s)
    plain = accurate.categorical_crossentropy(y, x, from_logits=True) * 3.0
    assert np.isnan(got[0]) and np.isnan(got[1]) and got[2] == np.inf
    assert got[3] == plain[3] == 3.0 * 1.8e308 or (np.isinf(got[3]) and np.isinf(plain[3]))
    assert got[4] == 0.0 and not np.signbit(got[4])
    assert ulps(got[5], _exact([0.25, 0.75], [0.0, 1.0], 0.0, None, 3.0)) <= 1.0


def test_large_and_small_sample_weights_keep_the_tails():
    """A subnormal loss under a weight of 1e300 (the tails of rowtail) and a
    loss times a weight past float64's range (inf; the mean still finite)."""
    x = np.array([[0.0, -800.0, -801.0], [0.0, 1.0, 2.0]])
    y = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    got = accurate.categorical_crossentropy(y, x, from_logits=True, sample_weight=[1e300, 1e308])
    assert ulps(got[0], _exact([1, 0, 0], [0.0, -800.0, -801.0], 0.0, None, 1e300)) <= 1.0
    assert ulps(got[1], _exact([0, 0, 1], [0.0, 1.0, 2.0], 0.0, None, 1e308)) <= 1.0
    xb, yb = np.array([[0.0, 5e307], [0.0, 0.0]]), np.array([[1.0, 0.0], [1.0, 0.0]])
    big = accurate.categorical_crossentropy(yb, xb, from_logits=True, sample_weight=[10.0, 10.0])
    assert big[0] == np.inf
    mean = accurate.categorical_crossentropy(yb, xb, from_logits=True, sample_weight=[10.0, 10.0], reduction="mean")
    assert ulps(mean, (_exact([1, 0], [0.0, 5e307], 0.0, None, 10.0) + _exact([1, 0], [0.0, 0.0], 0.0, None, 10.0))
                / 20) <= 1.0


#: found by the search of test_sample_weights_at_the_top_of_the_binade's
#: regime with smoothing (3.48 ulp before the rest)
REPRO_X = ["-0x1.bf51ee96c68f2p+2", "-0x1.2e06958e577d0p+2", "-0x1.452b6e5d7358bp+4", "0x1.8b40e6f08686ap+2",
           "-0x1.2a7e9693ee8cep+2", "0x1.884be78ed8266p+3", "-0x1.f85b31213339bp+2"]
REPRO_LAB = 0
REPRO_LS = 0.0010277441054763008
REPRO_S = 1.6625471848872337


def test_native_switch_is_read_at_every_call(monkeypatch):
    """STABKIT_NATIVE=0 turns the rows' kernel off too (its NumPy code runs)."""
    monkeypatch.setenv("STABKIT_NATIVE", "0")
    assert native_rows.ce_rest(np.zeros((1, 2)), np.zeros(1), np.zeros(1), np.zeros((1, 2)), None,
                               rowrest.constants(0.0, 2)) is None
    assert os.environ["STABKIT_NATIVE"] == "0"


#: an outside probe's row (smoothing, class weights), under weights that put
#: the products far from 1: the rest was dropped there (a plain product
#: below 2**-960, a TwoProduct split past 1e300) and the loss came out 4.37
#: ulp off; 1.37 as for the same row under a weight of 1.67
PROBE_X = ["0x1.08b716aa9bfa7p-4", "0x1.c500a9496cf98p-1", "-0x1.b3091eac26986p-1", "-0x1.a78bfdbc49d11p+0",
           "0x1.b33df2bbb477fp+0"]
PROBE_CW = ["0x1.beb9060aae9d4p+2", "0x1.85792ee26669cp+2", "0x1.1ceb6a9539bb8p+2", "0x1.0bf4598e4d234p+0",
            "0x1.0ef71430f9b16p+1"]


@pytest.mark.parametrize("s, scale", [("0x1.aa7d2c55e833ap-1000", 1.0), ("0x1.aa7d2c55e833ap+1010", 1.0),
                                      ("0x1.aa7d2c55e833ap+0", 2.0**-1000), ("0x1.aa7d2c55e833ap+0", 2.0**1000),
                                      ("0x1.aa7d2c55e833ap+0", 1.0)])
def test_weights_far_from_one(s, scale):
    x = np.array([float.fromhex(h) for h in PROBE_X])
    cw = np.array([float.fromhex(h) for h in PROBE_CW]) * scale
    ls, s = float.fromhex("0x1.1253a89e60195p-9"), float.fromhex(s)
    exact = _exact(np.eye(5)[4], x, ls, cw, s)
    got = _loss(True, 4, None, x, ls, cw, sample_weight=[s])
    assert ulps(got, exact) <= 1.5
    got = _loss(False, 4, np.eye(5)[4], x, ls, cw, sample_weight=[s])
    assert ulps(got, exact) <= 1.5


def test_class_weights_spanning_more_than_the_range():
    """Class weights of 1e-10, 1 and 1e300 in one call: scaled by the
    largest, 1e-10 became subnormal and lost bits, and a logit of -1e25 made
    that term the loss (71 ulp off; an outside probe's case). Such weights
    keep the kernels' loss."""
    cw, x, t = np.array([1e-10, 1.0, 1e300]), np.array([-1e25, 0.0, 0.0]), np.array([1.0, 0.0, 0.0])
    got = accurate.categorical_crossentropy(t[None], x[None], from_logits=True, class_weight=cw,
                                            sample_weight=[1.0])[0]
    assert ulps(got, _exact(t, x, 0.0, cw, 1.0)) <= 1.0


def test_signed_zero_weight():
    """A sample weight of -0.0 gives -0.0, as the plain product does."""
    x, y = np.array([[1.0, 2.0, 3.0]]), np.array([[0.2, 0.3, 0.5]])
    assert np.signbit(accurate.categorical_crossentropy(y, x, from_logits=True, sample_weight=[-0.0])[0])
    assert np.signbit(accurate.sparse_categorical_crossentropy([1], x, from_logits=True, sample_weight=[-0.0])[0])


@pytest.mark.parametrize("s", [1e300, 1e301, 1.0, 1.7778728557475094, 3e-300])
def test_negative_sample_weights_mirror_positive_ones(s):
    """``loss(sample_weight=-s) == -loss(sample_weight=s)`` bit for bit, the
    tails included: a weight of -1e300 on a loss of 3.1e-22 (a winner 740
    ahead) skipped the subnormal tail (2e13 ulp off), and a lost smoothing
    target under -1e301 gave -0.0 for -4.3e-23."""
    M = float(np.finfo(np.float64).max)
    cases = [(np.array([[1.0, 0.0]]), np.array([[0.0, -740.3]]), {}),
             (np.array([[0.0, 0.0]]), np.array([[-0.25, 1.0]]), {"label_smoothing": 5e-324}),
             (np.array([[0.5, 0.5, 0.0]]), np.array([[M, M, -M]]), {"label_smoothing": 5e-324, "class_weight": [0, 1, 2]}),
             (np.array([[0.2, 0.3, 0.5]]), np.array([[1.0, 2.0, 3.0]]), {"class_weight": [1.0, 3.0, 7.0]})]
    for t, x, kw in cases:
        pos = accurate.categorical_crossentropy(t, x, from_logits=True, sample_weight=[s], **kw)
        neg = accurate.categorical_crossentropy(t, x, from_logits=True, sample_weight=[-s], **kw)
        assert np.array_equal((-pos).view(np.uint64), neg.view(np.uint64)), (t, x, kw)
        lab = np.array([int(np.argmax(t[0]))])
        kw_sparse = {k: v for k, v in kw.items() if k != "label_smoothing"}
        pos = accurate.sparse_categorical_crossentropy(lab, x, from_logits=True, sample_weight=[s], **kw_sparse)
        neg = accurate.sparse_categorical_crossentropy(lab, x, from_logits=True, sample_weight=[-s], **kw_sparse)
        assert np.array_equal((-pos).view(np.uint64), neg.view(np.uint64)), (x, kw)
    for z in (-800.0, 750.0, 3.0):
        pos = accurate.binary_crossentropy(np.array([0.3]), np.array([z]), from_logits=True, sample_weight=[s])
        neg = accurate.binary_crossentropy(np.array([0.3]), np.array([z]), from_logits=True, sample_weight=[-s])
        assert np.array_equal((-pos).view(np.uint64), neg.view(np.uint64)), z
    x = np.array([[0.0, -740.3]])
    got = accurate.categorical_crossentropy(np.array([[1.0, 0.0]]), x, from_logits=True, sample_weight=[-s])[0]
    assert ulps(-got, _exact([1.0, 0.0], x[0], 0.0, None, s)) <= 2.0


def test_a_huge_weight_on_a_class_no_row_targets():
    """A class weight of 1e300 on a class whose targets are all 0 scaled the
    other weights to ~1e-300, the row fell below 2**-960 and kept the plain
    product: 3.64 ulp, where the same row with that weight at 1 gives 0.36
    (an outside probe's case). The scale now comes from the classes with a
    target in the block."""
    x = np.array([5.044755359632481, 2.6660616484362865, 6.024588282237002, -2.2200172159415903])
    t = np.array([0.0, 0.06220464435014159, 0.06220464435014159, 0.8755907112997168])
    s = 1.1634003040617242
    for c0 in (1e300, 1.0):
        cw = np.array([c0, 1.6308858051766486, 3.5579671697526836, 3.597585201464646])
        got = accurate.categorical_crossentropy(t[None], x[None], from_logits=True, class_weight=cw,
                                                sample_weight=[s])[0]
        assert ulps(got, _exact(t, x, 0.0, cw, s)) <= 0.5
