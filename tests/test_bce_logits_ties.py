"""The binary cross-entropy from logits in float16, bfloat16 and float32
where its float64 value is a midpoint of the format: pairs (y, z) whose
main term ``y |z|`` (z < 0) or ``(1 - y) z`` (z > 0), times the options'
weights, is exactly a midpoint while ``log1p(exp(-|z|))`` is below the
float64 loss's last place, so that the float64 loss IS the midpoint and
round-half-even picks the even neighbour whichever side the exact loss is
on; and float32 pairs found by a random search whose float64 loss lands on a
midpoint with a tail term of order 1. Each loss must be correctly rounded
(mpmath, 200 bits) on the NumPy path and the compiled one, and both must
give the same bits. (Before stabkit/_accurate/bceties.py and
stabkit/_native/_bce_ties.c: 0.5 + 1e-14 ulp on about half of them.)"""

from __future__ import annotations

from fractions import Fraction

import ml_dtypes
import mpmath
import numpy as np
import pytest

from helpers.native import each_path
from stabkit import accurate
from stabkit._native import elementwise
from stabkit.floats import round_float64

BF16 = ml_dtypes.bfloat16
#: format -> (dtype, significand bits, exponent of the smallest normal, unsigned view)
FORMATS = {"float16": (np.float16, 11, -14, np.uint16), "bfloat16": (BF16, 8, -126, np.uint16),
           "float32": (np.float32, 24, -126, np.uint32)}
#: option sets whose weights keep the main term a short dyadic (pos_weight,
#: sample_weight; smoothing of 0.5 makes y' = y/2 + 1/4)
OPTIONS = [{}, {"pos_weight": 3.0}, {"sample_weight": 0.5}, {"label_smoothing": 0.5},
           {"pos_weight": 0.75, "sample_weight": 2.0}]
_MP = mpmath.MPContext()
_MP.prec = 200
EXT = elementwise.extension()


def exact_loss(y: float, z: float, ls=0.0, pos=1.0, s=1.0):
    """``s (pos y' softplus(-z) + (1 - y') softplus(z))``, ``y' = y (1 - ls) + ls/2``,
    in _MP at its current precision."""
    y, z, ls, pos, s = (_MP.mpf(float(v)) for v in (y, z, ls, pos, s))
    yp = y * (1 - ls) + ls / 2
    return s * (pos * yp * _MP.log1p(_MP.exp(-z)) + (1 - yp) * _MP.log1p(_MP.exp(z)))


def _bits(z: float) -> int:
    """mpmath precision for the loss at logit ``z``: 200 bits below the tail
    term e^-|z| (a midpoint plus e^-19120 is not the midpoint)."""
    return 200 + int(1.45 * abs(float(z)))


def main_term(y: float, z: float, ls=0.0, pos=1.0, s=1.0) -> Fraction:
    """The exact main term: the loss less its tails ``(a + b) s log1p(exp(-|z|))``."""
    ls, yp = Fraction(ls), Fraction(y) * (1 - Fraction(ls)) + Fraction(ls) / 2
    w = Fraction(pos) * yp if z < 0 else 1 - yp
    return Fraction(s) * w * abs(Fraction(z))


def is_midpoint(q: Fraction, fmt: str) -> bool:
    """Whether ``q > 0`` lies halfway between two neighbours of the format."""
    _, p, emin, _ = FORMATS[fmt]
    e = max(q.numerator.bit_length() - q.denominator.bit_length() - (q < Fraction(2) ** (
        q.numerator.bit_length() - q.denominator.bit_length())), emin)
    k = q / Fraction(2) ** (e - p)  # in units of half the spacing at q
    return k.denominator == 1 and k.numerator % 2 == 1


def neighbours(v, fmt: str) -> tuple[float, float]:
    """The format's values just below and above the positive finite ``v``."""
    dt, _, _, ut = FORMATS[fmt]
    b = np.array([v], dtype=dt).view(ut)
    return float((b - 1).view(dt)[0]), float((b + 1).view(dt)[0])


def correctly_rounded(got, fmt: str, y, z, ls=0.0, pos=1.0, s=1.0) -> bool:
    """Whether ``got`` is the value of the format nearest the exact loss."""
    g = float(got)
    lo, hi = neighbours(got, fmt)
    with _MP.workprec(_bits(z)):
        exact = exact_loss(y, z, ls, pos, s)
        d = abs(exact - g)
        return bool(d < abs(exact - lo) and d < abs(exact - hi))


