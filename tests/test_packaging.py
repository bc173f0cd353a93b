"""The one native build, packaged: setup.py compiles every C file of
stabkit/_native into one extension, ``stabkit._native._kernels``, whose
module init registers the ufuncs and whose plain C functions (the row passes,
the trainer's step) ctypes finds in the same file.

* the sdist carries every C source and every file they include, so a wheel
  built from it compiles the extension (a header was missing once: the build
  failed, and ``optional=True`` hid the failure);
* a wheel built from that sdist holds the one extension and no C source, and
  installed, ``stabkit list`` and :func:`stabkit.kernels` say native (with
  each C compiler here: the interpreter's and clang where installed);
* without a compiler (or NumPy's headers) the build and the install go on,
  say so in one warning line, and the NumPy paths run.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from helpers.nn import REPO

from stabkit._native import elementwise
from stabkit._native.status import ROUNDING, ROWWISE

NATIVE = REPO / "stabkit" / "_native"
NAME = "stabkit._native._kernels"
WARNING = f"WARNING: stabkit: the C extension {NAME} was not built ("
FALLBACK = "the accurate tier and the trainer will run their NumPy code"

# setuptools before 68.1 (which a `--no-build-isolation` install may use,
# whatever build-system.requires says) put an extension's `sources` in the
# sdist but not its `depends`: only MANIFEST.in carries the headers there.
_OLD_SETUPTOOLS = """
import runpy, sys
from setuptools.command.build_ext import build_ext
build_ext.get_source_files = lambda self: [s for e in self.extensions for s in e.sources]
sys.argv = ["setup.py", "-q", "sdist", "--formats=gztar", "-d", sys.argv[1]]
runpy.run_path("setup.py", run_name="__main__")
"""

# the sdist as `python -m build --sdist --no-isolation` makes it (PEP 517)
_SDIST = "import sys; from setuptools import build_meta; print(build_meta.build_sdist(sys.argv[1]))"

# setup.py run with NumPy made unimportable (as a build environment without it)
_NO_NUMPY = ("-c", "import runpy, sys; sys.modules['numpy'] = None; sys.argv[0] = 'setup.py'; "
                   "runpy.run_path('setup.py', run_name='__main__')")


def _source_tree(dst: Path) -> Path:
    """The files an sdist is made from (no built extension), under ``dst``."""
    dst.mkdir()
    for name in ("setup.py", "pyproject.toml", "MANIFEST.in", "README.md", "LICENSE"):
        if (REPO / name).exists():
            shutil.copy(REPO / name, dst / name)
    shutil.copytree(REPO / "stabkit", dst / "stabkit", ignore=shutil.ignore_patterns("__pycache__", "*.so", "*.pyd"))
    return dst


def _included(source: Path, seen=None) -> set[Path]:
    """The project files ``source`` includes with ``#include "..."``, recursively."""
    seen = set() if seen is None else seen
    for name in re.findall(r'^\s*#\s*include\s+"([^"]+)"', source.read_text(), re.M):
        path = source.parent / name
        if path not in seen:
            seen.add(path)
            _included(path, seen)
    return seen


def _run(cmd, cwd, env=None, timeout=600) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def test_the_sdist_carries_every_source_of_the_one_build(tmp_path):
    src = _source_tree(tmp_path / "src")
    run = _run([sys.executable, "-c", _OLD_SETUPTOOLS, str(tmp_path / "dist")], src)
    assert run.returncode == 0, run.stderr
    # and no deprecation warning (project.license as a table was one)
    assert "deprecated" not in run.stderr.lower(), run.stderr
    (sdist,) = (tmp_path / "dist").glob("stabkit-*.tar.gz")
    with tarfile.open(sdist) as tar:
        members = {"/".join(m.split("/")[1:]) for m in tar.getnames()}
    sources = sorted(NATIVE.glob("*.c"))
    assert {p.name for p in sources} >= {"_elementwise.c", "_rows.c", "_cstep.c"}
    needed = {p.relative_to(REPO).as_posix() for p in sources}
    for p in sources:
        needed |= {q.relative_to(REPO).as_posix() for q in _included(p)}
    assert {"stabkit/_native/_cstep_impl.h", "stabkit/_native/_common.h"} <= needed
    assert needed <= members, f"missing from the sdist: {sorted(needed - members)}"
    assert not [m for m in members if m.startswith("stabkit/nn/") and m.endswith((".c", ".h"))]


