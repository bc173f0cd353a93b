"""Error statistics: what they count, and known breakdowns they must find."""

import math

import numpy as np
import pytest

from stabkit import accurate, registry
from stabkit.analysis import analyze, analyze_sample
from stabkit.analysis.sampling import make_sample
from stabkit.analysis.thirdparty import Impl, Unsupported, tier_impl

TIERS = [tier_impl(t) for t in registry.TIERS]


def test_accurate_sigmoid_bfloat16_is_correctly_rounded_on_every_input():
    a = analyze("sigmoid", "bfloat16", [tier_impl("accurate")], 10, 0)
    st = a.stats["accurate"]
    assert a.sample.exhaustive and st.n == 65282 - 0  # every non-NaN bfloat16
    assert st.max_ulp <= 0.5 and st.pct_correctly_rounded == 100.0 and st.failures == 0 and st.max_bits == 0


def test_naive_softplus_float32_breaks_where_exp_overflows():
    st = analyze("softplus", "float32", TIERS, 400, 0).stats
    # exp(x) overflows float32 just above log(max) = 88.72...: inf where the exact value is finite
    assert st["naive"].failures > 0 and 88.72 < st["naive"].first_failure < 88.73
    assert st["accurate"].failures == 0 and st["accurate"].max_ulp <= 0.5
    assert st["naive"].worst[0]["failure"] and st["naive"].worst[0]["input"]["x"] > 88.72


def test_stable_softplus_float64_exceeds_1_ulp_past_pytorchs_threshold():
    st = analyze("softplus", "float64", TIERS, 600, 0).stats["stable"]
    assert st.failures == 0 and 20.0 <= st.first_over_1ulp < 20.1 and st.max_ulp > 1e5


@pytest.mark.slow
def test_stable_log_softmax_loses_the_winner_at_large_gaps():
    st = analyze("log_softmax", "float64", TIERS, 200, 1).stats
    assert st["stable"].spurious_zeros > 0 and st["stable"].max_ulp > 1e12
    assert st["accurate"].spurious_zeros == 0 and st["accurate"].max_ulp < 4


def _exact_sigmoid_with_nans(function, from_logits, args):
    y = accurate.sigmoid(args[0]).copy()
    y[::2] = np.nan
    return y


def test_failures_are_counted_not_averaged():
    s = make_sample("sigmoid", "float32", 200, 0)
    a = analyze_sample(s, [Impl("half-nan", _exact_sigmoid_with_nans)])
    st = a.stats["half-nan"]
    x = s.groups[0].args[0]
    assert st.failures == (x.size + 1) // 2
    assert st.max_ulp <= 0.5 and math.isfinite(st.mean_ulp)  # the NaNs are not in the mean
    assert st.worst[0]["failure"] and st.worst[0]["value"] != st.worst[0]["value"]  # NaN first


def test_spurious_zeros_and_unsupported():
    zero = Impl("zero", lambda f, fl, args: np.zeros_like(args[0]))
    def none(f, fl, args):
        raise Unsupported
    a = analyze("sigmoid", "float64", [zero, Impl("none", none)], 100, 0)
    assert a.stats["none"] is None and a.points["none"] is None
    st = a.stats["zero"]
    assert st.spurious_zeros > 0 and st.pct_correctly_rounded < 50


@pytest.mark.slow
def test_undefined_points_are_left_out():
    # all -inf rows: the exact softmax is NaN, so no error is defined
    s = make_sample("softmax", "float64", 50, 0)
    g = s.groups[0]
    g.args[0][0] = -np.inf
    st = analyze_sample(s, [tier_impl("accurate")]).stats["accurate"]
    assert st.undefined >= 2 and st.failures == 0


@pytest.mark.parametrize("fn", ["binary_crossentropy", "sparse_categorical_crossentropy", "categorical_crossentropy"])
def test_losses_from_probabilities_flag_keras_clipping(fn):
    st = analyze(fn, "float32", TIERS, 200, 0, from_logits=False).stats
    # Keras's clip to [1e-7, 1 - 1e-7]: a finite loss where the exact loss is infinite, or huge errors near p = 1
    assert st["stable"].failures > 0 or st["stable"].max_ulp > 1e6
    assert st["accurate"].failures == 0
