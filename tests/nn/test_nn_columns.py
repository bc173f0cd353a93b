"""The trainer's zero-column skip (``stabkit.nn._columns``): the first layer
multiplies only the input columns that are nonzero somewhere in the batch.
It must give the dense path's losses and gradients (only the order of a sum
changes), exact zeros in the skipped kernel rows' gradient, and leave Adam
updating every weight."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from stabkit.nn import (
    Adam,
    Dense,
    NonFiniteError,
    Sequential,
    SparseCategoricalCrossentropy,
    _columns,
)

_PLAN = _columns.plan


def _use_plan(monkeypatch, skip):
    """Make fit always (skip) or never use the zero-column plan. The plan is
    part of the NumPy step only, so the C step is turned off for both."""
    monkeypatch.setenv("STABKIT_NATIVE", "0")
    monkeypatch.setattr(_columns, "plan", functools.partial(_PLAN, force=True) if skip else (lambda *a: None))


def _model(dtype="float64", d=12, seed=0):
    m = Sequential([Dense(7, activation="relu"), Dense(5, activation="relu"), Dense(3)])
    m.compile(optimizer=Adam(learning_rate=1e-2), loss=SparseCategoricalCrossentropy(from_logits=True), dtype=dtype)
    m.build(d, seed=seed)
    return m


def _data(n=40, d=12, seed=0):
    """Inputs with structure: columns 0-2 zero everywhere, 3-5 mostly zero."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    X[:, :3] = 0
    X[:, 3:6] *= rng.random((n, 3)) < 0.1
    return X, rng.integers(0, 3, n)


def _grads(model):
    return [g.copy() for layer in model.layers for g in (layer.dW, layer.db)]


def _skip_step(model, x, y, rows):
    """One forward and backward through the skip path: ``x[:, rows]`` only."""
    with np.errstate(all="ignore"):
        out = model._backprop(np.ascontiguousarray(x[:, rows]), y, rows)
    return model.loss(y, out), _grads(model)


@pytest.mark.parametrize("case", ["some zero columns", "no zero columns", "all zero columns"])
def test_skip_path_gives_the_dense_loss_and_gradients(case):
    X, y = _data()
    x, y = X[:16].copy(), y[:16]
    if case == "no zero columns":
        x = np.random.default_rng(1).normal(size=x.shape)
    elif case == "all zero columns":
        x[:] = 0
    model = _model()
    dense = model.gradients(x, y)
    dense_loss = model.loss(y, model(x))
    live = np.flatnonzero(np.any(x != 0, axis=0))
    dead = np.flatnonzero(np.all(x == 0, axis=0))
    assert len(live) == {"some zero columns": 12 - len(dead), "no zero columns": 12, "all zero columns": 0}[case]
    # the kept columns in any order (the plan reorders them), as the trainer does
    rows = np.random.default_rng(2).permutation(live)
    loss, skip = _skip_step(model, x, y, rows)
    assert loss == pytest.approx(dense_loss, rel=1e-12, abs=1e-15)
    for g, h in zip(skip, dense):
        np.testing.assert_allclose(g, h, rtol=1e-12, atol=1e-15)
    assert np.all(skip[0][dead] == 0) and np.all(dense[0][dead] == 0)
    # and the dense path again afterwards is unaffected by the skip step
    assert all(np.array_equal(g, h) for g, h in zip(model.gradients(x, y), dense))


