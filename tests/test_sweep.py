"""The float64 certified tier (mine vs the double-double tier and mpmath) and
the streamed exhaustive sweep (mine vs the in-memory analysis on the same
points), its resumption and its state files."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
from helpers.numerics import ordinal_uniform
from typer.testing import CliRunner

from stabkit.reference import certified, certified32
from stabkit.analysis import sweep as sw
from stabkit.analysis import analyze, analyze_sample
from stabkit.floats import enumerate_format, round_float64, ulp
from stabkit.reference import reference as ref_of
from stabkit.analysis.sampling import Group, Sample
from stabkit.analysis.thirdparty import resolve

FUNCS = list(certified32.CERTIFIED)
IMPLS = ("naive", "stable", "accurate", "scipy", "numpy")


def _same(a, b) -> bool:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return bool(np.all((a == b) | (np.isnan(a) & np.isnan(b))))


# ------------------------------------------------------------ certified32


@pytest.mark.parametrize("fn", FUNCS)
def test_error_below_the_bound_against_double_double(fn):
    rng = np.random.default_rng(1)
    x = np.concatenate([
        rng.uniform(-640, 640, 100_000), rng.uniform(-20, 20, 100_000), rng.standard_normal(50_000) * 1e-3,
        np.ldexp(rng.choice([-1.0, 1.0], 5000), rng.integers(-149, 9, 5000)), [0.0, 2.0**-10, -(2.0**-10), 640.0, -640.0],
    ]).astype(np.float32).astype(np.float64)
    h, lo = certified32.value(fn, x)
    dh, dl = certified._value(fn, x)
    err = np.abs((h - dh) + (lo - dl))
    assert np.all(err <= certified32.EPS * np.abs(dh))
    # and below EPS of the part that carries the error, which the sweep relies on
    assert np.all(err <= certified32.EPS * certified32.carrier(fn, x, h, lo) * (1 + 2.0**-40))


@pytest.mark.parametrize("fmt", ["float32", "bfloat16", "float16"])
@pytest.mark.parametrize("fn", FUNCS)
def test_never_disagrees_with_mpmath_on_samples(fn, fmt):
    with np.errstate(over="ignore"):
        x = round_float64(np.concatenate([
            ordinal_uniform("float32", 1500, seed=7), ordinal_uniform("float32", 1500, seed=8, lo=-120.0, hi=120.0),
            [0.0, -0.0, np.inf, -np.inf, np.nan, 640.0, -640.0, 700.0, -700.0, 88.7, -88.7, -103.9, -104.0],
        ]), fmt)
    r, _hi, _lo, ok = certified32.evaluate(fn, x, fmt)
    slow = ref_of(fn, x, fmt=fmt, engine="mpmath")
    assert ok.mean() > 0.99
    assert _same(r[ok], slow.rounded.astype(np.float64)[ok])


@pytest.mark.parametrize("fn", FUNCS)
def test_never_disagrees_next_to_rounding_boundaries(fn):
    # the 200 float32 inputs (of 300,000) whose exact value lies closest to a
    # float32 rounding boundary, plus sigmoid's exact midpoints near 0
    rng = np.random.default_rng(11)
    x = np.concatenate([rng.uniform(-100, 100, 150_000), rng.standard_normal(150_000) * 1e-3]).astype(np.float32)
    r, hi, lo, _ = certified.evaluate(fn, x, "float32")
    u = np.asarray(ulp(r, "float32"))
    gap = np.abs(np.abs((hi - r) + lo) - u / 2) / u
    pick = x[np.argsort(gap)[:200]]
    if fn == "sigmoid":  # 1/2 + x/4 is a float32 midpoint; the x**3 term decides
        pick = np.concatenate([pick, (np.arange(1, 200, 2) * 2.0**-23).astype(np.float32), -(np.arange(1, 200, 2) * 2.0**-24).astype(np.float32)])
    r, _, _, ok = certified32.evaluate(fn, pick, "float32")
    slow = ref_of(fn, pick, fmt="float32", engine="mpmath")
    assert _same(r[ok], slow.rounded.astype(np.float64)[ok])
    # within 2**-23 ulp of a boundary the interval v (1 +- 2**-45) always crosses it
    rd, hd, ld, _ = certified.evaluate(fn, pick, "float32")
    ud = np.asarray(ulp(rd, "float32"))
    hard = np.abs(np.abs((hd - rd) + ld) - ud / 2) / ud < 2.0**-23
    assert not ok[hard].any()
    assert hard.any() or fn != "sigmoid"


def test_only_narrow_formats():
    with pytest.raises(ValueError, match="at most 24 bits"):
        certified32.evaluate("sigmoid", np.zeros(3), "float64")
    with pytest.raises(ValueError, match="no fast certified form"):
        certified32.evaluate("softmax", np.zeros(3, np.float32), "float32")


# ------------------------------------------------------------ the sweep


def _close(a, b, rel):
    if a is None or b is None:
        return a is b
    return (math.isnan(a) and math.isnan(b)) or abs(a - b) <= rel * abs(b) + 1e-300


def _check_same(sweep_stats, memory_stats):
    """Counts and inputs exactly; errors to the fast tier's accuracy; quantiles
    to the histogram's 2**-13."""
    for name, m in memory_stats.items():
        s = sweep_stats[name]
        for f in ("n", "undefined", "unsettled", "failures", "spurious_zeros", "pct_correctly_rounded", "pct_faithful",
                  "first_failure", "first_over_1ulp", "max_bits", "function", "format", "impl", "note"):
            assert getattr(s, f) == getattr(m, f), (name, f, getattr(s, f), getattr(m, f))
        for f in ("max_ulp", "mean_ulp"):
            assert _close(getattr(s, f), getattr(m, f), 1e-9), (name, f)
        for f in ("p99_ulp", "median_ulp"):
            assert _close(getattr(s, f), getattr(m, f), 2.0**-12), (name, f, getattr(s, f), getattr(m, f))
        assert [w["input"] for w in s.worst] == [w["input"] for w in m.worst], name
        assert [(w["value"], w["reference"], w["failure"]) for w in s.worst] == \
            [(w["value"], w["reference"], w["failure"]) for w in m.worst]


