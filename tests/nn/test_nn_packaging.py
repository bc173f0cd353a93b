"""Issue 12, "works on a fresh machine": an install without the compiled
extension warns once, at the first ``fit`` that would have run in C, and
:func:`stabkit.nn._native.status` says why. (The sdist, the wheel built from
it and a build without a compiler: tests/test_packaging.py.)
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from helpers.native import without_extension

from stabkit._native import step
from stabkit.nn import (
    Adam,
    Dense,
    NativeStepWarning,
    Sequential,
    SparseCategoricalCrossentropy,
    _native,
    native_status,
)


def _supported_model(dtype="float32"):
    model = Sequential([Dense(4, activation="relu"), Dense(3)])
    model.compile(optimizer=Adam(), loss=SparseCategoricalCrossentropy(from_logits=True), dtype=dtype)
    return model


def _data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(16, 5)), rng.integers(0, 3, 16)


@pytest.fixture
def no_extension(monkeypatch):
    """A fresh process in an install where the extension was not built."""
    without_extension(monkeypatch)
    monkeypatch.setattr(_native, "_WARNED", False)


def test_gh12_a_missing_extension_warns_once_per_process(no_extension):
    X, y = _data()
    which, why = _native.status()
    assert which == "NumPy" and "not built" in why and "C compiler" in why and why == step.status()[1]
    assert native_status() == _native.status()  # the public name (for `stabkit list`)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # count every call, not Python's once-per-line
        histories = [_supported_model().fit(X, y, epochs=2, verbose=0, seed=0) for _ in range(3)]
    ours = [w for w in caught if issubclass(w.category, NativeStepWarning)]
    assert len(ours) == 1, [str(w.message) for w in caught]
    assert "NumPy step" in str(ours[0].message) and why in str(ours[0].message)
    assert ours[0].filename == __file__  # it points at the caller's fit
    for h in histories:
        assert h.params["step"] == "NumPy" and h.params["step_reason"] == why


@pytest.mark.parametrize("case", ["mixed_float16", "softmax output", "STABKIT_NATIVE=0"])
def test_gh12_no_warning_where_the_c_step_would_not_run_anyway(no_extension, monkeypatch, case):
    X, y = _data()
    model = _supported_model("mixed_float16" if case == "mixed_float16" else "float32")
    if case == "softmax output":
        model = Sequential([Dense(4, activation="relu"), Dense(3, activation="softmax")])
        model.compile(optimizer=Adam(), loss=SparseCategoricalCrossentropy(from_logits=False))
    if case == "STABKIT_NATIVE=0":
        monkeypatch.setenv("STABKIT_NATIVE", "0")
    with warnings.catch_warnings():
        warnings.simplefilter("error", NativeStepWarning)
        h = model.fit(X, y, epochs=1, verbose=0, seed=0)
    assert h.params["step"] == "NumPy"
    if case == "STABKIT_NATIVE=0":
        assert _native.status() == ("NumPy", "STABKIT_NATIVE=0") == ("NumPy", h.params["step_reason"])
    # a later fit that would run in C still warns: the first silent fit did not use it up
    monkeypatch.delenv("STABKIT_NATIVE", raising=False)
    with pytest.warns(NativeStepWarning):
        _supported_model().fit(X, y, epochs=1, verbose=0)


@pytest.mark.skipif(_native.library() is None, reason="the C extension is not built")
def test_status_with_the_extension(monkeypatch):
    monkeypatch.delenv("STABKIT_NATIVE", raising=False)
    assert _native.status() == native_status() == ("C", "")
    with warnings.catch_warnings():
        warnings.simplefilter("error", NativeStepWarning)
        h = _supported_model().fit(*_data(), epochs=1, verbose=0)
    assert h.params["step"] == "C" and "step_reason" not in h.params