def test_plan_skips_only_columns_that_are_zero_in_the_batch():
    X, _ = _data(n=200)
    plan = _columns.plan(X, 16, 7, 1, force=True)
    order = np.random.default_rng(3).permutation(len(X))
    lows = plan.starts(order, 16)
    assert len(lows) == -(-len(X) // 16)
    for step, lo in enumerate(lows):
        idx = order[step * 16 : (step + 1) * 16]
        assert np.all(X[idx][:, plan.order[:lo]] == 0)  # what is skipped is zero
        assert lo == len(plan.order) or np.any(X[idx][:, plan.order[lo]] != 0)  # and the first kept is not
        np.testing.assert_array_equal(plan.X[idx, lo:], X[idx][:, plan.order[lo:]])
    assert set(plan.order[:3]) == {0, 1, 2}  # the columns zero everywhere come first


def _fit(monkeypatch, skip, dtype="float64", X=None, y=None, **kw):
    X, y = _data(n=64) if X is None else (X, y)
    _use_plan(monkeypatch, skip)
    model = _model(dtype, d=X.shape[1])
    return model, model.fit(X, y, verbose=0, seed=0, **{"epochs": 3, "batch_size": 8, **kw})


def test_fit_with_the_skip_matches_the_dense_fit(monkeypatch):
    dense, hd = _fit(monkeypatch, skip=False)
    skip, hs = _fit(monkeypatch, skip=True)
    np.testing.assert_allclose(hs.history["loss"], hd.history["loss"], rtol=1e-12)
    for a, b in zip(skip.get_weights(), dense.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("dtype", ["float32", "mixed_float16"])
def test_fit_with_the_skip_in_lower_precision(monkeypatch, dtype):
    _, hd = _fit(monkeypatch, skip=False, dtype=dtype)
    skip, hs = _fit(monkeypatch, skip=True, dtype=dtype)
    assert skip.layers[0].kernel.dtype == np.float32
    np.testing.assert_allclose(hs.history["loss"], hd.history["loss"], rtol=1e-5 if dtype == "float32" else 2e-2)


def test_skipped_rows_get_zero_gradient_and_adam_still_moves_them(monkeypatch):
    """Column 5 is nonzero only in the first batch: in the second its kernel
    row's gradient is exactly 0, yet Adam moves it (the momentum from step 1)."""
    X, y = _data(n=16)
    X[:, 5] = 0
    X[0, 5] = 1.5
    seen = []

    def on_step(epoch, step):
        seen.append((model.layers[0].dW[5].copy(), model.layers[0].kernel[5].copy()))

    _use_plan(monkeypatch, True)
    model = _model()
    before = model.layers[0].kernel[5].copy()
    model.fit(X, y, epochs=1, batch_size=8, shuffle=False, verbose=0, on_step=on_step)
    (g1, w1), (g2, w2) = seen
    moved = g1 != 0  # (a unit the ReLU switched off in the whole batch has 0 too)
    assert moved.sum() >= 2 and np.all(g2 == 0)
    assert np.all(w1[moved] != before[moved]) and np.all(w2[moved] != w1[moved])
    assert np.all(model.layers[0].dW[:3] == 0)


def test_a_non_finite_kernel_row_of_a_zero_column_still_stops_the_fit(monkeypatch):
    """0 * inf is NaN: the dense path's logits are NaN, and so must the
    trainer's be, although the column is zero in every batch."""
    X, y = _data(n=32)
    for skip in (False, True):
        _use_plan(monkeypatch, skip)
        model = _model()
        w = model.get_weights()
        w[0][1] = np.inf  # column 1 is zero everywhere
        model.set_weights(w)
        with pytest.raises(NonFiniteError, match="epoch 1, step 1"):
            model.fit(X, y, epochs=1, batch_size=8, verbose=0)


def test_a_non_finite_step_is_redone_densely(monkeypatch):
    """With on_nonfinite='continue' the NaN gradient is applied: the skip
    must not leave the zero columns' kernel rows finite where dense would not."""
    X, y = _data(n=32)
    X[-1, 6] = np.nan  # in the last step, so no later dense step can spread it
    runs = []
    for skip in (False, True):
        model, h = _fit(monkeypatch, skip=skip, X=X, y=y, epochs=1, shuffle=False, on_nonfinite="continue")
        runs.append((np.isnan(model.layers[0].kernel), h.history["nonfinite_steps"]))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    assert runs[0][1] == runs[1][1] == [1] and runs[0][0][:3].all()


def test_the_plan_is_used_only_where_it_pays():
    rng = np.random.default_rng(0)
    dense = rng.random((2000, 100))
    assert _columns.plan(dense, 256, 25, 10) is None  # nothing to skip
    sparse = dense * (rng.random((1, 100)) < 0.5)  # half the columns are zero
    assert _columns.plan(sparse, 256, 25, 10) is not None
    assert _columns.plan(sparse, 4, 25, 10) is None  # too few multiply-adds skipped per step
    assert _columns.plan(sparse, 256, 25, 1) is None  # not enough steps to repay the gather


@pytest.mark.parametrize("dtype", ["float64", "mixed_float16"])
def test_gh12_continue_past_a_non_finite_epoch_with_the_plan(monkeypatch, dtype):
    """Issue 12: after an epoch with a NaN loss, ``fit(on_nonfinite='continue')``
    crashed at its next step with the plan on ('int' object has no attribute
    'Wm': the end-of-epoch bookkeeping reused the name of the first layer).
    It must run every epoch and count the same steps as the dense fit."""
    X, y = _data(n=32)
    X[-1, 6] = np.nan  # the last step of every epoch (no shuffle) is non-finite
    runs = []
    for skip in (False, True):
        model, h = _fit(monkeypatch, skip=skip, dtype=dtype, X=X, y=y, epochs=3, shuffle=False, on_nonfinite="continue")
        assert h.epoch == [0, 1, 2]
        runs.append((np.isnan(model.layers[0].kernel), h.history["nonfinite_steps"]))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    assert runs[0][1] == runs[1][1] and all(k >= 1 for k in runs[1][1])
