"""Adapters: detection, skipping, formats, and agreement with the libraries."""

import importlib.util

import numpy as np
import pytest

from stabkit.floats import FORMATS
from stabkit.analysis.thirdparty import framework_impl, resolve, tier_impl

BF16 = FORMATS["bfloat16"].dtype


def test_unknown_and_missing(monkeypatch):
    with pytest.raises(ValueError, match="unknown implementation 'tensorflow'"):
        resolve(["accurate", "tensorflow"])
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "jax" else real(n, *a))
    impls, skipped = resolve(["accurate", "jax"])
    assert [i.name for i in impls] == ["accurate"]
    assert skipped == ["jax: skipped, package 'jax' is not installed (pip install jax)"]
    with pytest.raises(ValueError, match="not installed"):
        resolve(["jax"], skip_missing=False)


def test_tier_impl_calls_the_tier():
    x = np.array([-800.0, 0.0, 30.0])
    assert np.array_equal(tier_impl("stable").evaluate("softplus", "float64", (x,)), np.array([0.0, np.log(2), 30.0]))


def test_scipy_matches_scipy_and_notes_upcasts():
    import scipy.special as sp

    s = framework_impl("scipy")
    x = np.linspace(-30, 30, 101).astype(np.float32)
    assert np.array_equal(s.evaluate("sigmoid", "float32", (x,)), sp.expit(x))
    y = s.evaluate("sigmoid", "float16", (x.astype(np.float16),))
    assert y.dtype == np.float16 and s.notes[("sigmoid", "float16")] == "returned float64, rounded to float16"
    labels = np.array([0, 1])
    z = np.array([[1000.0, 0.0], [0.0, 1.0]])
    assert np.allclose(s.evaluate("sparse_categorical_crossentropy", "float64", (labels, z)), [0.0, np.log1p(np.exp(-1))])


def test_numpy_logaddexp_forms():
    n = framework_impl("numpy")
    x = np.array([-1000.0, 0.0, 1000.0])
    assert np.array_equal(n.evaluate("softplus", "float64", (x,)), np.array([0.0, np.log(2), 1000.0]))
    assert np.allclose(n.evaluate("logsumexp", "float64", (np.array([[1000.0, 1000.0]]),)), [1000 + np.log(2)])


def test_torch_adapter():
    torch = pytest.importorskip("torch", reason="torch not installed (pip install torch==2.13.0)")
    import torch.nn.functional as F

    t = framework_impl("torch")
    x = np.array([-3.0, 0.5, 25.0])
    # F.softplus returns x past its threshold of 20: the adapter must pass that through
    assert t.evaluate("softplus", "float64", (x,))[2] == 25.0
    b = x.astype(BF16)
    y = t.evaluate("sigmoid", "bfloat16", (b,))
    assert y.dtype == BF16 and ("sigmoid", "bfloat16") not in t.notes  # computed in bfloat16 natively
    yt, z = np.array([0.0, 1.0, 0.3]), np.array([-40.0, 2.0, 0.1])
    want = F.binary_cross_entropy_with_logits(torch.tensor(z), torch.tensor(yt), reduction="none").numpy()
    assert np.array_equal(t.evaluate("binary_crossentropy", "float64", (yt, z)), want)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="cuda"):
            framework_impl("torch", "cuda")


def test_jax_adapter():
    pytest.importorskip("jax", reason="jax not installed (pip install jax)")
    j = framework_impl("jax")
    y = j.evaluate("sigmoid", "float64", (np.array([-1.0, 0.0, 1.0]),))
    assert y.dtype == np.float64 and ("sigmoid", "float64") not in j.notes  # x64 enabled: no silent float32
    assert np.allclose(y, 1 / (1 + np.exp([1.0, 0.0, -1.0])))


def test_scipy_logsumexp_bfloat16_gives_a_bfloat16_result():
    # issue 12: SciPy 1.17's logsumexp raises TypeError on bfloat16 (numpy.isdtype
    # refuses ml_dtypes); the adapter feeds it float32, or bfloat16 if it accepts it
    s = framework_impl("scipy")
    x = np.array([[1.0, 2.0, 3.0], [100.0, -5.0, 0.25]]).astype(BF16)
    y = s.evaluate("logsumexp", "bfloat16", (x,))
    assert y.dtype == BF16 and np.allclose(y.astype(np.float64), [3.40760596, 100.0], rtol=2**-8)
    assert s.notes.get(("logsumexp", "bfloat16"), "") in (
        "", "returned float64, rounded to bfloat16", "rejects bfloat16 (TypeError); fed a float32 copy, rounded to bfloat16")


@pytest.mark.slow
def test_every_adapter_runs_every_function_in_every_format():
    """The installed libraries accept what the adapters send (a new release
    that rejects a format or renames a call shows up here first)."""
    from stabkit.floats import ARITH_FORMATS
    from stabkit.registry import PRIMITIVES
    from stabkit.analysis.thirdparty import FRAMEWORKS, Unsupported

    impls, _ = resolve(FRAMEWORKS)
    z = np.array([[2.0, -1.0, 0.5], [30.0, 0.0, -3.0]])
    for fmt in ARITH_FORMATS:
        dt = FORMATS[fmt].dtype
        args = {"elementwise": (z[0].astype(dt),), "rowwise": (z.astype(dt),), "rowwise_scalar": (z.astype(dt),),
                "binary_loss": (np.array([0.0, 1.0, 0.3]).astype(dt), z[0].astype(dt)),
                "sparse_loss": (np.array([0, 2]), z.astype(dt)),
                "categorical_loss": (np.eye(3)[[0, 2]].astype(dt), z.astype(dt))}
        for name, prim in PRIMITIVES.items():
            a = args[prim.kind]
            for impl in impls:
                try:
                    y = impl.evaluate(name, fmt, a)
                except Unsupported:
                    continue
                assert y.dtype == dt and np.isfinite(y.astype(np.float64)).all(), (impl.name, name, fmt)
