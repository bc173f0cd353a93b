"""The seam between the NumPy and the C step (stabkit/nn/steps.py), and the
check that the ctypes mirror of ``plan_t`` matches the C struct field by
field (stabkit/_native/step.py)."""

from __future__ import annotations

import ctypes

import numpy as np
import pytest

from stabkit._native import step
from stabkit.nn import Adam, Dense, Sequential, SparseCategoricalCrossentropy, _native, steps

needs_c = pytest.mark.skipif(_native.library() is None, reason="the C extension is not built")


def _swapped(a: str, b: str) -> type[ctypes.Structure]:
    """The mirror with the fields ``a`` and ``b`` in each other's place."""
    fields = list(step.Plan._fields_)
    i, j = (next(k for k, f in enumerate(fields) if f[0] == name) for name in (a, b))
    fields[i], fields[j] = fields[j], fields[i]
    return type("SwappedPlan", (ctypes.Structure,), {"_fields_": fields})


def _c_swapped(lib, a: str, b: str):
    """The extension as it would be with ``a`` and ``b`` swapped in the C
    struct only: the same names, the two fields' offsets exchanged."""

    def plan_layout(table, cap):
        count = lib.plan_layout(table, cap)
        names = lib.plan_fields().decode().split()
        i, j = names.index(a), names.index(b)
        table[2 * i], table[2 * j] = table[2 * j], table[2 * i]
        return count

    return type("CSwapped", (), {"plan_fields": lib.plan_fields, "plan_layout": staticmethod(plan_layout)})()


@needs_c
def test_the_mirror_matches_plan_t_field_by_field():
    lib = _native.library()
    names = lib.plan_fields().decode().split()
    assert names == [name for name, _ in step.Plan._fields_]  # every field, in order
    assert _native.layout_mismatch(lib, step.Plan) is None


@needs_c
@pytest.mark.parametrize("a, b", [("L", "d"), ("P", "G"), ("koff", "act"), ("Da", "Db")])
def test_two_same_size_fields_swapped_in_the_mirror_are_caught(a, b):
    """sizeof(plan_t) is unchanged by the swap: only the field-by-field check sees it."""
    mirror = _swapped(a, b)
    assert ctypes.sizeof(mirror) == ctypes.sizeof(step.Plan)
    assert getattr(mirror, a).size == getattr(mirror, b).size
    why = _native.layout_mismatch(_native.library(), mirror)
    assert why is not None and f"{a} " in why and f"{b} " in why


@needs_c
@pytest.mark.parametrize("a, b", [("kind", "size"), ("ptr", "val"), ("din", "dout")])
def test_two_same_size_fields_swapped_in_the_c_struct_are_caught(a, b):
    why = _native.layout_mismatch(_c_swapped(_native.library(), a, b), step.Plan)
    assert why is not None and why.startswith(f"plan_t.{a} has offset")


@needs_c
def test_a_mismatched_mirror_turns_the_c_step_off_and_says_why(monkeypatch):
    monkeypatch.delenv("STABKIT_NATIVE", raising=False)
    monkeypatch.setattr(step, "Plan", _swapped("P", "G"))
    monkeypatch.setattr(step, "_LIB", False)  # not looked for yet
    monkeypatch.setattr(step, "_WHY", step._WHY)  # restored afterwards
    assert _native.library() is None
    which, why = _native.status()
    assert which == "NumPy" and why.startswith("the C extension is stale (plan_t has the fields")


def _model(dtype="float32"):
    model = Sequential([Dense(6, activation="relu"), Dense(4)])
    model.compile(optimizer=Adam(), loss=SparseCategoricalCrossentropy(from_logits=True), dtype=dtype)
    model.build(10, seed=0)
    return model


def _data(n=24):
    rng = np.random.default_rng(0)
    return (rng.normal(size=(n, 10)) * (rng.random((n, 10)) < 0.5)).astype(np.float32), rng.integers(0, 4, n)


def _choose(model, X, y, batch_size=8):
    Z = np.empty((len(X), 4), model._compute)
    return steps.choose_step(model, model._input(X), model.loss.prepare(y, 4), Z, Z, batch_size, 1), Z


@needs_c
def test_choose_step_picks_c_where_it_applies(monkeypatch):
    monkeypatch.delenv("STABKIT_NATIVE", raising=False)
    (step, why), _ = _choose(_model(), *_data())
    assert isinstance(step, steps.NativeStep) and step.name == "C" and why is None


@pytest.mark.parametrize("case", ["STABKIT_NATIVE=0", "mixed_float16"])
def test_choose_step_picks_numpy_and_says_why(monkeypatch, case):
    if case == "STABKIT_NATIVE=0":
        monkeypatch.setenv("STABKIT_NATIVE", "0")
    elif _native.library() is None:
        pytest.skip("the C extension is not built")
    (step, why), _ = _choose(_model("mixed_float16" if case == "mixed_float16" else "float32"), *_data())
    assert isinstance(step, steps.NumPyStep) and step.name == "NumPy" and why == case.replace("mixed", "dtype mixed")


@needs_c
def test_both_steps_give_the_same_gradient_and_logits(monkeypatch):
    model, (X, y) = _model(), _data()
    order = np.random.default_rng(1).permutation(len(X))
    results = []
    for native in ("1", "0"):
        monkeypatch.setenv("STABKIT_NATIVE", native)
        (step, _), Z = _choose(model, X, y)
        assert step(order, 8, 16) and step.failed is None
        results.append((model._G.copy(), Z[8:16].copy()))
    for c, n in zip(*results):
        np.testing.assert_allclose(c, n, rtol=0, atol=2e-6 * np.abs(n).max())


@needs_c
def test_the_c_step_hands_a_nonfinite_step_to_numpy(monkeypatch):
    """With an inf in the first kernel the C kernel computes nothing; the
    seam's C step then runs the NumPy step, which reports the batch."""
    monkeypatch.delenv("STABKIT_NATIVE", raising=False)
    model, (X, y) = _model(), _data()
    model.layers[0].kernel[0, 0] = np.inf
    (step, _), Z = _choose(model, X, y)
    with np.errstate(all="ignore"):
        assert step(np.arange(len(X)), 0, 8) is False
    yb, z, out = step.failed
    assert np.array_equal(yb, y[:8]) and np.isnan(model._G).any() and np.array_equal(Z[:8], z, equal_nan=True)


@pytest.mark.parametrize("dtype", ["float16", "float32"])
def test_adam_update_is_c_where_the_kernel_applies(dtype):
    P, G, m, v, tmp = (np.zeros(5, dtype) for _ in range(5))
    update = steps.adam_update(P, G, m, v, tmp)
    c = dtype == "float32" and _native.library() is not None
    assert isinstance(update, _native.AdamKernel if c else steps.NumPyAdam)