def _values(fmt: str, lo: float, hi: float, count: int, rng) -> np.ndarray:
    """Up to ``count`` values of the format in ``[lo, hi)`` (all of them when
    fewer), as float64, from their bit patterns."""
    dt, _, _, ut = FORMATS[fmt]
    a, b = (int(np.array([v], dtype=dt).view(ut)[0]) for v in (lo, hi))
    bits = np.arange(a, b, dtype=np.int64) if b - a <= count else rng.integers(a, b, count)
    return np.unique(bits.astype(ut).view(dt).astype(np.float64))


def _short_float32(rng) -> tuple[np.ndarray, np.ndarray]:
    """float32 targets and logits whose products can have 25 significant
    bits: logits c 2**e (c odd, at most 9, |z| >= 36) and targets u 2**-k
    (u odd, c' u in [2**24, 2**25) for c' among the products of such c and
    the options' weights) or 1 - u 2**-k, and their smoothed preimages."""
    u = np.concatenate([rng.integers(2**24 // c, 2**25 // c, 64) | 1 for c in (1, 3, 5, 7, 9, 15, 21, 27, 45)])
    v = np.ldexp(u.astype(np.float64), -rng.integers(25, 31, u.size))
    ys = np.concatenate([v, 1.0 - v, 2.0 * v - 0.5, 1.5 - 2.0 * v])
    ys = ys[(ys > 0) & (ys < 1) & (ys.astype(np.float32) == ys)]
    zs = np.array([c * 2.0**e for c in (1, 3, 5, 7, 9) for e in range(3, 17) if 36 <= c * 2.0**e <= 1e6])
    return np.unique(ys), zs


def tie_pairs(fmt: str, opts: dict, rng, per_sign: int = 12) -> list[tuple[float, float, Fraction]]:
    """Pairs (y, z, main term) of the format whose main term is exactly a
    midpoint and whose tails lie below a quarter of the float64 loss's last
    place (so that the float64 loss is the midpoint itself): both signs of z
    (the term of y and the term of 1 - y), normal and subnormal results."""
    _, p, emin, _ = FORMATS[fmt]
    ls, pos, s = opts.get("label_smoothing", 0.0), opts.get("pos_weight", 1.0), opts.get("sample_weight", 1.0)
    ys = _values(fmt, 2.0**-30 if fmt == "float16" else 2.0**-140, 1.0, 1 << 15, rng)
    zmax = 60000.0 if fmt == "float16" else 1e6
    zs = np.concatenate([_values(fmt, 36.0, zmax, 48, rng), _values(fmt, 36.0, 160.0, 48, rng)])
    if fmt == "float32":  # 24-bit y and z rarely multiply to 25 bits: short odd parts
        ys, zs = _short_float32(rng)
    out = []
    for sign in (-1.0, 1.0):
        found = []
        for z in rng.permutation(zs) * sign:
            yp = ys * (1 - ls) + ls / 2
            m = s * (pos * yp if z < 0 else 1.0 - yp) * abs(z)  # float64: a pre-filter only
            with np.errstate(all="ignore"):
                e = np.maximum(np.frexp(m)[1] - 1, emin)
                k = np.ldexp(m, p - e)
                cand = (k == np.floor(k)) & (np.fmod(k, 2.0) == 1.0) & (m > 0)
                cand &= np.exp(-abs(z)) * s * (pos + 1.0) < m * 2.0**-55
            for y in ys[cand][:3]:
                q = main_term(y, z, ls, pos, s)
                if is_midpoint(q, fmt):
                    found.append((float(y), float(z), q))
            if len(found) >= per_sign:
                break
        out += found[:per_sign]
    return out


def _even_is_below(q: Fraction, fmt: str) -> bool:
    """Whether round-half-even takes the midpoint ``q`` down, the wrong way
    (the tails are > 0); float(q) is q, a short dyadic."""
    return Fraction(float(np.array([float(q)], dtype=FORMATS[fmt][0])[0])) < q


def _check(fmt: str, y, z, opts: dict) -> None:
    """Both paths bit for bit the same, and correctly rounded."""
    dt, _, _, ut = FORMATS[fmt]
    ya, za = np.asarray(y, dtype=dt), np.asarray(z, dtype=dt)
    kw = {k: (np.full(za.shape, v) if k != "label_smoothing" else v) for k, v in opts.items()}
    fast, slow = each_path(accurate.binary_crossentropy, ya, za, True, **kw)
    assert fast.dtype == slow.dtype == np.dtype(dt)
    same = fast.view(ut) == slow.view(ut)
    assert same.all(), [(float(y[i]), float(z[i]), float(fast[i]), float(slow[i])) for i in np.flatnonzero(~same)[:4]]
    w = (opts.get("label_smoothing", 0.0), opts.get("pos_weight", 1.0), opts.get("sample_weight", 1.0))
    bad = [(float(y[i]).hex(), float(z[i]).hex(), float(slow[i]).hex()) for i in range(len(y))
           if not correctly_rounded(slow[i], fmt, y[i], z[i], *w)]
    assert not bad, f"{len(bad)} of {len(y)} not correctly rounded (y, z, got): {bad[:4]}"


@pytest.mark.parametrize("opts", OPTIONS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "plain")
@pytest.mark.parametrize("fmt", list(FORMATS))
def test_main_term_on_a_midpoint(fmt, opts):
    rng = np.random.default_rng(sorted(FORMATS).index(fmt) * 10 + OPTIONS.index(opts))
    pairs = tie_pairs(fmt, opts, rng)
    assert sum(z < 0 for _, z, _ in pairs) >= 6 and sum(z > 0 for _, z, _ in pairs) >= 6, len(pairs)
    # the generator's point: some midpoints where round-half-even goes the wrong way
    assert sum(_even_is_below(q, fmt) for *_, q in pairs) >= 2
    y, z = np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])
    _check(fmt, y, z, opts)


def test_the_known_float16_pair():
    """y = 0x1.0ep-2, z = 36: (1 - y) 36 = 0x1.a82p+4 is the midpoint; the
    exact loss is 2.3e-16 above it: 0x1.a84p+4, not round-half-even's 0x1.a8p+4."""
    y, z = float.fromhex("0x1.0ep-2"), 36.0
    assert is_midpoint(main_term(y, z), "float16")
    for zz, yy in ((z, y), (-z, 1.0 - y)):  # both terms: (1 - y) z, and y |z| with y and z mirrored
        fast, slow = each_path(accurate.binary_crossentropy, np.float16([yy]), np.float16([zz]), True)
        assert float(fast[0]) == float(slow[0]) == float.fromhex("0x1.a84p+4")


#: subnormal results: a subnormal target times a logit with a half in it
#: (z < 0 only: 1 - y is at least 2**-24, and e^-z negligible needs z > 36)
SUBNORMAL = {"float16": [(2.0**-24, -50.5), (3 * 2.0**-24, -55.5), (5 * 2.0**-24, -51.5)],
             "bfloat16": [(2.0**-133, -126.5), (2.0**-133, -125.5)],
             "float32": [(2.0**-149, -140.5), (3 * 2.0**-149, -140.5), (7 * 2.0**-149, -150.5)]}


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_subnormal_midpoints(fmt):
    pairs = [(y, z) for y, z in SUBNORMAL[fmt] if is_midpoint(main_term(y, z), fmt)]
    assert len(pairs) == len(SUBNORMAL[fmt])
    assert any(_even_is_below(main_term(y, z), fmt) for y, z in pairs)
    y, z = np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])
    _check(fmt, y, z, {})


