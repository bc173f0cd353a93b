"""The trainer's C step (stabkit/_native/_cstep.c) against the NumPy step.

The NumPy step is the reference: for every architecture, loss and format the
C step handles, its gradient and logits must agree with the NumPy ones to
round-off, Adam's update must be bit-identical, a whole ``fit`` must land on
the same weights, and non-finite steps must be reported exactly as the NumPy
step reports them.
"""

from __future__ import annotations

import shutil
import sysconfig

import numpy as np
import pytest
from helpers.native import without_extension
from hypothesis import given, settings
from hypothesis import strategies as st

from stabkit.nn import (
    SGD,
    Adam,
    BinaryCrossentropy,
    CategoricalCrossentropy,
    Dense,
    NonFiniteError,
    Sequential,
    SparseCategoricalCrossentropy,
    _native,
    steps,
)

needs_c = pytest.mark.skipif(_native.library() is None, reason="the C extension is not built")


def test_the_extension_is_built_where_a_compiler_is():
    """A silently skipped build would silently lose the C step: where the
    interpreter's C compiler exists, the extension must have been built."""
    cc = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(cc) is None:
        pytest.skip(f"no C compiler ({cc}) here: the NumPy step is used")
    assert _native.library() is not None, "the C extension was not built (pip install -e . builds it)"


def _inputs(rng, n, d, density):
    X = rng.normal(size=(n, d)) * (rng.random((n, d)) < density)
    X[1] = 0  # an all-zero row
    if d > 3:
        X[:, 2] = 0  # a column that is zero everywhere
    return X


def _model(units, acts, dtype, loss, seed=0, d=20):
    model = Sequential([Dense(u, activation=a) for u, a in zip(units, acts)])
    model.compile(optimizer=Adam(learning_rate=1e-2), loss=loss, dtype=dtype)
    model.build(d, seed=seed)
    return model


def _labels(loss, rng, n, c):
    if isinstance(loss, SparseCategoricalCrossentropy):
        return rng.integers(0, c, n)
    if isinstance(loss, CategoricalCrossentropy):
        y = rng.random((n, c))
        y[::2] = np.eye(c)[rng.integers(0, c, len(y[::2]))]  # one-hot rows, and soft rows summing to != 1
        return y
    return (rng.random((n, c)) < 0.4).astype(float)


def _c_and_numpy(model, X, Y, idx):
    """The gradient and logits of one batch by the C step and by the NumPy step."""
    Xc = model._input(X)
    Yp = model.loss.prepare(Y, model.layers[-1].units)
    Z = np.zeros((len(X), model.layers[-1].units), model._compute)
    step = _native.StepKernel(model, Xc, Yp, Z, len(idx))
    assert step(idx, 0, len(idx)) == _native.OK
    g_c, z_c = model._G.copy(), Z[: len(idx)].copy()
    out = model._backprop(Xc[idx], Yp[idx])
    return g_c, z_c, model._G.copy(), out


LOSSES = [
    SparseCategoricalCrossentropy(from_logits=True),
    CategoricalCrossentropy(from_logits=True),
    BinaryCrossentropy(from_logits=True),
]
# units of the first layer around the vector widths: 8 floats, 4 doubles per vector
FIRST_UNITS = [1, 3, 4, 8, 9, 25, 33, 40]


@needs_c
@pytest.mark.parametrize("dtype, rtol", [("float64", 1e-12), ("float32", 2e-5)])
@pytest.mark.parametrize("loss", LOSSES, ids=lambda l: type(l).__name__)
@pytest.mark.parametrize("u0", FIRST_UNITS)
def test_gradient_and_logits_match_the_numpy_step(dtype, rtol, loss, u0):
    rng = np.random.default_rng(u0)
    model = _model([u0, 7, 5], ["relu", "sigmoid", "linear"], dtype, loss)
    X = _inputs(rng, 50, 20, 0.3)
    Y = _labels(loss, rng, 50, 5)
    idx = rng.permutation(50)[:37]
    g_c, z_c, g_np, z_np = _c_and_numpy(model, X, Y, idx)
    scale = np.abs(g_np).max()
    np.testing.assert_allclose(g_c, g_np, rtol=0, atol=rtol * scale)
    np.testing.assert_allclose(z_c, z_np, rtol=rtol, atol=rtol * np.abs(z_np).max())


