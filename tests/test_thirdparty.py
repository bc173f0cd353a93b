"""Adapters: detection, skipping, formats, and agreement with the libraries."""

import importlib.util

import numpy as np
import pytest

from stabkit.floats import FORMATS
from stabkit.analysis.thirdparty import DeviceUnavailable, framework_impl, resolve, tier_impl

BF16 = FORMATS["bfloat16"].dtype


def test_unknown_and_missing(monkeypatch):
    with pytest.raises(ValueError, match="unknown implementation 'theano'"):
        resolve(["accurate", "theano"])
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
    # SciPy 1.17 computes float16 input in float64, 1.18 in float32: the note names what came back
    wide = sp.expit(x.astype(np.float16)).dtype.name
    assert wide in ("float32", "float64")
    assert y.dtype == np.float16 and s.notes[("sigmoid", "float16")] == f"returned {wide}, rounded to float16"
    assert np.array_equal(y, sp.expit(x.astype(np.float16)).astype(np.float16))
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


# ------------------------------------------------------------ issue 17: Keras and TensorFlow

import os
import subprocess
import sys
from pathlib import Path

from stabkit.analysis import keras_tf
from stabkit.analysis.thirdparty import available

ROOT = Path(__file__).resolve().parents[1]


def test_tensorflow_absent_is_skipped_with_its_reason(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "tensorflow" else real(n, *a))
    monkeypatch.setattr(keras_tf, "_IMPORTED", {})
    impls, skipped = resolve(["accurate", "tensorflow"])
    assert [i.name for i in impls] == ["accurate"]
    assert skipped == ["tensorflow: skipped, package 'tensorflow' is not installed (pip install tensorflow)"]
    with pytest.raises(ValueError, match="^tensorflow: skipped, package 'tensorflow' is not installed"):
        framework_impl("tensorflow")


