"""Issue 12: a third-party implementation that raises is one cell's error,
not the end of the run; a stabkit tier that raises ends it (exit 1, one
line); and a run that fails or is interrupted leaves --out as it was."""

import contextlib
import json
import os
import stat

import numpy as np
import pytest
from typer.testing import CliRunner

from stabkit.report import build as rp
from stabkit.analysis import thirdparty
from stabkit._io import staged_dir
from stabkit.analysis import analyze, analyze_sample, error_text
from stabkit.cli import app
from stabkit.analysis.sampling import make_sample
from stabkit.analysis.thirdparty import Impl, tier_impl

runner = CliRunner()
REAL_NUMPY_FN = thirdparty._numpy_fn


def _boom(function, from_logits, args):
    raise RuntimeError("boom\nsecond line")


def _numpy_but_not_bfloat16(function, from_logits, args):
    # NumPy's adapter, raising like SciPy 1.17 does on bfloat16 logsumexp
    if args[-1].dtype.name == "bfloat16":
        raise TypeError("dtype argument must be a NumPy dtype, but it is a <class 'ml_dtypes.bfloat16'>.")
    return REAL_NUMPY_FN(function, from_logits, args)


# ------------------------------------------------------------ analysis


def test_a_raising_library_is_one_cells_error():
    a = analyze("sigmoid", "float32", [Impl("lib", _boom, fail_soft=True), tier_impl("accurate")], 50, 0)
    assert a.errors == {"lib": "RuntimeError: boom"}
    assert a.stats["lib"] is None and a.points["lib"] is None
    assert a.stats["accurate"].max_ulp <= 0.5  # the others went on


def test_a_raising_tier_is_a_bug_and_propagates():
    with pytest.raises(RuntimeError, match="boom"):
        analyze("sigmoid", "float64", [Impl("accurate", _boom)], 50, 0)


def test_a_wrong_shape_is_an_error_not_a_broadcast():
    s = make_sample("logsumexp", "float64", 5, 0)
    a = analyze_sample(s, [Impl("lib", lambda f, fl, args: args[0], fail_soft=True)])  # forgot the reduction
    assert a.errors["lib"].startswith("ValueError: returned shape (") and a.stats["lib"] is None


def test_error_text_is_one_short_line():
    assert error_text(ValueError("")) == "ValueError"
    assert error_text(ValueError("\n  first\nsecond")) == "ValueError: first"
    long = error_text(OSError("x" * 500))
    assert len(long) == 200 and long.endswith("...") and "\n" not in long


# ------------------------------------------------------------ the CLI


def _report(out, *extra):
    return runner.invoke(app, ["report", "--functions", "binary_crossentropy,logsumexp", "--dtypes", "bfloat16,float32",
                               "--impls", "accurate,numpy", "--samples", "60", "--out", str(out), "--no-cache", *extra])


@pytest.mark.slow
def test_report_records_the_error_and_exits_0(tmp_path, monkeypatch):
    monkeypatch.setattr(thirdparty, "_numpy_fn", _numpy_but_not_bfloat16)
    out = tmp_path / "rep"
    r = _report(out, "--quiet")  # warnings are shown even when quiet
    assert r.exit_code == 0, r.output
    warn = "warning: numpy logsumexp bfloat16: TypeError: dtype argument must be a NumPy dtype"
    assert warn in r.stderr.splitlines()[1] and len(r.stderr.splitlines()) == 2  # binary CE, then logsumexp
    d = json.loads((out / "report.json").read_text())
    cells = {(x["function"], x["format"], x["impl"]): x for x in d["results"]}
    bad = cells[("logsumexp", "bfloat16", "numpy")]
    assert bad["available"] is True and bad["error"].startswith("TypeError: dtype argument")
    assert "max_ulp" not in bad and "failures" not in bad  # no numbers for a cell that has none
    good = cells[("logsumexp", "float32", "numpy")]
    assert "error" not in good and good["max_ulp"] >= 0
    md = (out / "report.md").read_text()
    assert "## Errors" in md and "- numpy, logsumexp, bfloat16: `TypeError: dtype argument" in md
    summary = md[md.index("## Summary"):md.index("## binary_crossentropy")]
    assert "| logsumexp | numpy | **error**: TypeError |" in summary
    table = md[md.index("### logsumexp, bfloat16"):md.index("### logsumexp, float32")]
    assert "| numpy | **error** | — |" in table
    # the bfloat16 panel has no numpy points, the float32 one has: the figure is still drawn
    assert (out / "figures" / "error_logsumexp.png").stat().st_size > 10000


