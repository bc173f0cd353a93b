"""Issue 12: `stabkit --help`, `--version` and `list` start without the heavy
libraries, and the lazy imports behind that keep the public names working.

What is imported is checked in a fresh interpreter (sys.modules), not timed:
a timing assertion would be flaky, a module list is not.
"""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys

import numpy as np
import pytest

HEAVY = ("ml_dtypes", "mpmath", "matplotlib", "scipy", "torch", "jax")


def _imported_after(code: str) -> dict:
    """Run ``code`` in a fresh interpreter; return which of HEAVY (and a few
    stabkit modules) it left in sys.modules, and what it printed."""
    probe = (
        "import json, sys\n"
        f"{code}\n"
        "names = list(sys.argv[1:])\n"
        "sys.__stderr__.write('\\n' + json.dumps([m for m in names if m in sys.modules]) + '\\n')\n"
    )
    names = [*HEAVY, "stabkit.accurate", "stabkit.naive", "stabkit.stable", "rich.table"]
    r = subprocess.run([sys.executable, "-c", probe, *names], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return {"modules": set(json.loads(r.stderr.strip().splitlines()[-1])), "stdout": r.stdout}


def _cli(*args: str) -> str:
    return (
        "from stabkit.cli import app\n"
        "try:\n"
        f"    app({list(args)!r}, prog_name='stabkit')\n"
        "except SystemExit as e:\n"
        "    assert not e.code, e.code\n"
    )


def test_help_imports_nothing_heavy():
    r = _imported_after(_cli("--help"))
    assert "list" in r["stdout"] and "report" in r["stdout"]
    assert r["modules"] & set(HEAVY) == set()
    assert not {"stabkit.accurate", "stabkit.naive", "stabkit.stable"} & r["modules"]


def test_subcommand_help_imports_nothing_heavy():
    r = _imported_after(_cli("report", "--help"))
    assert "--quiet" in r["stdout"]
    assert r["modules"] & set(HEAVY) == set()


def test_version_matches_the_installed_metadata():
    r = _imported_after(_cli("--version"))
    assert r["stdout"] == f"stabkit {importlib.metadata.version('stabkit')}\n"
    assert r["modules"] & set(HEAVY) == set()


def test_list_needs_no_ml_dtypes_and_no_tiers():
    # the trainer's step state imports stabkit.nn (and with it mpmath); the
    # formats and functions are static records
    r = _imported_after(_cli("list"))
    assert "sparse_categorical_crossentropy" in r["stdout"] and "bfloat16" in r["stdout"]
    assert r["modules"] & {"ml_dtypes", "matplotlib", "scipy", "torch", "jax"} == set()


def test_float32_and_float64_calls_never_import_ml_dtypes():
    """Importing ml_dtypes costs about half a second: a first softmax in
    float32 or float64 took that long while the input check and the float64
    loops' load-time check built bfloat16's dtype. Only bfloat16 work imports
    it (and checks the loss's bfloat16 loops then), and stabkit.ufuncs, whose
    names register their bfloat16 loops when first looked up."""
    calls = (
        "import numpy as np\n"
        "from stabkit import accurate as A\n"
        "for t in (np.float32, np.float64, np.float16):\n"
        "    x = np.linspace(-30, 30, 300).astype(t).reshape(10, 30)\n"
        "    for f in (A.softmax, A.log_softmax, A.logsumexp, A.sigmoid, A.log_sigmoid, A.softplus):\n"
        "        f(x)\n"
        "    A.sparse_categorical_crossentropy(np.arange(10) % 30, x, from_logits=True)\n"
        "    A.categorical_crossentropy(np.eye(30, dtype=t)[:10], x, from_logits=True)\n"
        "    A.binary_crossentropy(np.ones(300, t), x.ravel(), from_logits=True)\n"
        "    A.binary_crossentropy(np.ones(300, t), np.full(300, 0.25, t))\n"
    )
    assert "ml_dtypes" not in _imported_after(calls)["modules"]
    after = _imported_after(calls + "import ml_dtypes\n"
                            "b = np.ones(8, ml_dtypes.bfloat16)\n"
                            "assert A.binary_crossentropy(b, b, from_logits=True).dtype == b.dtype\n"
                            "from stabkit._native import elementwise\n"
                            "assert elementwise.why_not('binary_crossentropy', 'bfloat16') is None\n"
                            "f32, bf = (elementwise.why_not('binary_crossentropy', t, logits=False)\n"
                            "           for t in ('float32', 'bfloat16'))\n"
                            "assert bf == f32, (bf, f32)\n")  # (the NumPy path's loops where NumPy's log differs)
    assert "ml_dtypes" in after["modules"]


def test_import_stabkit_is_lazy_but_complete():
    r = _imported_after("import stabkit, stabkit.floats, stabkit.registry\nstabkit.floats.get_format('float32').dtype")
    assert r["modules"] == set()
    r = _imported_after("from stabkit import softmax")
    assert "stabkit.accurate" in r["modules"]


def test_lazy_top_level_names_are_the_accurate_tier():
    import stabkit
    from stabkit import accurate

    from stabkit._native import paths

    for name in stabkit.__all__:
        if name not in ("__version__", "kernels", "DetachedGradWarning"):
            assert getattr(stabkit, name) is getattr(accurate, name)
    assert stabkit.kernels is paths.kernels  # which path each function runs, not a function of the tier
    assert set(stabkit.__all__) <= set(dir(stabkit)) and "naive" in dir(stabkit)
    assert issubclass(stabkit.DetachedGradWarning, UserWarning)  # the warning the README names, public
    assert stabkit.naive.softmax is not stabkit.softmax
    ns: dict = {}
    exec("from stabkit import *", ns)
    assert ns["log_softmax"] is accurate.log_softmax and ns["__version__"] == "0.1.0"
    with pytest.raises(AttributeError, match="no attribute 'softmaxx'"):
        stabkit.softmaxx  # noqa: B018


def test_registry_imports_a_tier_only_when_asked():
    r = _imported_after("from stabkit import registry\nregistry.get('softmax').formula")
    assert not {"stabkit.accurate", "stabkit.naive", "stabkit.stable"} & r["modules"]
    r = _imported_after("from stabkit import registry\nregistry.get('softmax').tier('naive')")
    assert "stabkit.naive" in r["modules"] and "stabkit.accurate" not in r["modules"]

    from stabkit import accurate, naive, registry

    p = registry.get("log_softmax")
    assert p.tier("accurate") is accurate.log_softmax and p.tiers["naive"] is naive.log_softmax


@pytest.mark.slow
def test_ml_dtypes_loads_with_the_first_16_bit_dtype():
    r = _imported_after("from stabkit.floats import get_format\nimport numpy as np\nget_format(np.float16); get_format('bfloat16')")
    assert "ml_dtypes" not in r["modules"]
    r = _imported_after("from stabkit.floats import get_format\nget_format('bfloat16').dtype")
    assert "ml_dtypes" in r["modules"]


@pytest.mark.parametrize("name", ["float16", "bfloat16", "float32", "float64", "float8_e4m3fn", "float8_e5m2"])
def test_static_formats_match_finfo(name):
    # the records are written out so that import needs no ml_dtypes; every
    # number must still be what NumPy's / ml_dtypes' finfo says
    import math

    import ml_dtypes

    from stabkit.floats import FORMATS, get_format

    f = FORMATS[name]
    dt = np.dtype(getattr(ml_dtypes, name) if name in ("bfloat16", "float8_e4m3fn", "float8_e5m2") else name)
    fi = ml_dtypes.finfo(dt)
    assert f.dtype == dt and get_format(dt) is f
    assert f.precision == int(fi.nmant) + 1
    assert (f.emin, f.emax) == (int(fi.minexp), int(fi.maxexp) - 1)
    assert f.max == float(fi.max) and f.smallest_normal == float(fi.smallest_normal)
    assert f.smallest_subnormal == float(fi.smallest_subnormal) == math.ldexp(1.0, f.emin - f.precision + 1)
    assert f.width == dt.itemsize * 8
    assert f.has_inf == bool(np.isinf(np.array(np.inf).astype(dt)))