def test_keras_and_tensorflow_are_imported_only_when_asked_for():
    code = ("import sys; from stabkit.cli import app; from stabkit.analysis.thirdparty import resolve; "
            "resolve(['accurate', 'numpy', 'scipy']); print(sorted({'keras', 'tensorflow', 'jax', 'torch'} & set(sys.modules)))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0 and r.stdout.strip() == "[]", r.stderr


@pytest.mark.skipif(importlib.util.find_spec("keras") is None or importlib.util.find_spec("tensorflow") is not None,
                    reason="needs keras installed and tensorflow not installed")
def test_keras_whose_backend_is_missing_is_skipped_in_one_line():
    # Keras imports the backend KERAS_BACKEND names; stabkit reports that import's failure and goes on
    env = {**os.environ, "KERAS_BACKEND": "tensorflow"}
    r = subprocess.run([sys.executable, "-m", "stabkit", "eval", "sigmoid", "1", "--impls", "accurate,keras", "--json"],
                       capture_output=True, text=True, cwd=ROOT, env=env)
    assert r.returncode == 0, r.stderr
    assert r.stderr.splitlines() == [
        "keras: skipped, importing it failed (ModuleNotFoundError: No module named 'tensorflow'); Keras loads the "
        "backend named by KERAS_BACKEND (else ~/.keras/keras.json): set it to an installed one (jax, torch or tensorflow)"]
    assert list(__import__("json").loads(r.stdout)["implementations"]) == ["accurate"]


@pytest.fixture
def keras():
    """Keras on the backend it loads (conftest names JAX when nothing else is
    named); skipped with the reason it cannot load otherwise."""
    reason = available("keras")
    if reason:
        pytest.skip(reason)
    import keras

    return keras


def test_keras_adapter_is_keras(keras):
    """Mine vs gold: each call is keras.ops / keras.losses on the same input, one value per sample."""
    k = framework_impl("keras")
    assert k.version.startswith(f"keras {keras.__version__} ({keras.backend.backend()} backend")
    x = np.array([[2.0, -1.0, 0.5], [30.0, 0.0, -3.0]], dtype=np.float32)
    gold = lambda r: np.asarray(keras.ops.convert_to_numpy(r))  # noqa: E731
    for f in ("sigmoid", "log_sigmoid", "softplus"):
        assert np.array_equal(k.evaluate(f, "float32", (x[0],)), gold(getattr(keras.ops, f)(x[0]))), f
    for f in ("softmax", "log_softmax", "logsumexp"):
        assert np.array_equal(k.evaluate(f, "float32", (x,)), gold(getattr(keras.ops, f)(x, axis=-1))), f
    labels, onehot = np.array([0, 2]), np.eye(3, dtype=np.float32)[[0, 2]]
    for fl in (True, False):
        p = x if fl else np.full_like(x, 1 / 3)
        got = k.evaluate("sparse_categorical_crossentropy", "float32", (labels, p), from_logits=fl)
        assert np.array_equal(got, gold(keras.losses.sparse_categorical_crossentropy(labels, p, from_logits=fl)))
        got = k.evaluate("categorical_crossentropy", "float32", (onehot, p), from_logits=fl)
        assert np.array_equal(got, gold(keras.losses.categorical_crossentropy(onehot, p, from_logits=fl)))


def test_keras_binary_crossentropy_is_per_sample_and_clips_probabilities(keras):
    k = framework_impl("keras")
    # from logits: log1p(exp(-40)) and softplus(-2), one value per sample (Keras's mean is over one column)
    z, y = np.array([-40.0, 2.0]), np.array([0.0, 1.0])
    got = k.evaluate("binary_crossentropy", "float64", (y, z))
    assert got.dtype == np.float64 and ("binary_crossentropy", "float64") not in k.notes
    with keras_tf._x64(keras.backend.backend()):  # float64 on JAX, as the adapter has it
        gold = keras.ops.convert_to_numpy(keras.losses.binary_crossentropy(y[:, None], z[:, None], from_logits=True))
    assert np.array_equal(got, np.asarray(gold))
    # keras.ops.mean rounds a float64 mean through float32 (Keras 3.15): float32's accuracy, not float64's
    assert got == pytest.approx([np.log1p(np.exp(-40.0)), np.log1p(np.exp(-2.0))], rel=2**-23)
    # from probabilities Keras clips p to [1e-7, 1 - 1e-7]: the loss of p = 1e-20 at y = 0 is ~1e-7, not 1e-20
    p = k.evaluate("binary_crossentropy", "float32", (np.array([0.0], np.float32), np.array([1e-20], np.float32)),
                   from_logits=False)
    assert 0.99e-7 < p[0] < 1.3e-7


def test_keras_formats_are_kept(keras):
    k = framework_impl("keras")
    x = np.array([-3.0, 0.5, 25.0])
    b = k.evaluate("sigmoid", "bfloat16", (x.astype(BF16),))
    assert b.dtype == BF16 and ("sigmoid", "bfloat16") not in k.notes  # computed in bfloat16
    d = k.evaluate("softplus", "float64", (np.array([-800.0, 0.5]),))
    assert d.dtype == np.float64 and ("softplus", "float64") not in k.notes and d[0] == 0.0
    if keras.backend.backend() == "jax":
        import jax

        assert not jax.config.jax_enable_x64  # x64 only around the call: nothing switched for the process


def test_keras_on_a_missing_gpu_is_a_device_error(keras):
    backend = keras.backend.backend()
    has_gpu = {"jax": lambda: any(d.platform == "gpu" for d in __import__("jax").devices()),
               "torch": lambda: __import__("torch").cuda.is_available(),
               "tensorflow": lambda: bool(__import__("tensorflow").config.list_physical_devices("GPU"))}.get(backend)
    if has_gpu is None or has_gpu():
        pytest.skip(f"needs the jax, torch or tensorflow backend without a GPU (backend {backend})")
    with pytest.raises(DeviceUnavailable, match=f"^keras: --device cuda requested but its {backend} backend has no GPU"):
        framework_impl("keras", "cuda")


def test_tensorflow_adapter_is_tf_nn():
    reason = available("tensorflow")
    if reason:
        pytest.skip(reason)
    import tensorflow as tf

    t = framework_impl("tensorflow")
    x = np.array([[2.0, -1.0, 0.5], [30.0, 0.0, -3.0]], dtype=np.float32)
    assert np.array_equal(t.evaluate("log_softmax", "float32", (x,)), tf.nn.log_softmax(x).numpy())
    assert np.array_equal(t.evaluate("logsumexp", "float32", (x,)), tf.math.reduce_logsumexp(x, axis=-1).numpy())
    labels = np.array([0, 2])
    want = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=x).numpy()
    assert np.array_equal(t.evaluate("sparse_categorical_crossentropy", "float32", (labels, x)), want)
    b = t.evaluate("sigmoid", "bfloat16", (x[0].astype(BF16),))
    assert b.dtype == BF16
    assert np.array_equal(b.astype(np.float32), tf.cast(tf.nn.sigmoid(tf.cast(x[0], tf.bfloat16)), tf.float32).numpy())
    # A masked logit (-inf) with target 0: TensorFlow's dense softmax cross-entropy gives NaN (0 * -inf inside),
    # its sparse one and stabkit give the finite loss; the adapter passes TensorFlow's NaN through unchanged.
    z = np.array([[0.5, -np.inf, 1.0]])
    assert np.isnan(t.evaluate("categorical_crossentropy", "float64", (np.array([[1.0, 0.0, 0.0]]), z))[0])
    assert np.isfinite(t.evaluate("sparse_categorical_crossentropy", "float64", (np.array([0]), z))[0])
    if not tf.config.list_physical_devices("GPU"):
        with pytest.raises(DeviceUnavailable, match=r"^tensorflow: --device cuda requested but "):
            framework_impl("tensorflow", "cuda")