@needs_c
@pytest.mark.parametrize("acts", [["linear"], ["relu", "linear"], ["sigmoid", "relu", "linear"], ["linear", "linear", "linear"]])
@pytest.mark.parametrize("density", [0.05, 1.0])
def test_depths_activations_and_dense_inputs(acts, density):
    rng = np.random.default_rng(len(acts))
    units = [6, 11, 4][-len(acts) :]
    loss = SparseCategoricalCrossentropy(from_logits=True)
    model = _model(units, acts, "float64", loss)
    X = _inputs(rng, 40, 20, density)
    Y = _labels(loss, rng, 40, units[-1])
    for idx in (np.arange(40), np.array([3]), np.array([1, 1, 2])):  # whole, one row, repeated rows
        g_c, z_c, g_np, z_np = _c_and_numpy(model, X, Y, idx)
        np.testing.assert_allclose(g_c, g_np, rtol=0, atol=1e-13 * max(1, np.abs(g_np).max()))
        np.testing.assert_allclose(z_c, z_np, rtol=1e-13, atol=1e-13)


@needs_c
def test_a_batch_of_zero_rows_has_only_bias_gradients_in_the_first_layer():
    model = _model([5, 3], ["relu", "linear"], "float64", SparseCategoricalCrossentropy(from_logits=True))
    X = np.zeros((4, 20))
    g_c, _, g_np, _ = _c_and_numpy(model, X, np.array([0, 1, 2, 0]), np.arange(4))
    np.testing.assert_allclose(g_c, g_np, rtol=0, atol=1e-15)
    assert not model.layers[0].dW.any()


@needs_c
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_adam_in_c_is_bit_identical_to_the_numpy_passes(dtype, monkeypatch):
    rng = np.random.default_rng(1)
    P0 = rng.normal(size=1001).astype(dtype)
    grads = [rng.normal(size=1001).astype(dtype) * 10.0 ** rng.integers(-30, 5) for _ in range(20)]
    results = []
    for native in ("1", "0"):
        monkeypatch.setenv("STABKIT_NATIVE", native)
        opt = Adam(learning_rate=3e-3, beta_1=0.8, epsilon=1e-6)
        opt.build({"p": (slice(0, 1001), (1001,))}, 1001, dtype)
        P, G = P0.copy(), np.empty_like(P0)
        for g in grads:
            G[:] = g
            opt.apply(P, G)
        assert isinstance(opt._part_list[0]["update"], _native.AdamKernel) == (native == "1")
        results.append((P, opt.state["p"]["m"].copy(), opt.state["p"]["v"].copy()))
    for c, n in zip(*results):
        np.testing.assert_array_equal(c, n)


def _fit(monkeypatch, native, dtype="float32", epochs=3, lr=1e-2, **kw):
    monkeypatch.setenv("STABKIT_NATIVE", "1" if native else "0")
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    model = Sequential([Dense(25, activation="relu"), Dense(15, activation="relu"), Dense(10)])
    model.compile(optimizer=Adam(learning_rate=lr), loss=SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"], dtype=dtype)
    h = model.fit(X / 16, y, epochs=epochs, batch_size=32, seed=3, verbose=0, **kw)
    return model, h


@needs_c
@pytest.mark.parametrize("dtype, rtol", [("float64", 1e-9), ("float32", 1e-3)])
def test_fit_lands_on_the_same_weights(monkeypatch, dtype, rtol):
    m_c, h_c = _fit(monkeypatch, True, dtype)
    m_np, h_np = _fit(monkeypatch, False, dtype)
    assert h_c.params["step"] == "C" and h_np.params["step"] == "NumPy"
    assert h_np.params["step_reason"] == "STABKIT_NATIVE=0"
    for a, b in zip(m_c.get_weights(), m_np.get_weights()):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * np.abs(b).max())
    np.testing.assert_allclose(h_c.history["loss"], h_np.history["loss"], rtol=rtol)
    assert h_c.history["accuracy"][-1] == pytest.approx(h_np.history["accuracy"][-1], abs=0.01)


@needs_c
def test_a_nonfinite_step_is_reported_as_the_numpy_step_reports_it(monkeypatch):
    """A learning rate of 1e30 overflows the weights; the C step hands the
    failing step to the NumPy step, which stops with the same message."""
    errors = []
    for native in (True, False):
        with pytest.raises(NonFiniteError) as e:
            _fit(monkeypatch, native, epochs=2, lr=1e30)
        errors.append((str(e.value), e.value.epoch, e.value.step))
    assert errors[0] == errors[1]