def _build_ext(src: Path, env: dict, python_args=("setup.py",)):
    """``setup.py build_ext`` in ``src``: (return code, the lines that name
    the extension, all output)."""
    run = _run([sys.executable, *python_args, "-q", "build_ext", "-b", "out", "-t", "tmp"], src, env, 300)
    out = run.stdout + run.stderr
    return run.returncode, [line for line in out.splitlines() if NAME in line], out


def test_a_build_without_a_compiler_or_numpy_headers_says_so_in_one_line(tmp_path):
    """setup.py: a failed compile, or NumPy missing at build time, is one
    warning line naming the NumPy paths, and the build goes on without the
    extension."""
    src = tmp_path / "src"
    shutil.copytree(NATIVE, src / "stabkit" / "_native", ignore=shutil.ignore_patterns("__pycache__", "*.so", "*.pyd"))
    shutil.copy(REPO / "setup.py", src / "setup.py")
    rc, lines, out = _build_ext(src, {**os.environ, "CC": str(tmp_path / "no-such-cc")})
    assert rc == 0 and len(lines) == 1, out
    assert lines[0].startswith(WARNING) and "no-such-cc" in lines[0] and lines[0].endswith(FALLBACK)
    rc, lines, out = _build_ext(src, {**os.environ}, _NO_NUMPY)
    assert rc == 0 and len(lines) == 1, out
    assert lines[0] == WARNING + "NumPy is not importable at build time, so its C headers are missing); " + FALLBACK
    assert not list((src / "out").rglob("_kernels*"))


def _wheel_from_sdist(tmp_path: Path, env: dict) -> tuple[Path, str]:
    """An sdist of this tree, and a wheel built from it by pip with ``env``
    (this interpreter's setuptools and NumPy: no download). (wheel, pip's
    output)."""
    src = _source_tree(tmp_path / "src")
    run = _run([sys.executable, "-c", _SDIST, str(tmp_path / "dist")], src)
    assert run.returncode == 0, run.stderr
    sdist = tmp_path / "dist" / run.stdout.split()[-1]
    run = _run([sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", "--no-build-isolation", "--no-cache-dir",
                "-w", str(tmp_path / "wheels"), str(sdist)], tmp_path, env)  # fmt: skip
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr
    (wheel,) = (tmp_path / "wheels").glob("stabkit-*.whl")
    return wheel, run.stdout + run.stderr


def _install(wheel: Path, tmp_path: Path) -> dict:
    """The wheel installed into a folder of its own (its dependencies are
    this interpreter's): the environment that runs it there, from a folder
    with no checkout."""
    site = tmp_path / "site"
    run = _run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-cache-dir", "--target", str(site),
                str(wheel)], tmp_path)  # fmt: skip
    assert run.returncode == 0, run.stderr
    env = {k: v for k, v in os.environ.items() if k != "STABKIT_NATIVE"}
    return {**env, "PYTHONPATH": str(site)}


_KERNELS = "import json, stabkit; print(stabkit.__file__); print(json.dumps(stabkit.kernels()))"


def _clang() -> str | None:
    """A clang on PATH, plain or versioned (Debian installs ``clang-14``)."""
    for name in ["clang"] + [f"clang-{v}" for v in range(22, 10, -1)]:
        if shutil.which(name):
            return name
    return None


def _compilers() -> list:
    cc = (sysconfig.get_config_var("CC") or "cc").split()[0]
    out = [pytest.param(None, id=cc)]
    clang = _clang()
    if clang and not os.path.basename(cc).startswith("clang"):
        out.append(pytest.param(clang, id="clang"))
    return out


