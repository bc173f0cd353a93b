"""Samplers: ordinals, regimes, edge cases, rows, reproducibility."""

import numpy as np
import pytest

from stabkit.floats import FORMATS, ordinal
from stabkit.analysis.sampling import edge_cases, from_ordinal, make_sample, ordinal_uniform, rng_for


@pytest.mark.parametrize("fmt", ["float16", "bfloat16", "float32", "float64"])
def test_from_ordinal_inverts_ordinal(fmt):
    f = FORMATS[fmt]
    top = int(ordinal(np.array([f.max]).astype(f.dtype), f)[0])
    o = np.random.default_rng(1).integers(-top, top, size=1000, endpoint=True)
    with np.errstate(over="ignore"):
        assert np.array_equal(ordinal(from_ordinal(o, f), f), o)


def test_ordinal_uniform_weights_every_float_equally():
    # about half of all positive float32 values lie below 1.0 (ordinal 0x3F800000 of 0x7F7FFFFF)
    x = np.abs(ordinal_uniform("float32", 20000, rng_for(0, "t")).astype(np.float64))
    assert abs((x < 1).mean() - 0x3F800000 / 0x7F7FFFFF) < 0.02
    y = ordinal_uniform("float64", 2000, rng_for(0, "t"), -745.2, -709.79).astype(np.float64)
    assert y.min() >= -745.2 and y.max() <= -709.79


def test_exhaustive_16_bit_covers_every_value():
    s = make_sample("sigmoid", "float16", 10, 0)
    x = s.groups[0].args[0]
    assert s.exhaustive and x.size == 63490  # 2**16 minus 2046 NaNs
    assert np.isinf(x.astype(float)).sum() == 2 and (np.signbit(x.astype(float)) & (x == 0)).sum() == 1


def test_sampled_float64_has_regimes_and_edge_cases():
    x = make_sample("sigmoid", "float64", 800, 3).groups[0].args[0]
    for v in (0.0, 5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, np.inf, -np.inf):
        assert v in x
    assert ((x > -745.2) & (x < -709.79)).sum() >= 100  # the naive-overflow regime gets its share
    assert (np.abs(x) < 2.0**-30).sum() >= 100
    assert np.all(np.diff(x[np.isfinite(x)]) >= 0)  # sorted


def test_reproducible_and_keyed_by_seed():
    a = make_sample("log_softmax", "float32", 200, 7)
    b = make_sample("log_softmax", "float32", 200, 7)
    c = make_sample("log_softmax", "float32", 200, 8)
    assert all(np.array_equal(g.args[0], h.args[0], equal_nan=True) for g, h in zip(a.groups, b.groups))
    assert not all(np.array_equal(g.args[0], h.args[0], equal_nan=True) for g, h in zip(a.groups, c.groups))


def test_rows_have_lengths_offsets_ties_masks_and_labels():
    s = make_sample("sparse_categorical_crossentropy", "float64", 300, 0)
    lengths = [g.args[1].shape[1] for g in s.groups]
    assert lengths[0] == 2 and lengths[-1] == 10000
    x = np.concatenate([g.args[1][:, :2].ravel() for g in s.groups])
    fin = x[np.isfinite(x)]
    assert np.isneginf(x).any() and np.abs(fin).max() > 1000 and fin.max() > 709.78
    gaps = np.concatenate([g.coord for g in s.groups])
    assert (gaps == 0).any() and (gaps > 36).any()  # ties and large gaps
    g = s.groups[2]
    labels, rows = g.args
    winner = labels == np.argmax(np.where(np.isfinite(rows), rows, -np.inf), axis=1)
    assert winner.mean() > 0.3 and (~winner).mean() > 0.3
    assert not (g.sweep & ~g.winner).any()


def test_probability_rows_sum_to_one():
    s = make_sample("categorical_crossentropy", "float32", 100, 0, from_logits=False)
    p = s.groups[2].args[1].astype(np.float64)
    assert np.all(p >= 0) and np.allclose(p.sum(axis=1), 1, atol=1e-5)


def test_edge_cases_include_exp_overflow_points():
    e = edge_cases("float32").astype(np.float64)
    assert np.any(np.abs(e - 88.72283935546875) < 1e-5)


def test_bad_arguments():
    with pytest.raises(ValueError, match="positive"):
        make_sample("sigmoid", "float32", 0)
    with pytest.raises(ValueError, match="exhaustive"):
        make_sample("sigmoid", "float32", 10, exhaustive=True)
    with pytest.raises(ValueError, match="unknown function"):
        make_sample("nope", "float32", 10)