@needs_c
def test_continue_after_nonfinite_steps_counts_them_alike(monkeypatch):
    counts = []
    for native in (True, False):
        _, h = _fit(monkeypatch, native, epochs=2, lr=1e30, on_nonfinite="continue")
        counts.append(h.history["nonfinite_steps"])
    assert counts[0] == counts[1] and counts[0][-1] > 0


@needs_c
def test_an_infinite_first_kernel_leaves_the_step_to_numpy():
    """0 * inf is NaN: with an inf in the first kernel, skipping zero inputs
    would hide it, so the C step computes nothing and says so."""
    loss = SparseCategoricalCrossentropy(from_logits=True)
    model = _model([4, 3], ["relu", "linear"], "float32", loss)
    model.layers[0].kernel[2, 1] = np.inf  # input column 2 is zero everywhere
    X = _inputs(np.random.default_rng(0), 10, 20, 0.5)
    step = _native.StepKernel(model, model._input(X), loss.prepare(np.zeros(10, int), 3), np.zeros((10, 3), np.float32), 10)
    assert step(np.arange(10), 0, 10) == _native.NONFINITE_KERNEL
    with np.errstate(invalid="ignore"):
        model._backprop(model._input(X), np.zeros(10, int))
    assert np.isnan(model._G).any()  # as NumPy computes it: 0 * inf = NaN


@needs_c
@pytest.mark.parametrize("loss", [SparseCategoricalCrossentropy, CategoricalCrossentropy, BinaryCrossentropy])
def test_label_smoothing_trains_the_smoothed_targets(monkeypatch, loss):
    """The C step's gradient, softmax(z) - onehot(y), never saw the smoothed
    targets: with label_smoothing it trained on the plain ones (the reported
    loss smoothed, the weights not). Such a loss runs the NumPy step, which
    lands where STABKIT_NATIVE=0 lands, and away from the unsmoothed fit."""
    rng = np.random.default_rng(1)
    X = _inputs(rng, 64, 20, 0.7)
    Y = _labels(loss(), rng, 64, 3)
    fits = {}
    for native, ls in ((True, 0.2), (False, 0.2), (True, 0.0)):
        monkeypatch.setenv("STABKIT_NATIVE", "1" if native else "0")
        model = _model([8, 3], ["relu", "linear"], "float64", loss(from_logits=True, label_smoothing=ls), seed=2)
        h = model.fit(X, Y, epochs=3, batch_size=16, shuffle=False, verbose=0)
        fits[native, ls] = model.get_weights(), h.params
    assert fits[True, 0.2][1]["step"] == "NumPy" and fits[True, 0.2][1]["step_reason"] == "label smoothing"
    assert fits[True, 0.0][1]["step"] == "C"
    for a, b, plain in zip(fits[True, 0.2][0], fits[False, 0.2][0], fits[True, 0.0][0]):
        np.testing.assert_array_equal(a, b)
    assert not all(np.allclose(a, p, rtol=1e-3) for a, p in zip(fits[True, 0.2][0], fits[True, 0.0][0]))


@pytest.mark.parametrize(
    "build, reason",
    [
        (lambda: _model([4, 3], ["relu", "softmax"], "float32", SparseCategoricalCrossentropy()), "a softmax output layer"),
        (lambda: _model([4, 3], ["relu", "sigmoid"], "float32", BinaryCrossentropy()), "a sigmoid output layer"),
        (lambda: _model([4, 3], ["softmax", "linear"], "float32", SparseCategoricalCrossentropy(from_logits=True)), "a softmax hidden layer"),
        (lambda: _model([4, 3], ["relu", "linear"], "float32", SparseCategoricalCrossentropy()), "the loss is not computed from logits"),
        (lambda: _model([4, 3], ["relu", "linear"], "float16", SparseCategoricalCrossentropy(from_logits=True)), "dtype mixed_float16"),
    ],
)
def test_what_stays_with_the_numpy_step(build, reason):
    if _native.library() is None:
        pytest.skip("the C extension is not built")
    assert _native.unsupported(build()) == reason