#: float32 pairs from a random search (3.4e9 pairs, y uniform, z ~ N(0, 5))
#: whose float64 loss is exactly a midpoint with a tail term of order 1
#: (the first three went the wrong way before, the others the right way by luck)
RANDOM32 = [("0x1.b1fd2p-2", "-0x1.ab8828p+2"), ("0x1.1af3dap-1", "0x1.088a92p+0"), ("0x1.5f4caep-1", "-0x1.7c3adep-1"),
            ("0x1.9b6046p-2", "-0x1.88c69ap+1"), ("0x1.78d6f8p-1", "-0x1.639ab4p+1"), ("0x1.9af664p-2", "-0x1.b4f3d4p+2"),
            ("0x1.8a82cep-1", "0x1.252324p-3"), ("0x1.e6dacep-3", "-0x1.0c140ap+2"), ("0x1.09236ep-1", "0x1.3d420cp-8")]


def test_random_float32_midpoints():
    y = np.array([float.fromhex(a) for a, _ in RANDOM32])
    z = np.array([float.fromhex(b) for _, b in RANDOM32])
    _check("float32", y, z, {})


@pytest.mark.parametrize("target", [0.0, 1.0])
def test_float32_series_midpoint(target):
    """softplus(4.4680992e-04) (the loss of y = 0, or y = 1 at the opposite
    logit) is a float32 midpoint in float64 by 7e-18 of itself: the compiled
    loop's 0/1 targets take the series there, outside the float64 loss."""
    z = np.float32(4.4680992e-04) * (1 if target == 0 else -1)
    y = np.full(600, target, np.float32)  # a whole block of 0/1 targets: the kernel's fast path
    zz = np.random.default_rng(5).standard_normal(600).astype(np.float32)
    zz[::7] = z
    _check("float32", y[::7], zz[::7], {})
    fast, slow = each_path(accurate.binary_crossentropy, y, zz, True)
    assert np.array_equal(fast.view(np.uint32), slow.view(np.uint32))
    assert correctly_rounded(slow[0], "float32", target, z)