@pytest.mark.parametrize("fn", FUNCS)
def test_float16_sweep_matches_the_in_memory_analysis(fn, tmp_path):
    res = sw.sweep(fn, "float16", IMPLS, chunk=2**13, workers=1, state=tmp_path)
    a = analyze(fn, "float16", resolve(list(IMPLS))[0], exhaustive=True)
    assert res.n == enumerate_format("float16").size == 63490
    _check_same(res.stats, a.stats)


@pytest.mark.parametrize("lo", [0xC2B00000, 0x3F800000, 0xB3000000, 0x44300000])  # x near -88, in [1, 1.004), near -3e-8, >= 704 (all errors 0: ties)
def test_float32_slice_matches_the_in_memory_analysis(lo, tmp_path):
    res = sw.sweep("sigmoid", "float32", IMPLS, start=lo, stop=lo + 2**14, chunk=2**12, workers=1, state=tmp_path)
    x = np.arange(lo, lo + 2**14, dtype=np.uint64).astype(np.uint32).view(np.float32)
    s = Sample("sigmoid", sw.get_format("float32"), True, "x", [Group((x,), x.astype(np.float64), np.ones(x.size, bool))], True)
    a = analyze_sample(s, resolve(list(IMPLS))[0])
    _check_same(res.stats, a.stats)


@pytest.mark.slow
def test_interrupted_sweep_resumes_to_the_same_result(tmp_path):
    kw = {"start": 0xC1000000, "stop": 0xC1000000 + 2**14, "chunk": 2**11, "workers": 1}
    fresh = sw.sweep("log_sigmoid", "float32", IMPLS, state=tmp_path / "fresh", **kw)
    part = sw.sweep("log_sigmoid", "float32", IMPLS, state=tmp_path / "run", max_chunks=3, **kw)
    assert part.chunks == 3 and part.n == 3 * 2**11
    seen = []
    resumed = sw.sweep("log_sigmoid", "float32", IMPLS, state=tmp_path / "run", progress=seen.append, **kw)
    assert resumed.reused == 3 and resumed.chunks == 8 and sum(seen) == 2**14
    assert resumed.stats == fresh.stats


@pytest.mark.slow
def test_two_processes_give_the_same_result(tmp_path):
    kw = {"start": 0x3E000000, "stop": 0x3E000000 + 2**14, "chunk": 2**12}
    one = sw.sweep("softplus", "float32", IMPLS, state=tmp_path / "a", workers=1, **kw)
    two = sw.sweep("softplus", "float32", IMPLS, state=tmp_path / "b", workers=2, **kw)
    assert one.stats == two.stats


@pytest.mark.parametrize("damage", ["garbage", "truncated", "foreign"])
def test_damaged_state_files_are_recomputed(damage, tmp_path):
    kw = {"start": 0x40000000, "stop": 0x40000000 + 2**13, "chunk": 2**11, "workers": 1, "state": tmp_path}
    first = sw.sweep("sigmoid", "float32", IMPLS, **kw)
    path = tmp_path / "chunk_00001.npz"
    data = path.read_bytes()
    if damage == "garbage":
        path.write_bytes(b"not a chunk")
    elif damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    else:  # another chunk's valid file under this name
        path.write_bytes((tmp_path / "chunk_00002.npz").read_bytes())
    again = sw.sweep("sigmoid", "float32", IMPLS, **kw)
    assert again.reused == 3 and again.stats == first.stats
    assert sw.sweep("sigmoid", "float32", IMPLS, **kw).reused == 4  # rewritten