def test_summary_matrix_marks_errors(monkeypatch):
    monkeypatch.setattr(thirdparty, "_numpy_fn", _numpy_but_not_bfloat16)
    cfg = rp.ReportConfig(functions=("logsumexp",), dtypes=("bfloat16", "float32"), impls=("accurate", "numpy"),
                          samples=60)
    rows, impls, worst, fails, errs = rp.summary_matrix(rp.run(cfg))
    assert errs.tolist() == [[False, True]] and worst[0, 0] <= 0.5


@pytest.mark.slow
def test_analyze_and_audit_tables_show_the_error(tmp_path, monkeypatch):
    monkeypatch.setattr(thirdparty, "_scipy_fn", _boom)
    r = runner.invoke(app, ["analyze", "sigmoid", "--dtype", "float32", "--impls", "scipy,accurate", "--samples", "50",
                            "--no-cache", "--json"])
    assert r.exit_code == 0 and r.stderr.strip() == "warning: scipy sigmoid float32: RuntimeError: boom"
    rows = {x["impl"]: x for x in json.loads(r.stdout)}
    assert rows["scipy"] == {"function": "sigmoid", "format": "float32", "impl": "scipy", "error": "RuntimeError: boom"}
    assert rows["accurate"]["max_ulp"] <= 0.5
    r = runner.invoke(app, ["analyze", "sigmoid", "--dtype", "float32", "--impls", "scipy,accurate", "--samples", "50",
                            "--no-cache"])
    assert r.exit_code == 0 and "error: RuntimeError" in r.stdout
    r = runner.invoke(app, ["audit", "--frameworks", "scipy,numpy", "--functions", "sigmoid", "--dtypes", "float32",
                            "--samples", "50", "--no-cache", "--out", str(tmp_path / "a"), "--quiet"])
    assert r.exit_code == 0 and r.stderr.strip() == "warning: scipy sigmoid float32: RuntimeError: boom"
    d = json.loads((tmp_path / "a" / "report.json").read_text())
    assert [x.get("error") for x in d["results"]] == [None, "RuntimeError: boom", None]


@pytest.mark.slow
def test_plot_skips_an_implementation_that_raised_everywhere(tmp_path, monkeypatch):
    monkeypatch.setattr(thirdparty, "_scipy_fn", _boom)
    for kind in ("values", "error", "cdf"):
        out = tmp_path / f"{kind}.png"
        r = runner.invoke(app, ["plot", "logsumexp", "--dtype", "float32", "--kind", kind, "--impls", "scipy",
                                "--samples", "50", "--no-cache", "--out", str(out), "--quiet"])
        assert r.exit_code == 0, r.output
        assert out.stat().st_size > 10000 and "warning: scipy logsumexp float32: RuntimeError: boom" in r.stderr


# ------------------------------------------------------------ failed runs leave --out as it was


def _one_line_boom(function, from_logits, args):
    raise RuntimeError("boom")


def _raising_tier(name):
    return Impl(name, _one_line_boom) if name == "accurate" else tier_impl(name)


def _old_report(out):
    out.mkdir()
    (out / "report.json").write_text("old json")
    (out / "report.md").write_text("old md")
    (out / "notes.txt").write_text("mine")
    return {p.name: p.read_text() for p in out.iterdir()}


def _interrupting_progress(quiet, label):
    @contextlib.contextmanager
    def cm():
        def advance(k=1):
            raise KeyboardInterrupt

        yield advance, (lambda n: None)

    return cm()


@pytest.mark.parametrize("existing", [False, True], ids=["no-out", "old-report"])
def test_a_failing_tier_exits_1_and_writes_nothing(tmp_path, monkeypatch, existing):
    monkeypatch.setattr(thirdparty, "tier_impl", _raising_tier)
    out = tmp_path / "deep" / "rep"
    before = _old_report(out.parent) if existing else None
    r = _report(out.parent if existing else out)
    assert r.exit_code == 1
    assert r.stderr.splitlines() == ["error: internal error: RuntimeError: boom (STABKIT_DEBUG=1 shows the traceback)"]
    if existing:
        assert {p.name: p.read_text() for p in out.parent.iterdir()} == before
    else:
        assert os.listdir(tmp_path) == []  # not even the missing parent


