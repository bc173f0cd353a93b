"""The analyze, report, plot and audit commands: exit codes and what a user reads."""

import importlib.util
import json
import re

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


def test_analyze_table_says_what_happened_past_2p_ulps(app):
    # issue 17: the stable tier's clip turns a loss of ~1e-20 into 1.19e-7 in
    # float32, 6e30 ulps off: the table names it, not "8.51e+37" or "inf"
    r = runner.invoke(app, ["analyze", "binary_crossentropy:probs", "--dtype", "float32", "--samples", "400",
                            "--impls", "stable,accurate"])
    assert r.exit_code == 0, r.output
    row = next(line for line in r.output.splitlines() if "stable" in line)
    assert "too large (\u00d7" in row and "inf" not in row.split("\u2502")[2]
    for col in ("flush to 0", "wrong sign", "too large"):
        assert col in r.output


def test_analyze_exhaustive(app):
    r = runner.invoke(app, ["analyze", "sigmoid", "--dtype", "bfloat16", "--exhaustive", "--impls", "accurate", "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)[0]["n"] == 65282


@pytest.mark.parametrize("args, needle", [
    (["analyze", "softmaxx"], "unknown function 'softmaxx'"),
    (["analyze", "sigmoid", "--dtype", "float8"], "unknown format 'float8'"),
    (["analyze", "sigmoid", "--impls", "naive,theano"], "unknown implementation 'theano'"),
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
    (["plot", "sigmoid", "--out", "{tmp}/file.txt/p.png"], "is not a folder"),
    (["plot", "sigmoid", "--out", "{tmp}"], "must end in .png"),
    (["audit", "--frameworks", "scipy,caffe", "--out", "{tmp}/a"], "unknown framework 'caffe'"),
    (["report", "--dtypes", "float32,float8_e4m3fn", "--out", "{tmp}/r"], "float8_e4m3fn is for ulps, rounding and references only"),
    (["audit", "--dtypes", "float8_e5m2", "--out", "{tmp}/a"], "no function runs in it"),
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


# ------------------------------------------------------------ issue 17: --out, --device, Keras and TensorFlow

import os
import sys

from stabkit.analysis import keras_tf
from stabkit.analysis.thirdparty import available


def test_plot_creates_a_missing_folder(app, tmp_path):
    out = tmp_path / "new" / "deeper" / "values.svg"
    r = runner.invoke(app, ["plot", "sigmoid", "--dtype", "float32", "--kind", "values", "--impls", "accurate",
                            "--samples", "50", "--no-cache", "--out", str(out), "--quiet"])
    assert r.exit_code == 0, r.output
    assert out.read_text().lstrip().startswith("<?xml") and os.listdir(out.parent) == ["values.svg"]


def _no_work(*args, **kwargs):
    raise AssertionError("the work started before --out was checked")


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux's /proc, where no file can be created")
@pytest.mark.parametrize("args", [
    ["train", "--epochs", "1", "--out", "/proc/stabkit-x"],
    ["plot", "sigmoid", "--samples", "50", "--out", "/proc/x.png"],
    ["plot", "sigmoid", "--samples", "50", "--out", "/proc/stabkit-x/y/x.png"],
    ["report", "--functions", "sigmoid", "--samples", "50", "--out", "/proc/stabkit-x"],
    ["audit", "--functions", "sigmoid", "--samples", "50", "--out", "/proc/stabkit-x"],
])
def test_an_unwritable_out_is_refused_before_any_work(app, monkeypatch, args):
    # os.access says /proc is writable to root; only creating a file there tells
    import stabkit.analysis.sampling as sampling
    import stabkit.cli.train as train

    monkeypatch.setattr(train, "_load", _no_work)
    monkeypatch.setattr(sampling, "make_sample", _no_work)
    r = runner.invoke(app, args)
    assert r.exit_code == 2, r.output
    assert r.stderr.startswith("error: Invalid value for '--out': ") and "/proc" in r.stderr
    assert len(r.stderr.splitlines()) == 1 and "cannot be written into" in r.stderr and r.stdout == ""


def _torch_without_cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return not torch.cuda.is_available()


@pytest.mark.skipif(not _torch_without_cuda(), reason="needs PyTorch on a machine without CUDA")
@pytest.mark.parametrize("args", [
    ["report", "--impls", "accurate,torch", "--out", "{tmp}/r"],
    ["audit", "--frameworks", "numpy,torch", "--out", "{tmp}/r"],
    ["analyze", "sigmoid", "--impls", "accurate,torch"],
    ["analyze", "sigmoid", "--dtype", "float32", "--exhaustive"],  # the sweep: torch is among its defaults
])
def test_device_cuda_without_a_gpu_is_one_line_before_any_work(app, tmp_path, monkeypatch, args):
    import stabkit.analysis.sampling as sampling
    import stabkit.analysis.sweep as sweep

    monkeypatch.setattr(sampling, "make_sample", _no_work)
    monkeypatch.setattr(sweep, "sweep", _no_work)
    r = runner.invoke(app, [a.replace("{tmp}", str(tmp_path)) for a in args] + ["--device", "cuda"])
    assert r.exit_code == 2 and r.stdout == ""
    assert r.stderr.splitlines() == ["error: Invalid value for '--device': torch: --device cuda requested but "
                                     "torch.cuda.is_available() is False"]
    assert os.listdir(tmp_path) == []


def test_audit_reports_a_missing_tensorflow_as_skipped(app, tmp_path, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "tensorflow" else real(n, *a))
    monkeypatch.setattr(keras_tf, "_IMPORTED", {})
    r = runner.invoke(app, ["audit", "--frameworks", "numpy,tensorflow", "--functions", "softplus", "--dtypes", "float32",
                            "--samples", "50", "--no-cache", "--out", str(tmp_path / "a")])
    assert r.exit_code == 0, r.output
    reason = "tensorflow: skipped, package 'tensorflow' is not installed (pip install tensorflow)"
    assert reason in r.stderr.splitlines()
    d = json.loads((tmp_path / "a" / "report.json").read_text())
    assert d["skipped"] == [reason] and [i["name"] for i in d["implementations"]] == ["accurate", "numpy"]


@pytest.mark.slow
def test_audit_and_report_measure_keras(app, tmp_path):
    reason = available("keras")
    if reason:
        pytest.skip(reason)
    r = runner.invoke(app, ["audit", "--frameworks", "keras", "--functions", "log_softmax,binary_crossentropy",
                            "--dtypes", "float32", "--samples", "200", "--no-cache", "--quiet", "--out", str(tmp_path / "a")])
    assert r.exit_code == 0, r.output
    d = json.loads((tmp_path / "a" / "report.json").read_text())
    assert [i["name"] for i in d["implementations"]] == ["accurate", "keras"]
    assert d["function_info"]["log_softmax"]["calls"]["keras"] == "keras.ops.log_softmax"
    cells = {(x["function"], x["impl"]): x for x in d["results"]}
    # keras.ops.log_softmax is the max-shifted form: the winner's log-probability is 0 past a gap of ~17 in float32
    assert cells[("log_softmax", "keras")]["max_ulp"] > 1e6 and cells[("log_softmax", "accurate")]["max_ulp"] <= 0.5
    r = runner.invoke(app, ["report", "--functions", "binary_crossentropy:probs", "--dtypes", "float32", "--impls",
                            "accurate,keras", "--samples", "200", "--no-cache", "--quiet", "--out", str(tmp_path / "r")])
    assert r.exit_code == 0, r.output
    d = json.loads((tmp_path / "r" / "report.json").read_text())
    keras_cell = next(x for x in d["results"] if x["impl"] == "keras")
    assert keras_cell["function"] == "binary_crossentropy:probs" and "error" not in keras_cell


@pytest.mark.slow
def test_audit_and_report_measure_tensorflow(app, tmp_path):
    reason = available("tensorflow")
    if reason:
        pytest.skip(reason)
    r = runner.invoke(app, ["audit", "--frameworks", "tensorflow", "--functions", "log_softmax,categorical_crossentropy",
                            "--dtypes", "float32,bfloat16", "--samples", "200", "--no-cache", "--quiet",
                            "--out", str(tmp_path / "a")])
    assert r.exit_code == 0, r.output
    d = json.loads((tmp_path / "a" / "report.json").read_text())
    assert [i["name"] for i in d["implementations"]] == ["accurate", "tensorflow"]
    assert d["function_info"]["log_softmax"]["calls"]["tensorflow"] == "tf.nn.log_softmax"
    cells = {(x["function"], x["impl"], x["format"]): x for x in d["results"]}
    assert len(cells) == 8 and not any("error" in c for c in cells.values())
    # tf.nn.log_softmax is max-shifted: the winner's log-probability is 0 past a gap of ~17 in float32
    assert cells[("log_softmax", "tensorflow", "float32")]["max_ulp"] > 1e6
    assert cells[("log_softmax", "accurate", "float32")]["max_ulp"] <= 0.5
    # the sample's masked rows (a logit of -inf with target 0): softmax_cross_entropy_with_logits gives NaN
    assert cells[("categorical_crossentropy", "tensorflow", "float32")]["failures"] > 0
    assert cells[("categorical_crossentropy", "accurate", "float32")]["failures"] == 0
    r = runner.invoke(app, ["report", "--functions", "binary_crossentropy:probs", "--dtypes", "float32", "--impls",
                            "accurate,tensorflow", "--samples", "200", "--no-cache", "--quiet", "--out", str(tmp_path / "r")])
    assert r.exit_code == 0, r.output
    d = json.loads((tmp_path / "r" / "report.json").read_text())
    tf_cell = next(x for x in d["results"] if x["impl"] == "tensorflow")
    assert tf_cell["function"] == "binary_crossentropy:probs" and "error" not in tf_cell


def _report(app, out, fn, *extra):
    return runner.invoke(app, ["report", "--functions", fn, "--dtypes", "float32", "--impls", "naive",
                               "--samples", "50", "--out", str(out), *extra])


def test_report_replaces_an_earlier_report_as_a_whole(app, tmp_path):
    out = tmp_path / "rep"
    r = _report(app, out, "sigmoid", "--csv")
    assert r.exit_code == 0, r.stderr
    assert "(report.md, report.html, report.json, errors.csv, figures/)" in r.stderr
    assert (out / "figures" / "error_sigmoid.png").exists() and (out / "errors.csv").exists()
    r = _report(app, out, "softplus")
    assert r.exit_code == 0, r.stderr
    assert "(report.md, report.html, report.json, figures/)" in r.stderr
    names = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert names == ["figures/error_softplus.png", "figures/summary.png", "report.html", "report.json", "report.md"]


@pytest.mark.parametrize("stray", ["notes.txt", "figures/notes.txt", "figures/sub/x.png", "sub/report.md",
                                   "figures/mine.png", "figures/lecture_summary.svg"])
def test_report_keeps_other_files_untouched_and_names_them(app, tmp_path, stray):
    out = tmp_path / "rep"
    assert _report(app, out, "sigmoid", "--csv").exit_code == 0
    (out / stray).parent.mkdir(parents=True, exist_ok=True)
    (out / stray).write_text("mine\n")
    r = _report(app, out, "softplus", "--quiet")
    assert r.exit_code == 0, r.stderr
    assert r.stderr.splitlines() == [f"note: kept 1 file of {out}/ that is not part of the report: {stray}"]
    assert (out / stray).read_text() == "mine\n"
    names = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert names == sorted([stray, "figures/error_softplus.png", "figures/summary.png", "report.html", "report.json",
                            "report.md"])


def test_an_interrupted_report_leaves_the_previous_one_byte_identical(app, tmp_path, monkeypatch):
    from stabkit.report import build

    out = tmp_path / "rep"
    assert _report(app, out, "sigmoid", "--csv").exit_code == 0
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    real = build.atomic_write

    def interrupted(path, data):
        if path.endswith("report.html"):
            raise KeyboardInterrupt
        real(path, data)

    monkeypatch.setattr(build, "atomic_write", interrupted)
    r = _report(app, out, "softplus")
    assert r.exit_code == 130 and r.stderr.splitlines() == ["error: interrupted"]
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert sorted(p.name for p in out.iterdir()) == ["errors.csv", "figures", "report.html", "report.json", "report.md"]


def test_plot_takes_an_upper_case_extension(app, tmp_path):
    out = tmp_path / "X.PNG"
    r = runner.invoke(app, ["plot", "sigmoid", "--dtype", "float32", "--samples", "50", "--impls", "naive",
                            "--out", str(out), "--quiet"])
    assert r.exit_code == 0, r.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_some_implementations_missing_is_a_note_not_an_error(app):
    missing = next((n for n in ("tensorflow", "torch", "jax") if importlib.util.find_spec(n) is None), None)
    if missing is None:
        pytest.skip("every framework is installed here")
    r = runner.invoke(app, ["analyze", "sigmoid", "--samples", "100", "--impls", f"naive,{missing}", "--json"])
    assert r.exit_code == 0, r.stderr
    assert [d["impl"] for d in json.loads(r.stdout)] == ["naive"]


def test_analyze_under_an_ascii_encoding_prints_a_table(tmp_path):
    import os
    import subprocess
    import sys

    env = {**os.environ, "PYTHONIOENCODING": "ascii", "STABKIT_CACHE_DIR": str(tmp_path)}
    r = subprocess.run([sys.executable, "-m", "stabkit", "analyze", "sigmoid", "--samples", "10", "--impls", "naive",
                        "-q"], capture_output=True, text=True, env=env)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert "naive" in r.stdout and "sigmoid in float32" in r.stdout


def test_analyze_samples_help_says_special_points_are_added(app):
    r = runner.invoke(app, ["analyze", "--help"], env={"COLUMNS": "1000"})
    text = " ".join(r.stdout.split())
    assert "special inputs" in text and "samples/10" in text and "857" in text


@pytest.mark.parametrize("opt", [["--samples", "5"], ["--seed", "7"]])
def test_exhaustive_refuses_sampling_options(app, opt):
    # were silently ignored: every input is measured
    r = runner.invoke(app, ["analyze", "sigmoid", "--dtype", "bfloat16", "--exhaustive", "--impls", "accurate", *opt])
    assert r.exit_code == 2 and f"Invalid value for '{opt[0]}': has no effect with --exhaustive" in r.stderr


def test_report_reads_dashed_names_and_records_the_registry_spelling(app, tmp_path):
    out = tmp_path / "rep"
    r = runner.invoke(app, ["report", "--functions", "Log-Sigmoid,log_sigmoid,Binary-Crossentropy:probs", "--dtypes",
                            "float32", "--impls", "accurate", "--samples", "50", "--out", str(out), "--quiet"])
    assert r.exit_code == 0, r.output
    rep = json.loads((out / "report.json").read_text())
    assert "--functions log_sigmoid,binary_crossentropy:probs " in rep["command"]
    assert {row["function"] for row in rep["results"]} == {"log_sigmoid", "binary_crossentropy:probs"}
    assert sorted(p.name for p in (out / "figures").iterdir()) == ["error_binary_crossentropy-probs.png",
                                                                    "error_log_sigmoid.png", "summary.png"]


def test_a_folder_without_a_report_keeps_files_named_like_a_reports(app, tmp_path):
    # a probe's `report --out proj` deleted proj/errors.csv and
    # proj/figures/error_bars.png: names of a report's files, in a folder that
    # never held one (no report.json). They are the user's: kept, and where
    # the report writes a file of the same name, replaced and said so.
    out = tmp_path / "proj"
    (out / "figures").mkdir(parents=True)
    for rel in ("errors.csv", "figures/error_bars.png", "notes.md"):
        (out / rel).write_text("mine\n")
    r = _report(app, out, "sigmoid", "--quiet")
    assert r.exit_code == 0, r.stderr
    assert r.stderr.splitlines() == [f"note: kept 3 files of {out}/ that are not part of the report: errors.csv, "
                                     "figures/error_bars.png, notes.md"]  # fmt: skip
    assert all((out / rel).read_text() == "mine\n" for rel in ("errors.csv", "figures/error_bars.png", "notes.md"))
    # now a report folder: the files its report.json lists go, the user's stay,
    # those named like a report's too (the second run deleted them)
    r = _report(app, out, "softplus", "--quiet")
    assert r.exit_code == 0, r.stderr
    assert not (out / "figures" / "error_sigmoid.png").exists() and (out / "figures" / "error_softplus.png").exists()
    assert all((out / rel).read_text() == "mine\n" for rel in ("errors.csv", "figures/error_bars.png", "notes.md"))
    assert r.stderr.splitlines() == [f"note: kept 3 files of {out}/ that are not part of the report: errors.csv, "
                                     "figures/error_bars.png, notes.md"]  # fmt: skip
    listed = json.loads((out / "report.json").read_text())["files"]
    assert listed == ["figures/error_softplus.png", "figures/summary.png", "report.html", "report.json", "report.md"]
    fresh = tmp_path / "other"
    fresh.mkdir()
    (fresh / "errors.csv").write_text("mine\n")
    r = _report(app, fresh, "sigmoid", "--quiet", "--csv")
    assert r.exit_code == 0, r.stderr
    assert r.stderr.splitlines() == [f"note: replaced 1 file of {fresh}/ that no earlier report wrote, by the "
                                     "report's files of the same name: errors.csv"]  # fmt: skip
    # in a report folder too: the user's errors.csv that the first report kept
    r = _report(app, out, "softplus", "--quiet", "--csv")
    assert r.exit_code == 0 and "note: replaced 1 file of" in r.stderr and "errors.csv" in r.stderr


@pytest.mark.parametrize("command", ["analyze", "plot"])
def test_one_function_commands_refuse_a_list_in_one_line(app, tmp_path, command):
    # was: "error: internal error: ValueError: too many values to unpack", exit 1
    extra = ["--out", str(tmp_path / "f.png")] if command == "plot" else []
    r = runner.invoke(app, [command, "sigmoid,softmax", "--samples", "10", *extra])
    assert r.exit_code == 2 and r.stderr.splitlines() == [
        "error: Invalid value for 'FUNCTION': one function only, got 'sigmoid,softmax'; "
        "`stabkit report --functions sigmoid,softmax` takes several"]
    assert not (tmp_path / "f.png").exists()


def test_report_without_png_links_the_figures_it_wrote_and_reproduces_itself(app, tmp_path, monkeypatch):
    """--figure-format svg wrote no PNG, yet report.md linked figures/*.png;
    the Reproduce line dropped --csv and --figure-format and left a folder
    name with a space unquoted, so running it was a usage error."""
    import shlex

    monkeypatch.chdir(tmp_path)
    args = ["report", "--functions", "softplus", "--dtypes", "float16", "--impls", "accurate", "--samples", "20",
            "--out", "my dir", "--csv", "--figure-format", "svg", "--quiet"]  # fmt: skip
    assert runner.invoke(app, args).exit_code == 0
    text = (tmp_path / "my dir" / "report.md").read_text()
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert links and all((tmp_path / "my dir" / link).is_file() and link.endswith(".svg") for link in links)
    command = json.loads((tmp_path / "my dir" / "report.json").read_text())["command"]
    assert f"Reproduce: `{command}`" in text
    again = shlex.split(command)
    assert again[0] == "stabkit" and again[again.index("--out") + 1] == "my dir"
    assert "--csv" in again and again[again.index("--figure-format") + 1] == "svg"
    (tmp_path / "my dir").rename(tmp_path / "first")
    assert runner.invoke(app, again[1:] + ["--quiet"]).exit_code == 0
    written = lambda d: sorted(str(p.relative_to(d)) for p in d.rglob("*") if p.is_file())  # noqa: E731
    assert written(tmp_path / "my dir") == written(tmp_path / "first")