@pytest.mark.parametrize("fmt", list(FORMATS))
@pytest.mark.parametrize("labels", ["hard", "soft"])
def test_ties_inside_long_arrays(fmt, labels):
    """The midpoints scattered through 5000 elements of 0/1 targets (the
    compiled loops send the few others to the float64 loss) or of soft
    targets (whole blocks of the float64 loss), strided too."""
    dt, _, _, ut = FORMATS[fmt]
    rng = np.random.default_rng(len(fmt) + len(labels))
    pairs = tie_pairs(fmt, {}, rng, per_sign=4)
    n = 5000
    y = (rng.random(n) < 0.5).astype(np.float64) if labels == "hard" else rng.random(n)
    z = rng.standard_normal(n) * 5
    at = rng.choice(n, len(pairs), replace=False)
    y[at], z[at] = [p[0] for p in pairs], [p[1] for p in pairs]
    ya, za = y.astype(dt), z.astype(dt)
    for sl in (slice(None), slice(1, None, 2)):
        fast, slow = each_path(accurate.binary_crossentropy, ya[sl], za[sl], True)
        assert np.array_equal(fast.view(ut), slow.view(ut))
    wide = np.zeros((n, 3), dt)
    wide[:, 1] = za
    fast, slow = each_path(accurate.binary_crossentropy, ya, wide[:, 1], True)  # a strided logit
    assert np.array_equal(fast.view(ut), slow.view(ut))
    for i, (a, b, _) in zip(at, pairs):
        assert correctly_rounded(slow[i], fmt, a, b), (a, b)


@pytest.mark.skipif(EXT is None, reason="the C extension is not built")
@pytest.mark.parametrize("fmt", list(FORMATS))
def test_the_compiled_loop_itself(fmt):
    dt, _, _, ut = FORMATS[fmt]
    pairs = tie_pairs(fmt, {}, np.random.default_rng(3), per_sign=6)
    y = np.array([p[0] for p in pairs]).astype(dt)
    z = np.array([p[1] for p in pairs]).astype(dt)
    got = EXT.binary_logits_plain(y, z)
    slow = each_path(accurate.binary_crossentropy, y, z, True)[1]
    assert np.array_equal(got.view(ut), slow.view(ut))


def test_the_window_around_a_midpoint():
    """bceties.settle_plain on float64 values displaced from a midpoint by
    up to WINDOW ulps either way: each then rounds to the exact loss's side;
    beyond the window the value is left as it is. Up: the known float16
    pair (tails > 0); down: a float32 pair whose exact loss lies below its
    midpoint."""
    from stabkit._accurate import bceties

    sides = []
    for fmt, y, z in (("float16", float.fromhex("0x1.0ep-2"), 36.0),
                      ("float32", float.fromhex("0x1.1af3dap-1"), float.fromhex("0x1.088a92p+0"))):
        dt = FORMATS[fmt][0]
        exact = exact_loss(y, z)  # 200 bits: |z| is small here
        r = np.array([float(exact)], dt)[0]
        lo, hi = neighbours(r, fmt)
        m = min(((lo + float(r)) / 2, (float(r) + hi) / 2), key=lambda c: abs(exact - c))
        sides.append(exact > m)
        k = np.arange(-bceties.WINDOW - 3, bceties.WINDOW + 4)
        loss = m + k * np.spacing(m)
        got = bceties.settle_plain(loss.copy(), np.full(k.size, y), np.full(k.size, z), fmt)
        inside = np.abs(k) <= bceties.WINDOW
        assert np.array_equal(got[~inside], loss[~inside])
        assert all(correctly_rounded(v, fmt, y, z) for v in round_float64(got[inside], fmt)), fmt
    assert sides == [True, False]