@pytest.mark.parametrize("existing", [False, True], ids=["no-out", "old-report"])
def test_ctrl_c_during_the_run_writes_nothing(tmp_path, monkeypatch, existing):
    import stabkit.cli.report as cr

    monkeypatch.setattr(cr, "_progress", _interrupting_progress)
    out = tmp_path / "rep"
    before = _old_report(out) if existing else None
    r = _report(out)
    assert r.exit_code == 130 and r.stderr.strip() == "error: interrupted"
    assert ({p.name: p.read_text() for p in out.iterdir()} == before) if existing else os.listdir(tmp_path) == []


@pytest.mark.slow
def test_ctrl_c_while_writing_keeps_the_old_report(tmp_path):
    cfg = rp.ReportConfig(functions=("sigmoid",), dtypes=("float32",), impls=("accurate",), samples=50)
    rep = rp.run(cfg)
    out = tmp_path / "rep"
    before = _old_report(out)

    def stop_after_the_first_figure(name):  # write() calls it after each function's figure
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        rp.write(rep, str(out), progress=stop_after_the_first_figure)
    assert {p.name: p.read_text() for p in out.iterdir()} == before  # no figures/, no temporary folder
    with pytest.raises(KeyboardInterrupt):
        rp.write(rep, str(tmp_path / "new"), progress=stop_after_the_first_figure)
    assert sorted(os.listdir(tmp_path)) == ["rep"]
    paths = rp.write(rep, str(out))  # a finished write replaces the report's files and keeps the others
    assert sorted(os.path.relpath(p, out) for p in paths) == ["figures/error_sigmoid.png", "figures/summary.png",
                                                              "report.html", "report.json", "report.md"]
    assert (out / "notes.txt").read_text() == "mine" and (out / "report.json").read_text().startswith("{")
    assert sorted(os.listdir(out)) == ["figures", "notes.txt", "report.html", "report.json", "report.md"]


def test_staged_dir_creates_out_only_at_the_end(tmp_path):
    out = tmp_path / "a" / "b"
    with staged_dir(str(out)) as tmp:
        assert not (tmp_path / "a").exists()
        os.makedirs(os.path.join(tmp, "figures"))
        with open(os.path.join(tmp, "figures", "f.txt"), "w") as fh:
            fh.write("new")
    assert (out / "figures" / "f.txt").read_text() == "new"
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o777 & ~mask  # not mkdtemp's 0700
    assert sorted(os.listdir(tmp_path / "a")) == ["b"]  # no temporary folder left
    with pytest.raises(ValueError), staged_dir(str(out)) as tmp:
        with open(os.path.join(tmp, "figures.txt"), "w") as fh:
            fh.write("half")
        raise ValueError
    assert sorted(os.listdir(out)) == ["figures"]


def _tree(top) -> dict:
    return {str(p.relative_to(top)): p.read_text() for p in sorted(top.rglob("*")) if p.is_file()}


def test_staged_dir_undoes_a_commit_that_fails_part_way(tmp_path):
    # a probe found a failed report leaving the new report.md beside the old
    # figures and without the old errors.csv: renames into an existing out
    # were not undone when a later one failed
    out = tmp_path / "rep"
    (out / "figures").mkdir(parents=True)
    old = {"report.md": "old md", "errors.csv": "old csv", "figures/a.png": "old a", "mine.txt": "mine"}
    for rel, text in old.items():
        (out / rel).write_text(text)
    (out / "figures" / "b.png").mkdir()  # a folder where the new run puts a file: its rename fails
    before = _tree(out)
    owned = lambda rel: rel != "mine.txt"  # noqa: E731
    with pytest.raises(OSError), staged_dir(str(out), owned=owned) as tmp:
        os.makedirs(os.path.join(tmp, "figures"))
        for rel in ("report.md", "figures/a.png", "figures/b.png", "new.json"):
            with open(os.path.join(tmp, rel), "w") as fh:
                fh.write("new")
    assert _tree(out) == before and (out / "figures" / "b.png").is_dir()
    assert sorted(os.listdir(out)) == ["errors.csv", "figures", "mine.txt", "report.md"]  # no temporary folder left
    # the same run with the way clear: new files in, the old owned one gone, the user's kept
    (out / "figures" / "b.png").rmdir()
    with staged_dir(str(out), owned=owned) as tmp:
        os.makedirs(os.path.join(tmp, "figures"))
        for rel in ("report.md", "figures/a.png", "figures/b.png"):
            with open(os.path.join(tmp, rel), "w") as fh:
                fh.write("new")
    assert _tree(out) == {"figures/a.png": "new", "figures/b.png": "new", "mine.txt": "mine", "report.md": "new"}