def test_restart_ignores_the_state_and_bad_ranges_are_refused(tmp_path):
    kw = {"start": 0x40000000, "stop": 0x40000000 + 2**12, "chunk": 2**11, "workers": 1, "state": tmp_path}
    sw.sweep("sigmoid", "float32", ("accurate",), **kw)
    assert sw.sweep("sigmoid", "float32", ("accurate",), resume=False, **kw).reused == 0
    with pytest.raises(ValueError, match="bit range"):
        sw.sweep("sigmoid", "float32", ("accurate",), start=5, stop=5)
    with pytest.raises(ValueError, match="sweeps cover"):
        sw.sweep("softmax", "float32", ("accurate",))


# ------------------------------------------------------------ the command


@pytest.mark.slow
def test_analyze_exhaustive_float32(monkeypatch):
    from stabkit import cli

    real = sw.sweep
    calls = []

    def small(name, fmt, names, **kw):  # the same command on a 2**13 slice
        calls.append(names)
        return real(name, fmt, names, start=0xC0000000, stop=0xC0000000 + 2**13, chunk=2**12, **kw)

    monkeypatch.setattr(sw, "sweep", small)
    runner = CliRunner()
    r = runner.invoke(cli.app, ["analyze", "sigmoid", "--dtype", "float32", "--exhaustive", "--impls", "naive,accurate"])
    assert r.exit_code == 0, r.output
    assert "sigmoid in float32: 8,192 outputs (all inputs)" in r.stdout and "accurate" in r.stdout
    r = runner.invoke(cli.app, ["analyze", "sigmoid", "--dtype", "float32", "--exhaustive", "--json", "-q"])
    assert r.exit_code == 0, r.output
    assert [d["impl"] for d in json.loads(r.stdout)][:3] == ["naive", "stable", "accurate"]
    assert "jax" not in calls[-1]  # the cheap default set unless named


@pytest.mark.parametrize("extra, want", [([], None), (["--workers", "1"], 1), (["--workers", "3"], 3)])
def test_analyze_exhaustive_passes_the_workers_given(monkeypatch, extra, want):
    # the sweep's own default is a process per CPU (None); --workers 1 asks
    # for one process and must not be read as that default
    from stabkit import cli

    seen = []

    def record(name, fmt, names, **kw):
        seen.append(kw["workers"])
        raise KeyboardInterrupt  # stop before any work; the CLI reports the interrupt

    monkeypatch.setattr(sw, "sweep", record)
    CliRunner().invoke(cli.app, ["analyze", "sigmoid", "--dtype", "float32", "--exhaustive", "--impls", "accurate",
                                 "-q", *extra])
    assert seen == [want]


def test_analyze_exhaustive_bad_arguments():
    from stabkit import cli

    r = CliRunner().invoke(cli.app, ["analyze", "softmax", "--dtype", "float32", "--exhaustive"])
    assert r.exit_code == 2
    assert r.stderr.strip().count("\n") == 0 and "--exhaustive" in r.stderr
    r = CliRunner().invoke(cli.app, ["analyze", "sigmoid", "--dtype", "float64", "--exhaustive"])
    assert r.exit_code == 2 and "float32" in r.stderr


def test_sweep_key_covers_every_module_the_tiers_compute_with():
    # an edit to any module a tier's numbers come from must start a fresh sweep:
    # every stabkit module that running the three tiers loads (seen at run time
    # in a fresh interpreter, not from the syntax trees the key is built from)
    import subprocess
    import sys

    import stabkit.analysis.sweep as sw

    code = ("import os, sys, numpy as np, stabkit; from stabkit import naive, stable, accurate\n"
            "for t in (naive, stable, accurate):\n"
            "    t.sigmoid(np.array([1.0], np.float32)); t.logsumexp(np.array([[1.0, 2.0]]), axis=-1)\n"
            "    t.categorical_crossentropy([[0.5, 0.5]], [[1.0, 2.0]], from_logits=True)\n"
            "top = os.path.dirname(stabkit.__file__)\n"
            "print(' '.join(os.path.relpath(m.__file__, top).replace(os.sep, '/') for m in list(sys.modules.values())\n"
            "               if m.__name__.startswith('stabkit.') and getattr(m, '__file__', None)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    # the compiled extension counts by every C source of its one build (the
    # .c and .h files of its folder: setup.py compiles them all into it)
    top = Path(sw.__file__).resolve().parents[1]
    ext = [m for m in out if re.search(r"\.(so|pyd)$", m)]
    seen = {m for m in out if not m.startswith("nn/") and m not in ext}
    for m in ext:
        sources = {c.relative_to(top).as_posix() for c in (top / m).parent.glob("*.[ch]")}
        assert len(sources) >= 4, sources  # _elementwise.c, _rows.c, _cstep.c, _cstep_impl.h
        seen |= sources
    assert seen <= set(sw._sources()), sorted(seen - set(sw._sources()))