@pytest.mark.parametrize("opts", [{}, {"label_smoothing": 0.1, "pos_weight": 2.5, "sample_weight": 0.7},
                                  {"pos_weight": 0.3}, {"label_smoothing": 0.01, "sample_weight": 3.0}],
                         ids=["plain", "ls-pos-sw", "pos", "ls-sw"])
@pytest.mark.parametrize("fmt", list(FORMATS))
def test_the_side_of_any_loss(fmt, opts):
    """The double-double decision on random pairs, with and without options:
    the float64 loss replaced by values within WINDOW ulps of the midpoint
    nearest the exact loss (as if the float64 evaluation had landed there),
    settled, then rounded to the format: the correctly rounded loss."""
    from stabkit._accurate import bceties

    dt = FORMATS[fmt][0]
    rng = np.random.default_rng(sorted(FORMATS).index(fmt) + 7)
    ls, pos, s = opts.get("label_smoothing", 0.0), opts.get("pos_weight", 1.0), opts.get("sample_weight", 1.0)
    y = np.concatenate([rng.random(30), [1.0, 0.0]]).astype(dt).astype(np.float64)
    z = np.concatenate([rng.standard_normal(24) * 5, rng.uniform(-1e-3, 1e-3, 4), [-60.0, 45.0, -800.0, 0.0]])
    z = z.astype(dt).astype(np.float64)
    loss, k = np.empty(y.size), rng.integers(-bceties.WINDOW, bceties.WINDOW + 1, y.size)
    for i in range(y.size):
        with _MP.workprec(_bits(z[i])):
            exact = exact_loss(y[i], z[i], ls, pos, s)
            r = np.array([float(exact)], dt)[0]
            lo, hi = neighbours(r, fmt)
            m = min(((lo + float(r)) / 2, (float(r) + hi) / 2), key=lambda c: abs(exact - c))
        loss[i] = m + k[i] * np.spacing(m)
    if opts:
        got = bceties.settle_weighted(loss.copy(), y, z, fmt, ls, lambda at: np.full(at.size, pos),
                                      lambda at: np.full(at.size, s))
    else:
        got = bceties.settle_plain(loss.copy(), y, z, fmt)
    # (stabkit's rounding, not astype: ml_dtypes before 0.7 casts float64 to
    # bfloat16 through float32, which turns m plus an ulp into m, a tie)
    rounded = round_float64(got, fmt)
    bad = [(y[i], z[i]) for i in range(y.size) if not correctly_rounded(rounded[i], fmt, y[i], z[i], ls, pos, s)]
    assert not bad, bad


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_a_coarse_grid_where_most_losses_sit_near_midpoints(fmt):
    """Targets of few bits and integer logits put many losses on a
    midpoint (a tenth of float16's): their main term is the midpoint
    itself, which the compiled loop settles before any exp or log (0.8 us
    a loss through the double-double; the probe's all-ties float32 input
    took 815 ms for 10^6, now 20). Both paths give the same bits on every
    pair of the grid, and the correctly rounded loss on a sample of those
    near a midpoint. (Its float64 filter of the rest, the sign of d + t
    beyond 2**-48 t, meets the random float32 pairs above.)"""
    if fmt == "float32":
        # 24-bit targets whose product with an odd integer logit needs 25 bits
        y, z = np.meshgrid((2**23 + 32 + 64 * np.arange(0, 2**17, 41)) / 2**24, [-63.0, -31.0, 17.0, 45.0])
    else:
        y, z = np.meshgrid(np.arange(0, 257) / 256, np.arange(-60, 61, dtype=np.float64))
    y, z = y.ravel(), z.ravel()
    dt, _, _, ut = FORMATS[fmt]
    fast, slow = each_path(accurate.binary_crossentropy, y.astype(dt), z.astype(dt), True)
    assert np.array_equal(fast.view(ut), slow.view(ut))
    if EXT is not None:  # the compiled loop itself (the accurate tier checks it at load, and could turn it off)
        assert np.array_equal(EXT.binary_logits_plain(y.astype(dt), z.astype(dt)).view(ut), slow.view(ut))
    from stabkit._accurate import bceties
    near = bceties.near_midpoints(accurate.binary_crossentropy(y, z, True), fmt)
    assert near.size > y.size // 100  # the grid does reach the settling
    for i in near[:: max(1, near.size // 60)]:
        assert correctly_rounded(slow[i], fmt, y[i], z[i]), (y[i], z[i])