def test_scipy_bfloat16_is_fed_float32_when_rejected(monkeypatch):
    import scipy.special as sp

    from stabkit.floats import FORMATS, round_float64

    bf16 = FORMATS["bfloat16"].dtype
    real = sp.logsumexp

    def strict(x, axis=None):  # SciPy 1.17's behaviour, whatever the installed SciPy does
        if x.dtype == bf16:
            raise TypeError("dtype argument must be a NumPy dtype")
        return real(x, axis=axis)

    monkeypatch.setattr(sp, "logsumexp", strict)
    s = thirdparty.framework_impl("scipy")
    x = np.array([[1.0, 2.0, 3.0], [100.0, -5.0, 0.25]]).astype(bf16)
    y = s.evaluate("logsumexp", "bfloat16", (x,))
    want = round_float64(real(x.astype(np.float32), axis=-1).astype(np.float64), "bfloat16")
    assert y.dtype == bf16 and np.array_equal(y, want)
    assert s.notes[("logsumexp", "bfloat16")] == "rejects bfloat16 (TypeError); fed a float32 copy, rounded to bfloat16"
    # another error is the library's own: it is not retried
    monkeypatch.setattr(sp, "logsumexp", lambda x, axis=None: (_ for _ in ()).throw(ValueError("no")))
    with pytest.raises(ValueError):
        s.evaluate("logsumexp", "bfloat16", (x,))


@pytest.mark.slow
def test_a_raising_keras_call_is_one_cells_error(tmp_path, monkeypatch):
    """Issue 17: Keras fails soft like the other libraries: one call that
    raises is that cell's error, its other functions are measured."""
    reason = thirdparty.available("keras")
    if reason:
        pytest.skip(reason)
    import keras

    def refuse(*args, **kwargs):
        raise NotImplementedError("logsumexp is out today")

    monkeypatch.setattr(keras.ops, "logsumexp", refuse)
    r = runner.invoke(app, ["audit", "--frameworks", "keras", "--functions", "logsumexp,softplus", "--dtypes", "float32",
                            "--samples", "60", "--no-cache", "--quiet", "--out", str(tmp_path / "a")])
    assert r.exit_code == 0, r.output
    assert r.stderr == "warning: keras logsumexp float32: NotImplementedError: logsumexp is out today\n"
    cells = {(x["function"], x["impl"]): x for x in json.loads((tmp_path / "a" / "report.json").read_text())["results"]}
    assert cells[("logsumexp", "keras")]["error"] == "NotImplementedError: logsumexp is out today"
    assert "error" not in cells[("softplus", "keras")] and cells[("softplus", "keras")]["max_ulp"] >= 0


def test_staged_dir_rollback_restores_links_and_removes_the_folders_it_made(tmp_path, monkeypatch):
    # found by review: a link to a folder at a file's place was lost on
    # rollback, and nested folders made for new files stayed behind
    out, target = tmp_path / "rep", tmp_path / "elsewhere"
    out.mkdir()
    target.mkdir()
    (out / "report.md").symlink_to(target)
    (out / "keep.txt").write_text("mine")
    real, calls = os.rename, []

    def failing(src, dst):  # the commit's last move fails
        calls.append(dst)
        if str(dst).endswith("zz.txt"):
            raise OSError(5, "Input/output error", str(dst))
        return real(src, dst)

    with pytest.raises(OSError, match="Input/output error"), staged_dir(str(out)) as tmp:
        os.makedirs(os.path.join(tmp, "a", "b", "c"))
        for rel in ("report.md", "a/b/c/new.txt", "zz.txt"):
            with open(os.path.join(tmp, rel), "w") as fh:
                fh.write("new")
        monkeypatch.setattr(os, "rename", failing)
    monkeypatch.setattr(os, "rename", real)
    assert (out / "report.md").is_symlink() and os.readlink(out / "report.md") == str(target)
    assert sorted(os.listdir(out)) == ["keep.txt", "report.md"]
