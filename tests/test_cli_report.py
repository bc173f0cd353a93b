"""The analyze, report, plot and audit commands: exit codes and what a user reads."""

import json

import pytest
from typer.testing import CliRunner

from stabkit import cli


@pytest.fixture
def app():
    """The stabkit app, into which stabkit.cli.report's own Typer app is merged."""
    return cli.app


runner = CliRunner()


def test_analyze_table_and_json(app):
    r = runner.invoke(app, ["analyze", "softplus", "--dtype", "float32", "--samples", "300", "--impls", "naive,accurate"])
    assert r.exit_code == 0, r.output
    assert "softplus in float32" in r.stdout and "naive" in r.stdout and "accurate" in r.stdout
    assert "\x1b[" not in r.stdout  # not a terminal: no colour codes
    r = runner.invoke(app, ["analyze", "softplus", "--dtype", "float32", "--samples", "300", "--impls", "naive,accurate", "--json"])
    d = json.loads(r.stdout)
    assert [x["impl"] for x in d] == ["naive", "accurate"] and d[0]["failures"] > 0 and d[1]["max_ulp"] <= 0.5


def test_analyze_exhaustive(app):
    r = runner.invoke(app, ["analyze", "sigmoid", "--dtype", "bfloat16", "--exhaustive", "--impls", "accurate", "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)[0]["n"] == 65282


@pytest.mark.parametrize("args, needle", [
    (["analyze", "softmaxx"], "unknown function 'softmaxx'"),
    (["analyze", "sigmoid", "--dtype", "float8"], "unknown format 'float8'"),
    (["analyze", "sigmoid", "--impls", "naive,keras"], "unknown implementation 'keras'"),
    (["analyze", "sigmoid", "--samples", "0"], "--samples"),
    (["analyze", "softmax", "--exhaustive"], "--exhaustive"),
    (["analyze", "sigmoid:probs"], "not a loss"),
    (["report", "--functions", "sigmoid,nope", "--out", "{tmp}/r"], "unknown function 'nope'"),
    (["report", "--samples", "-3", "--out", "{tmp}/r"], "got -3"),
    (["report", "--out", "{tmp}/file.txt"], "is not a folder"),
    (["report", "--out", "{tmp}/file.txt/sub"], "is not a folder"),
    (["report", "--device", "tpu", "--out", "{tmp}/r"], "unknown device 'tpu'"),
    (["plot", "sigmoid", "--kind", "violin", "--out", "{tmp}/p.png"], "unknown kind 'violin'"),
    (["plot", "sigmoid", "--out", "{tmp}/p.gif"], "must end in .png"),
    (["plot", "sigmoid", "--out", "{tmp}/missing/p.png"], "does not exist"),
    (["audit", "--frameworks", "scipy,tensorflow", "--out", "{tmp}/a"], "unknown framework 'tensorflow'"),
])
def test_bad_arguments_one_line_exit_2_nothing_written(app, tmp_path, args, needle):
    (tmp_path / "file.txt").write_text("x")
    r = runner.invoke(app, [a.replace("{tmp}", str(tmp_path)) for a in args])
    assert r.exit_code == 2
    assert len(r.stderr.splitlines()) == 1 and needle in r.stderr and r.stderr.startswith("error: ")
    assert "Traceback" not in r.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt"]


def test_report_quiet_and_files(app, tmp_path):
    out = tmp_path / "rep"
    args = ["report", "--functions", "softplus", "--dtypes", "float32", "--impls", "naive,accurate,scipy",
            "--samples", "200", "--out", str(out), "--csv", "--figure-format", "png,svg"]
    r = runner.invoke(app, args + ["--quiet"])
    assert r.exit_code == 0 and r.output == ""
    names = sorted(p.name for p in out.rglob("*") if p.is_file())
    assert names == ["error_softplus.png", "error_softplus.svg", "errors.csv", "report.html", "report.json", "report.md",
                     "summary.png", "summary.svg"]
    r = runner.invoke(app, args)
    assert r.exit_code == 0 and r.stderr.strip().startswith("wrote 8 files into")


def test_plot_writes_one_figure(app, tmp_path):
    out = tmp_path / "cdf.png"
    r = runner.invoke(app, ["plot", "log_softmax", "--dtype", "float16", "--kind", "cdf", "--samples", "100", "--out", str(out)])
    assert r.exit_code == 0 and out.stat().st_size > 10000 and f"wrote {out}" in r.stderr


@pytest.mark.slow
def test_audit_is_third_party_beside_accurate(app, tmp_path):
    r = runner.invoke(app, ["audit", "--frameworks", "scipy,numpy", "--functions", "sigmoid", "--dtypes", "float64",
                            "--samples", "200", "--out", str(tmp_path), "--quiet"])
    assert r.exit_code == 0
    d = json.loads((tmp_path / "report.json").read_text())
    assert [i["name"] for i in d["implementations"]] == ["accurate", "scipy", "numpy"]
    assert d["command"].startswith("stabkit audit --frameworks scipy,numpy --functions sigmoid --dtypes float64")
