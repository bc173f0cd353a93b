"""Issue 12, "works on a fresh machine": a packaged install keeps the C step
where it can and says so where it cannot.

* the sdist carries every file ``_cstep.c`` includes, so a wheel built from
  it compiles the extension (the header was missing: the build failed, and
  ``optional=True`` hid the failure);
* an install without the extension warns once, at the first ``fit`` that
  would have run in C, and :func:`stabkit.nn._native.status` says why.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tarfile
import warnings

import numpy as np
import pytest
from helpers.nn import REPO

from stabkit.nn import (
    Adam,
    Dense,
    NativeStepWarning,
    Sequential,
    SparseCategoricalCrossentropy,
    _native,
    native_status,
)

NN = REPO / "stabkit" / "nn" / "_native"

# setuptools before 68.1 (which a `--no-build-isolation` install may use,
# whatever build-system.requires says) put an extension's `sources` in the
# sdist but not its `depends`: only MANIFEST.in carries the header there.
_OLD_SETUPTOOLS = """
import runpy, sys
from setuptools.command.build_ext import build_ext
build_ext.get_source_files = lambda self: [s for e in self.extensions for s in e.sources]
sys.argv = ["setup.py", "-q", "sdist", "--formats=gztar", "-d", sys.argv[1]]
runpy.run_path("setup.py", run_name="__main__")
"""


def _included(source, seen=None):
    """The project files ``source`` includes with ``#include "..."``, recursively."""
    seen = set() if seen is None else seen
    for name in re.findall(r'^\s*#\s*include\s+"([^"]+)"', source.read_text(), re.M):
        path = source.parent / name
        if path not in seen:
            seen.add(path)
            _included(path, seen)
    return seen


def test_gh12_the_sdist_carries_the_headers_of_the_c_step(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for name in ("setup.py", "pyproject.toml", "MANIFEST.in", "README.md"):
        if (REPO / name).exists():
            shutil.copy(REPO / name, src / name)
    shutil.copytree(REPO / "stabkit", src / "stabkit", ignore=shutil.ignore_patterns("__pycache__", "*.so", "*.pyd"))
    run = subprocess.run(
        [sys.executable, "-c", _OLD_SETUPTOOLS, str(tmp_path / "dist")],
        cwd=src, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    # and no deprecation warning (project.license as a table was one)
    assert "deprecated" not in run.stderr.lower(), run.stderr
    (sdist,) = (tmp_path / "dist").glob("stabkit-*.tar.gz")
    with tarfile.open(sdist) as tar:
        members = {"/".join(m.split("/")[1:]) for m in tar.getnames()}
    needed = {"stabkit/nn/_native/_cstep.c"} | {p.relative_to(REPO).as_posix() for p in _included(NN / "_cstep.c")}
    assert "stabkit/nn/_native/_cstep_impl.h" in needed
    assert needed <= members, f"missing from the sdist: {sorted(needed - members)}"


def test_gh12_a_build_without_a_compiler_says_so_in_one_line(tmp_path):
    """setup.py's build_ext: a failed compile is one warning line naming the
    reason and the NumPy step, and the build goes on (no extension)."""
    src = tmp_path / "src"
    shutil.copytree(NN, src / "stabkit" / "nn" / "_native", ignore=shutil.ignore_patterns("__pycache__", "*.so", "*.pyd"))
    shutil.copy(REPO / "setup.py", src / "setup.py")
    env = {**os.environ, "CC": str(tmp_path / "no-such-cc")}
    run = subprocess.run(
        [sys.executable, "setup.py", "-q", "build_ext", "-b", "out", "-t", "tmp"],
        cwd=src, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    lines = [line for line in (run.stdout + run.stderr).splitlines() if "stabkit.nn._native._cstep" in line]
    assert len(lines) == 1, run.stdout + run.stderr
    assert lines[0].startswith("WARNING: stabkit: the C extension stabkit.nn._native._cstep was not built (")
    assert "no-such-cc" in lines[0] and lines[0].endswith("the trainer will run its NumPy step")
    assert not list((src / "out").rglob("_cstep*"))


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
    find_spec = importlib.util.find_spec

    def hidden(name, package=None):
        return None if name == "._cstep" and package == "stabkit.nn._native" else find_spec(name, package)

    monkeypatch.delenv("STABKIT_NATIVE", raising=False)
    monkeypatch.setattr(_native.importlib.util, "find_spec", hidden)
    monkeypatch.setattr(_native, "_LIB", False)  # not looked for yet
    monkeypatch.setattr(_native, "_WARNED", False)


def test_gh12_a_missing_extension_warns_once_per_process(no_extension):
    X, y = _data()
    assert _native.status() == ("NumPy", _native._WHY) and "not built" in _native._WHY and "C compiler" in _native._WHY
    assert native_status() == _native.status()  # the public name (for `stabkit list`)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # count every call, not Python's once-per-line
        histories = [_supported_model().fit(X, y, epochs=2, verbose=0, seed=0) for _ in range(3)]
    ours = [w for w in caught if issubclass(w.category, NativeStepWarning)]
    assert len(ours) == 1, [str(w.message) for w in caught]
    assert "NumPy step" in str(ours[0].message) and _native._WHY in str(ours[0].message)
    assert ours[0].filename == __file__  # it points at the caller's fit
    for h in histories:
        assert h.params["step"] == "NumPy" and h.params["step_reason"] == _native._WHY


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