def test_sgd_and_the_numpy_step_still_train(monkeypatch):
    """SGD has no C update, and STABKIT_NATIVE=0 forces the NumPy step: both train."""
    monkeypatch.setenv("STABKIT_NATIVE", "0")
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    model = Sequential([Dense(16, activation="relu"), Dense(10)])
    model.compile(optimizer=SGD(learning_rate=0.1), loss=SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    h = model.fit(X / 16, y, epochs=5, batch_size=32, seed=0, verbose=0)
    assert h.params["step"] == "NumPy" and h.history["accuracy"][-1] > 0.8


@needs_c
def test_the_float32_exp_of_the_c_step_is_exp_in_double_rounded_once():
    """The C step's float32 exp (for arguments <= 0) is a double-precision
    series rounded once: on 10^6 arguments from all of float32's negative
    range that still round above 0, it agrees with exp in float64 rounded to
    float32 on every one, and it keeps the special values."""
    import ctypes

    fn = _native.library().exp_nonpos_f32_array
    fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
    rng = np.random.default_rng(5)
    # bit patterns from -0 to -104 (exp(-104) is below float32's least subnormal)
    x = rng.integers(0x80000000, 0xC2D00000, 1_000_000, dtype=np.uint64).astype(np.uint32).view(np.float32)
    specials = np.array([0.0, -0.0, -np.inf, np.nan, -1e-45, -87.33655, -103.97208, -104.0, -1e30], np.float32)
    x = np.concatenate([x, specials])
    y = np.empty_like(x)
    fn(x.ctypes.data, y.ctypes.data, len(x))
    expected = np.exp(x.astype(np.float64)).astype(np.float32)
    np.testing.assert_array_equal(y, expected)  # NaN == NaN here
    assert y[-9] == y[-8] == 1 and y[-7] == 0 and np.isnan(y[-6]) and y[-1] == 0


def test_without_the_extension_fit_runs_the_numpy_step(monkeypatch):
    """Where the extension was not built (no C compiler at install time),
    fit says so (and warns: see test_nn_packaging) and trains with the NumPy step."""
    without_extension(monkeypatch)
    monkeypatch.setattr(_native, "_WARNED", False)
    why = ("the C extension stabkit._native._kernels was not built at install time "
           "(it needs a C compiler and NumPy's headers)")
    model = _model([6, 4], ["relu", "linear"], "float32", SparseCategoricalCrossentropy(from_logits=True))
    assert _native.unsupported(model) == why
    X = _inputs(np.random.default_rng(0), 64, 20, 0.5)
    with pytest.warns(_native.NativeStepWarning, match="NumPy step"):
        h = model.fit(X, np.arange(64) % 4, epochs=2, batch_size=16, verbose=0)
    assert h.params == {"verbose": 0, "epochs": 2, "steps": 4, "batch_size": 16, "step": "NumPy", "step_reason": why}
    assert isinstance(model.optimizer._part_list[0]["update"], steps.NumPyAdam)  # and Adam runs its NumPy passes


@needs_c
@settings(max_examples=60, deadline=None)
@given(
    units=st.lists(st.integers(1, 40), min_size=1, max_size=4),
    acts=st.lists(st.sampled_from(["linear", "relu", "sigmoid"]), min_size=4, max_size=4),
    d=st.integers(1, 45),
    n=st.integers(1, 70),
    density=st.sampled_from([0.0, 0.1, 0.5, 1.0]),
    batch=st.integers(1, 80),
    dtype=st.sampled_from(["float32", "float64"]),
    which=st.integers(0, 2),
    seed=st.integers(0, 2**16),
)
def test_any_shape_matches_the_numpy_step(units, acts, d, n, density, batch, dtype, which, seed):
    """Random depths, widths, input sizes, densities and batch sizes: the C
    step's gradient and logits agree with the NumPy step's (this also walks
    every buffer size the C code computes)."""
    rng = np.random.default_rng(seed)
    loss = [SparseCategoricalCrossentropy(from_logits=True), CategoricalCrossentropy(from_logits=True), BinaryCrossentropy(from_logits=True)][which]
    if which == 0 and units[-1] < 2:
        units = units[:-1] + [2]
    model = _model(units, acts[: len(units) - 1] + ["linear"], dtype, loss, seed=seed, d=d)
    X = rng.normal(size=(n, d)) * (rng.random((n, d)) < density)
    Y = _labels(loss, rng, n, units[-1])
    idx = rng.integers(0, n, min(batch, n))
    g_c, z_c, g_np, z_np = _c_and_numpy(model, X, Y, idx)
    tol = 1e-12 if dtype == "float64" else 2e-5
    # relative to the largest gradient, or to 1/batch (a mean of order-1 terms)
    # where every gradient is round-off (one class: softmax(z) - y is 0 in exact arithmetic)
    np.testing.assert_allclose(g_c, g_np, rtol=0, atol=tol * max(1 / len(idx), np.abs(g_np).max()))
    np.testing.assert_allclose(z_c, z_np, rtol=0, atol=tol * max(1.0, np.abs(z_np).max()))
