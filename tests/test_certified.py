"""The certified double-double tier, the on-disk cache and parallel settling,
each checked against the plain mpmath engine."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.numerics import ordinal_uniform

from stabkit.reference import cache, certified
from stabkit.reference import ziv as reference
from stabkit.floats import enumerate_format, round_float64, ulp
from stabkit.reference import reference as ref_of

FUNCS = list(certified.CERTIFIED)


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal values (+0 == -0: mpmath has no signed zero) or both NaN."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    return bool(np.all((a == b) | (np.isnan(a) & np.isnan(b))))


@pytest.mark.slow
@pytest.mark.parametrize("fn", FUNCS)
def test_certified_agrees_with_mpmath_on_all_float16(fn):
    x = enumerate_format("float16")
    fast = ref_of(fn, x)
    slow = ref_of(fn, x, engine="mpmath")
    assert _same(fast.rounded, slow.rounded)
    assert np.mean(fast.precision == reference.DD_PRECISION) == 1.0  # nothing left for mpmath


@pytest.mark.parametrize("fmt", ["float32", "float64"])
@pytest.mark.parametrize("fn", FUNCS)
def test_certified_agrees_with_mpmath_on_samples(fn, fmt):
    with np.errstate(over="ignore"):
        x = np.concatenate([
            ordinal_uniform(fmt, 3000, seed=3),
            ordinal_uniform(fmt, 3000, seed=4, lo=-800.0, hi=800.0),
            [0.0, -0.0, np.inf, -np.inf, np.nan, 640.0, -640.0, 700.0, -700.0, 745.3, -745.3],
        ]).astype(fmt)
    fast, slow = ref_of(fn, x), ref_of(fn, x, engine="mpmath")
    assert _same(fast.rounded, slow.rounded)
    # the exact values it reports measure errors the same way. (Not for
    # outputs far from the exact value: where it sits just below a power of
    # two, mpmath at ~75 bits may not resolve which binade, and its ulp, it is
    # in; the double-double value does, so the two can differ by 2x there.)
    import stabkit

    y = getattr(stabkit, fn)(x)
    np.testing.assert_allclose(fast.ulp_error(y), slow.ulp_error(y), rtol=1e-9, atol=1e-9)
    assert not fast.unsettled.any()


@pytest.mark.parametrize("fn", FUNCS)
def test_points_next_to_rounding_boundaries(fn):
    # Among 400,000 random float32 inputs, take the 300 whose double-double
    # value lies closest to a float32 rounding boundary (relative to the
    # spacing): they are the ones a loose bound would round the wrong way.
    rng = np.random.default_rng(5)
    x = rng.uniform(-60, 60, 400_000).astype(np.float32)
    r, hi, lo, ok = certified.evaluate(fn, x, "float32")
    u = np.asarray(ulp(r, "float32"))
    gap = np.abs(np.abs(hi - r) - u / 2) / u  # 0 = on a midpoint
    pick = np.argsort(gap)[:300]
    assert gap[pick].max() < 1e-3
    fast, slow = ref_of(fn, x[pick]), ref_of(fn, x[pick], engine="mpmath")
    assert _same(fast.rounded, slow.rounded)


def test_uncertified_points_go_to_mpmath():
    # float64 sigmoid results in (2.5e-324, 1e-278) are outside the double-double
    # range: those inputs must be settled by mpmath, and agree with it
    x = np.array([-700.0, -742.0, -745.0, 0.5])
    _, _, _, ok = certified.evaluate("sigmoid", x, "float64")
    assert list(ok) == [False, False, False, True]
    fast = ref_of("sigmoid", x)
    assert fast.precision[0] > reference.DD_PRECISION or fast.precision[0] < reference.DD_PRECISION
    assert _same(fast.rounded, ref_of("sigmoid", x, engine="mpmath").rounded)
    assert fast.rounded[2] > 0  # sigmoid(-745) = 5e-324, the smallest subnormal


def test_bfloat16_inputs_rounded_once():
    x = np.array([1 + 2**-8 + 2**-30])
    r = ref_of("softplus", x, fmt="bfloat16")
    y = ref_of("softplus", round_float64(x, "bfloat16"), fmt="bfloat16")
    assert _same(r.rounded, y.rounded)


class TestCache:
    @pytest.fixture(autouse=True)
    def _tmp_cache(self, tmp_path, monkeypatch):
        monkeypatch.setenv("STABKIT_CACHE_DIR", str(tmp_path))
        self.dir = tmp_path

    def test_written_then_read_without_recomputing(self, monkeypatch):
        x = np.linspace(-3, 3, 50).reshape(5, 10)
        a = ref_of("log_softmax", x, cache=True)
        files = list(self.dir.rglob("*.npz"))
        assert len(files) == 1

        def boom(*args, **kw):
            raise AssertionError("recomputed despite a valid cache file")

        monkeypatch.setattr(reference, "_evaluate", boom)
        b = ref_of("log_softmax", x, cache=True)
        assert _same(a.rounded, b.rounded) and np.array_equal(a.hi, b.hi)
        with pytest.raises(AssertionError, match="recomputed"):
            ref_of("log_softmax", x + 1, cache=True)  # other inputs: another key

    @pytest.mark.parametrize("damage", ["garbage", "truncated", "foreign"])
    def test_damaged_files_are_recomputed(self, damage):
        x = np.linspace(-3, 3, 40)
        a = ref_of("softplus", x, cache=True)
        (path,) = list(self.dir.rglob("*.npz"))
        data = path.read_bytes()
        if damage == "garbage":
            path.write_bytes(b"not a cache file")
        elif damage == "truncated":
            path.write_bytes(data[: len(data) // 2])
        else:  # a valid file of another evaluation under this name
            ref_of("softplus", x * 2, cache=True)
            other = [p for p in self.dir.rglob("*.npz") if p != path][0]
            path.write_bytes(other.read_bytes())
        assert cache.load(path.stem, 40) is None
        b = ref_of("softplus", x, cache=True)
        assert _same(a.rounded, b.rounded)
        assert cache.load(path.stem, 40) is not None  # rewritten


def test_two_workers_give_the_same_reference():
    rng = np.random.default_rng(9)
    x = rng.normal(size=(400, 6)) * 20
    one = ref_of("log_softmax", x)
    two = ref_of("log_softmax", x, workers=2)
    assert _same(one.rounded, two.rounded) and np.array_equal(one.hi, two.hi)
    assert np.array_equal(one.precision, two.precision)
    seen = []
    ref_of("logsumexp", x, workers=2, progress=seen.append)
    assert sum(seen) == 400