@pytest.mark.slow
@pytest.mark.parametrize("cc", _compilers())
def test_a_wheel_from_the_sdist_holds_and_loads_the_one_extension(tmp_path, cc):
    if cc is None and shutil.which((sysconfig.get_config_var("CC") or "cc").split()[0]) is None:
        pytest.skip("no C compiler here: the build without one is checked below")
    env = {**os.environ, **({"CC": cc} if cc else {})}
    wheel, out = _wheel_from_sdist(tmp_path, env)
    assert WARNING not in out, out[-4000:]
    names = zipfile.ZipFile(wheel).namelist()
    built = [n for n in names if n.endswith((".so", ".pyd"))]
    assert len(built) == 1 and re.fullmatch(r"stabkit/_native/_kernels\.[^/]*(so|pyd)", built[0]), built
    assert not [n for n in names if n.endswith((".c", ".h"))]
    env = _install(wheel, tmp_path)
    run = _run([sys.executable, "-c", _KERNELS], tmp_path, env)
    assert run.returncode == 0, run.stderr
    where, table = run.stdout.splitlines()
    assert Path(where).is_relative_to(tmp_path / "site")  # the installed copy, not the checkout
    table = json.loads(table)
    # every function/format that has a kernel runs it, and so does the trainer's step
    compiled = {f"{f}/{fmt}" for f in ROWWISE for fmt in ("float32", "float64")}
    compiled |= {f"{f}/{fmt}" for f in elementwise.FUNCTIONS for fmt in elementwise.FORMATS} | {"trainer_step", ROUNDING}
    # the binary cross-entropy, from logits and from probabilities
    compiled |= {f"binary_crossentropy/{fmt}{how}" for fmt in elementwise.LOSS_FORMATS
                 for how in ("", " (from probabilities)")}
    assert compiled <= set(table)
    # (the row kernel stays off, with that reason, where this NumPy sums rows
    # in another order than the kernel repeats: NumPy 2.0)
    order = f"NumPy {np.__version__} sums a row in another order"
    # (and the loss from probabilities stays off where its load-time check
    # refuses the loops: NumPy 2.0.0, see tests/test_native_bce.py)
    checked = "the loop of binary_crossentropy from probabilities differs from the NumPy path"
    assert {k: table[k] for k in compiled if table[k] != "native" and not table[k].startswith((order, checked))} == {}
    run = _run([sys.executable, "-m", "stabkit", "list"], tmp_path, env)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert "trainer step: C" in lines
    assert "rounding of float64 results to float16/bfloat16: native" in lines
    assert any(line.startswith("accurate elementwise kernels (sigmoid, log_sigmoid, softplus): native for float32, "
                               "float16, bfloat16") for line in lines), lines  # fmt: skip
    rows_on = not any(table[k].startswith(order) for k in compiled)
    assert (("accurate row kernel (rows wider than 16): native for float32, float16, bfloat16, float64"
             if rows_on else f"accurate row kernel (rows wider than 16): NumPy ({order}") in " ".join(lines)), lines


@pytest.mark.slow
def test_without_a_compiler_the_install_warns_once_and_runs_numpy(tmp_path):
    wheel, out = _wheel_from_sdist(tmp_path, {**os.environ, "CC": "false"})
    lines = [line for line in out.splitlines() if NAME in line and "WARNING" in line]
    assert len(lines) == 1, out[-4000:]
    assert "false exited with status 1" in lines[0] and lines[0].endswith(FALLBACK), lines
    assert not [n for n in zipfile.ZipFile(wheel).namelist() if n.endswith((".so", ".pyd"))]
    env = _install(wheel, tmp_path)
    code = _KERNELS + "; import numpy as np; print(float(stabkit.sigmoid(np.float32(1.5))))"
    run = _run([sys.executable, "-c", code], tmp_path, env)
    assert run.returncode == 0, run.stderr
    table = json.loads(run.stdout.splitlines()[1])
    assert table["sigmoid/float32"].startswith(f"the C extension {NAME} was not built")
    assert table["softmax/float64"] == table["trainer_step"] == table["sigmoid/float32"]
    assert float(run.stdout.splitlines()[2]) == float(np.float32(1 / (1 + math.exp(-1.5))))  # the NumPy path's
    run = _run([sys.executable, "-m", "stabkit", "list"], tmp_path, env)
    assert run.returncode == 0, run.stderr
    assert f"trainer step: NumPy (the C extension {NAME} was not built" in run.stdout
    assert f"accurate row kernel (rows wider than 16): NumPy (the C extension {NAME} was not built" in run.stdout
    assert f"rounding of float64 results to float16/bfloat16: NumPy (the C extension {NAME} was not built" in run.stdout
