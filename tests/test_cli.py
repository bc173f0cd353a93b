"""`stabkit list` and `stabkit eval`: exit codes and the text a user reads."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from helpers.terminal import run_in_a_terminal
from stabkit.cli import app

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def run():
    runner = CliRunner()

    def _run(*args):
        return runner.invoke(app, list(args), env={"COLUMNS": "200", "NO_COLOR": "1"})

    return _run


def test_list(run):
    r = run("list")
    assert r.exit_code == 0
    for name in ("sigmoid", "log_softmax", "sparse_categorical_crossentropy", "bfloat16", "float8_e4m3fn"):
        assert name in r.stdout
    obj = json.loads(run("list", "--json").stdout)
    assert len(obj["functions"]) == 9 and obj["tiers"] == ["naive", "stable", "accurate"]


def test_eval_softmax_shows_naive_failing(run):
    r = run("eval", "softmax", "1000", "1", "--dtype", "float32")
    assert r.exit_code == 0
    naive_line = next(line for line in r.stdout.splitlines() if "naive" in line)
    assert "nan" in naive_line and "FAIL" in naive_line
    for tier in ("stable", "accurate"):
        line = next(line for line in r.stdout.splitlines() if line.strip("│ ").startswith(tier))
        assert "1.0 0.0" in line and "FAIL" not in line


def test_eval_json_schema(run):
    r = run("eval", "sigmoid", "--", "-100", "0", "800", "--dtype", "float32", "--json")
    assert r.exit_code == 0, r.output
    obj = json.loads(r.stdout)
    assert obj["function"] == "sigmoid" and obj["dtype"] == "float32"
    assert obj["inputs"] == [-100.0, 0.0, 800.0]
    # sigmoid(-100) = 3.72e-44 is a float32 subnormal (27 * 2**-149 after rounding)
    assert obj["reference"] == [27 * 2.0**-149, 0.5, 1.0]
    assert set(obj["implementations"]) == {"naive", "stable", "accurate"}
    acc = obj["implementations"]["accurate"]
    assert acc["values"] == obj["reference"] and all(e <= 0.5 for e in acc["ulp_error"])
    # naive: exp(100) overflows float32, 1/inf = 0
    assert obj["implementations"]["naive"]["values"][0] == 0.0
    assert obj["implementations"]["naive"]["ulp_error"][0] > 20  # 26.5 ulp: the whole value is lost


def test_eval_negative_numbers_without_separator(run):
    r = run("eval", "log_sigmoid", "-800", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["reference"] == [-800.0]


def test_eval_loss_with_labels(run):
    r = run("eval", "sparse_categorical_crossentropy", "20", "0", "0", "0", "--labels", "0", "--dtype", "float32", "--json")
    obj = json.loads(r.stdout)
    assert obj["reference"] == [pytest.approx(6.183460848198079e-09, rel=1e-7, abs=0)]
    assert obj["implementations"]["stable"]["values"] == [0.0]
    assert obj["implementations"]["accurate"]["ulp_error"][0] <= 0.5
    r = run("eval", "binary_crossentropy", "1e-20", "--labels", "0", "--from-probs", "--json")
    obj = json.loads(r.stdout)
    assert obj["from_logits"] is False and obj["implementations"]["accurate"]["values"] == [1e-20]


@pytest.mark.parametrize(
    "args,message",
    [
        (("eval", "softmaxx", "1"), "unknown function 'softmaxx'"),
        (("eval", "expit", "1"), "unknown function 'expit' (SciPy's expit is sigmoid here)"),
        (("eval", "cross-entropy", "1"), "(PyTorch's cross_entropy is sparse_categorical_crossentropy here)"),
        (("eval", "sigmoid", "abc"), "'abc' is not a number"),
        (("eval", "sigmoid", "\u0661"), "is not a number"),  # Arabic-Indic 1: float() reads it, eval does not
        (("eval", "sigmoid", "0x1p99999"), "'0x1p99999' is not a number"),
        (("eval", "sigmoid", "1", "--dtype", "float12"), "unknown format 'float12'"),
        (("eval", "sparse_categorical_crossentropy", "1", "2", "--labels", "5"), "label 5 is out of range for 2 classes"),
        (("eval", "sparse_categorical_crossentropy", "1", "2"), "needs --labels"),
        (("eval", "binary_crossentropy", "1", "2", "--labels", "1"), "--labels has 1 values but there are 2 inputs"),
        (("eval",), "Missing argument"),
        (("eval", "sigmoid", "--dtype"), "--dtype"),
    ],
)
def test_bad_input_is_one_line_exit_2(run, args, message):
    r = run(*args)
    assert r.exit_code == 2
    err = r.stderr.strip().splitlines()
    assert len(err) == 1 and message in err[0] and err[0].startswith("error: ")
    assert "Traceback" not in r.output


def test_function_names_with_dashes_or_capitals(run):
    # log-softmax, the usual spelling of a command-line word, is log_softmax
    want = json.loads(run("eval", "log_softmax", "1", "2", "--json").stdout)
    assert json.loads(run("eval", "Log-Softmax", "1", "2", "--json").stdout) == want
    rows = json.loads(run("analyze", "log-sigmoid", "--samples", "50", "--impls", "accurate", "--json").stdout)
    assert [r["function"] for r in rows] == ["log_sigmoid"]


def test_eval_reads_hexadecimal_floats(run):
    # the exact binary inputs of a round-off lecture (were "is not a number")
    got = json.loads(run("eval", "sigmoid", "0x1p-1074", "-0x1.8p3", "--impls", "accurate", "--json").stdout)
    assert got["inputs"] == [2.0**-1074, -12.0]


def test_eval_says_when_an_input_rounds_to_inf_or_0(run):
    # was: 70000 in float16 became inf with the title alone saying so
    r = run("eval", "softmax", "70000", "0.1", "1e-9", "--dtype", "float16", "--impls", "accurate", "--json")
    assert r.stderr.splitlines() == ["note: 70000 rounds to inf in float16 (beyond its largest finite value)",
                                     "note: 1e-9 rounds to 0 in float16 (below half its least subnormal)"]
    assert json.loads(r.stdout)["inputs"] == ["inf", 0.0999755859375, 0.0]  # float16 values; JSON has no inf
    r = run("eval", "sigmoid", "1e400", "1e-400", "-inf", "0", "--impls", "accurate", "--json")
    assert [line.split(" rounds")[0] for line in r.stderr.splitlines()] == ["note: 1e400", "note: 1e-400"]


def test_library_names_in_any_case(run):
    from stabkit.cli.options import check_list

    known = ("naive", "accurate", "torch", "tensorflow")
    assert check_list("--impls", "PyTorch,TF,Accurate,torch", known, "implementation") == ["torch", "tensorflow",
                                                                                            "accurate"]
    got = json.loads(run("eval", "sigmoid", "1", "--impls", "NAIVE,Accurate", "--json").stdout)
    assert list(got["implementations"]) == ["naive", "accurate"]


def test_console_script_and_shim_from_a_subprocess():
    # the real entry point (sys.exit codes, stderr) and the root cli.py shim
    r = subprocess.run([sys.executable, str(ROOT / "cli.py"), "eval", "sigmoid", "x"], capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.strip() == "error: 'x' is not a number"
    r = subprocess.run([sys.executable, "-m", "stabkit", "--help"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0 and "eval" in r.stdout and "list" in r.stdout


# ------------------------------------------------------------ issue 12: list at any width

NAMES = ["sigmoid", "log_sigmoid", "softplus", "softmax", "log_softmax", "logsumexp", "binary_crossentropy",
         "sparse_categorical_crossentropy", "categorical_crossentropy"]
FORMAT_NAMES = ["float16", "bfloat16", "float32", "float64", "float8_e4m3fn", "float8_e5m2"]


def _first_words(text: str) -> list[str]:
    """What `awk '{print $1}'` prints."""
    return [line.split()[0] for line in text.splitlines() if line.split()]


@pytest.mark.parametrize("columns", ["40", "80"])
def test_list_without_a_terminal_is_plain_columns(columns):
    r = CliRunner().invoke(app, ["list"], env={"COLUMNS": columns})
    assert r.exit_code == 0, r.output
    words = _first_words(r.stdout)
    assert words[: len(NAMES) + 1] == ["function", *NAMES]
    assert words[words.index("format") + 1 : words.index("format") + 7] == FORMAT_NAMES
    assert not any(ch in r.stdout for ch in "│┃…\x1b")  # no box drawing, ellipsis or colour
    assert any(line.startswith("trainer step: ") for line in r.stdout.splitlines())


def test_list_through_a_pipe_in_a_subprocess():
    env = {**os.environ, "COLUMNS": "40"}
    r = subprocess.run([sys.executable, "-m", "stabkit", "list"], capture_output=True, text=True, cwd=ROOT, env=env)
    assert r.returncode == 0 and r.stderr == ""
    assert _first_words(r.stdout)[1 : len(NAMES) + 1] == NAMES
    row = next(line for line in r.stdout.splitlines() if line.startswith("sparse_categorical_crossentropy "))
    assert "-log softmax(z)[y]" in row  # cells are text, not rich markup


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
@pytest.mark.parametrize("columns", [40, 80])
def test_list_on_a_narrow_terminal_never_cuts_a_name(columns):
    out = run_in_a_terminal(["list"], columns)
    words = set(re.findall(r"[A-Za-z0-9_]+", out))
    assert set(NAMES) <= words and set(FORMAT_NAMES) <= words
    assert "…" not in out
    assert all(len(line) <= columns for line in out.splitlines())
    assert "trainer step: " in out


def test_list_reports_the_trainers_step(monkeypatch):
    monkeypatch.setenv("STABKIT_NATIVE", "0")
    r = CliRunner().invoke(app, ["list"])
    assert r.stdout.rstrip().splitlines()[-1] == "trainer step: NumPy (STABKIT_NATIVE=0)"
    r = CliRunner().invoke(app, ["list", "--json"])
    assert "trainer" not in r.stdout  # --json unchanged


def test_bare_command_prints_help_and_one_error_line():
    r = subprocess.run([sys.executable, "-m", "stabkit"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 2 and "list" in r.stdout
    assert r.stderr == "error: Missing command.\n"


# ------------------------------------------------------------ issue 17: what list promises, eval's verdicts

def test_list_and_report_agree_on_the_float8_formats(run, tmp_path):
    formats = json.loads(run("list", "--json").stdout)["formats"]
    plain = run("list").stdout.splitlines()
    for f in formats:
        row = next(line for line in plain if line.split()[:1] == [f["name"]])
        if f["arithmetic"]:
            assert row.endswith("  yes")
            continue
        assert row.endswith("no (ulps, rounding and references only)")
        r = run("report", "--dtypes", f["name"], "--out", str(tmp_path / "r"))
        assert r.exit_code == 2 and r.stderr.count("\n") == 1
        assert f"{f['name']} is for ulps, rounding and references only" in r.stderr
        # and they are: the error metrics and the references do run in it
        from stabkit.floats import enumerate_format
        from stabkit.reference import reference

        x = enumerate_format(f["name"])[::17]
        ref = reference("sigmoid", x)
        assert ref.rounded.dtype == x.dtype and (ref.ulp_error(ref.rounded) <= 0.5).all()
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("errs, bad, precision, status", [
    ([0.0, 0.5], [False, False], 24, "correctly rounded"),
    ([0.2, 0.75], [False, False], 24, "faithful (< 1 ulp)"),
    ([0.2, 1.03], [False, False], 53, "1.03 ulp off"),
    ([1.03e7, 0.1], [False, False], 24, "wrong: 1.03e+07 ulp"),  # 2**23 ulp: not one bit right
    ([1.03e7], [False], 53, "1.03e+07 ulp off"),
    ([float("inf"), 0.0], [False, False], 11, "wrong: over 1.8e+308 ulp"),  # 1e-7 where the exact value is 0
    ([float("inf"), 0.0], [True, False], 11, "FAIL: inf/NaN where the exact value is finite"),
    ([float("nan")], [False], 53, "exact value undefined (NaN)"),
])
def test_eval_status_rule(errs, bad, precision, status):
    from stabkit.cli.functions import _status

    assert _status(np.array(errs), np.array(bad), precision) == status


def test_eval_says_which_side_is_infinite():
    """A finite loss where the exact one is +inf (log 0) was reported as
    "inf/NaN where the exact value is finite", the opposite of the case."""
    from stabkit.cli.functions import _status

    bad, errs = np.array([True, True]), np.array([np.inf, np.nan])
    assert _status(errs, bad, 53, np.array([True, True])) == "FAIL: the exact value is infinite, the result is not"
    assert _status(errs, bad, 53, np.array([True, False])) == "FAIL: inf/NaN where the exact value is finite"
    r = CliRunner().invoke(app, ["eval", "binary_crossentropy", "0", "--labels", "1", "--from-probs", "--impls",
                                 "stable,accurate", "--json"])  # fmt: skip
    got = {name: row["status"] for name, row in json.loads(r.stdout)["implementations"].items()}
    assert got == {"stable": "FAIL: the exact value is infinite, the result is not", "accurate": "correctly rounded"}


def _status_column(stdout: str) -> dict[str, str]:
    """implementation -> the last cell of its first table line."""
    out = {}
    for line in stdout.splitlines():
        cells = [c.strip() for c in line.strip().strip("│").split("│")]
        if len(cells) == 4 and cells[0] and cells[0] not in out:
            out[cells[0]] = cells[3]
    return out


def test_eval_gives_every_row_a_status(run):
    # log_softmax(17, 0) in float32: the exact winner is -4.14e-8; stable rounds it to 0 (1.2e7 ulp),
    # the naive log(softmax) keeps some of it (5.1e6 ulp); the accurate tier is correctly rounded
    r = run("eval", "log_softmax", "17", "0", "--dtype", "float32", "--json")
    obj = json.loads(r.stdout)
    for name, row in obj["implementations"].items():
        worst = max(row["ulp_error"])
        assert row["status"] == ("correctly rounded" if worst <= 0.5 else
                                 "wrong: %.3g ulp" % worst if worst >= 2**23 else "%.3g ulp off" % worst), name
    assert obj["implementations"]["stable"]["status"].startswith("wrong: ")
    assert obj["implementations"]["naive"]["status"].endswith(" ulp off")
    status = _status_column(run("eval", "log_softmax", "17", "0", "--dtype", "float32").stdout)
    assert status["stable"].startswith("wrong:") and status["accurate"] == "correctly rounded"
    assert status["naive"].endswith("ulp off")


def test_eval_labels_print_as_typed(run):
    r = run("eval", "sparse_categorical_crossentropy", "20", "0", "0", "0", "--labels", "0", "--dtype", "float32")
    assert "label 0, from logits" in " ".join(r.stdout.split()) and "0.0," not in r.stdout
    assert json.loads(run("eval", "sparse_categorical_crossentropy", "20", "0", "--labels", "1", "--json").stdout)["labels"] == [1]
    r = run("eval", "binary_crossentropy", "2", "-3", "--labels", "1,0.25", "--dtype", "float32")
    assert "labels 1 0.25, from logits" in " ".join(r.stdout.split())


def test_eval_libraries_beside_the_tiers(run, monkeypatch):
    from stabkit.analysis import keras_tf

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "tensorflow" else real(n, *a))
    monkeypatch.setattr(keras_tf, "_IMPORTED", {})
    r = run("eval", "binary_crossentropy", "1e-20", "--labels", "0", "--from-probs", "--impls",
            "accurate,scipy,numpy,tensorflow", "--json")
    assert r.exit_code == 0, r.output
    assert r.stderr == "tensorflow: skipped, package 'tensorflow' is not installed (pip install tensorflow)\n"
    impls = json.loads(r.stdout)["implementations"]
    assert list(impls) == ["accurate", "scipy", "numpy"]
    assert impls["scipy"] == {"status": "n/a"} and impls["accurate"]["status"] == "correctly rounded"
    r = run("eval", "sigmoid", "3", "--impls", "stable,scipy", "--dtype", "float16", "--json")
    scipy = json.loads(r.stdout)["implementations"]["scipy"]
    # SciPy 1.17 computes float16 input in float64, 1.18 in float32: the note names what came back
    from scipy.special import expit

    wide = np.asarray(expit(np.array([3.0], np.float16))).dtype.name
    assert wide in ("float32", "float64")
    assert scipy["note"] == f"returned {wide}, rounded to float16" and scipy["status"] == "correctly rounded"
    r = run("eval", "sigmoid", "1", "--impls", "naive,theano")
    assert r.exit_code == 2 and "unknown implementation 'theano'" in r.stderr and r.stderr.count("\n") == 1


def test_eval_a_library_that_raises_is_its_rows_error(run, monkeypatch):
    from stabkit.analysis import thirdparty

    def boom(function, from_logits, args):
        raise RuntimeError("boom\nmore")

    monkeypatch.setattr(thirdparty, "_numpy_fn", boom)
    r = run("eval", "sigmoid", "1", "--impls", "accurate,numpy", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["implementations"]["numpy"] == {"status": "error: RuntimeError: boom"}
    assert _status_column(run("eval", "sigmoid", "1", "--impls", "accurate,numpy").stdout)["numpy"] == "error: RuntimeError: boom"


def _closed_stdout():
    os.close(1)


@pytest.mark.parametrize("args", [["list"], ["list", "--json"], ["eval", "softmax", "1", "2"],
                                  ["eval", "softmax", "1", "2", "--json"]])
@pytest.mark.parametrize("how", ["closed", "full"])
def test_stdout_closed_or_full_is_one_line_exit_1(args, how, tmp_path):
    if how == "full" and not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full here")
    env = {**os.environ, "STABKIT_CACHE_DIR": str(tmp_path)}
    cmd = [sys.executable, "-m", "stabkit", *args]
    if how == "closed":
        r = subprocess.run(cmd, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env, preexec_fn=_closed_stdout)
        why = "it is closed"
    else:
        with open("/dev/full", "w") as full:
            r = subprocess.run(cmd, stdout=full, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env)
        why = "No space left on device"
    assert r.returncode == 1
    assert r.stderr.splitlines() == [f"error: cannot write to standard output: {why}"]


@pytest.mark.parametrize("args", [["list"], ["train", "--dataset", "digits", "--epochs", "3"]])
def test_a_reader_that_goes_away_is_silent(args):
    # stabkit's own exit status, not the pipeline's (head's): train, whose
    # lines go out while it runs, met the broken pipe inside Typer, which
    # exited 1 without a word
    p = subprocess.Popen([sys.executable, "-m", "stabkit", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         cwd=ROOT)
    first = p.stdout.readline()
    p.stdout.close()  # `| head -1`
    err = p.stderr.read()
    assert p.wait(timeout=300) == 0 and err == b"" and first


@pytest.mark.parametrize("args, line", [
    (["eval", "softmax", "1", "2", "--dtyp", "float32"], "error: No such option: --dtyp Did you mean --dtype?"),
    (["eval", "softmax", "1", "2", "--dtyp=float32"], "error: No such option: --dtyp Did you mean --dtype?"),
    (["eval", "sigmoid", "1", "--jsn"], "error: No such option: --jsn Did you mean --json?"),
    (["eval", "sigmoid", "1", "-z"], "error: No such option: -z"),
])
def test_eval_unknown_option_is_no_such_option(run, args, line):
    r = run(*args)
    assert r.exit_code == 2 and r.stderr.splitlines() == [line]


def test_eval_negative_values_are_still_values(run):
    r = run("eval", "sigmoid", "-1", "-inf", "--dtype", "float32", "--json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["inputs"] == [-1.0, float("-inf")] or json.loads(r.stdout)["inputs"] == [-1.0, "-inf"]


def test_an_interrupted_slides_run_leaves_no_folder_it_created(tmp_path, monkeypatch):
    from stabkit.slides import build

    def interrupted(path, data):
        raise KeyboardInterrupt

    monkeypatch.setattr(build, "atomic_write", interrupted)
    out = tmp_path / "NEW" / "a" / "b"
    r = CliRunner().invoke(app, ["slides", "--only", "02", "--quiet", "--out", str(out)])
    assert r.exit_code == 130 and r.stderr.splitlines() == ["error: interrupted"]
    assert not (tmp_path / "NEW").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_tables_never_cut_a_number_on_a_narrow_terminal(monkeypatch):
    # was: at 80 columns eval folded -4.248354255291589e-18 over two lines
    # (the first read as another number) and analyze shrank max ulp to nothing
    import io

    from rich.table import Table

    from stabkit.cli.common import print_whole

    class Tty(io.StringIO):
        def isatty(self):
            return True

    for width in ("40", "80", "200"):
        monkeypatch.setenv("COLUMNS", width)
        out = Tty()
        monkeypatch.setattr(sys, "stdout", out)
        t = Table(title="t")
        for col in ("implementation", "value", "ulp error", "status"):
            t.add_column(col, overflow="fold")
        t.add_row("reference (mpmath, correctly rounded)", "-4.248354255291589e-18 -40.0", "0.15 0.000598",
                  "correctly rounded")
        print_whole(t, 160)
        text = out.getvalue()
        for number in ("-4.248354255291589e-18", "0.000598", "correctly rounded"):
            assert number in text, (width, text)


@pytest.mark.parametrize("command", ["", "list", "eval", "analyze", "report", "plot", "audit", "train", "slides"])
def test_help_shows_flags_as_flags_and_keeps_bracketed_words(run, command):
    # a probe read `--json <bool>` as taking a value, and `(needs stabkit[dask])`
    # came out as `(needs stabkit)`: rich's markup took [dask] for a style
    r = run(*([command] if command else []), "--help")
    assert r.exit_code == 0 and "<bool>" not in r.stdout and "--help" in r.stdout
    if command in ("analyze", "report", "plot", "audit"):
        assert "(needs stabkit[dask])" in " ".join(r.stdout.split())
        # the sweep is analyze's alone
        assert ("--exhaustive sweep" in r.stdout) == (command == "analyze")


@pytest.mark.parametrize("args, line", [
    (["--labels", "1e20"], "error: label 1e20 is out of range for 2 classes"),  # was: "labels have dtype object"
    (["--labels", "9223372036854775807"], "error: label 9223372036854775807 is out of range for 2 classes"),
    (["--labels", "-1"], "error: label -1 is out of range for 2 classes"),
])
def test_eval_out_of_range_label_names_the_label(run, args, line):
    r = run("eval", "sparse_categorical_crossentropy", "1", "2", *args)
    assert r.exit_code == 2 and r.stderr.splitlines() == [line]


def test_eval_advice_is_in_the_command_lines_words(run):
    # was "pass from_logits=True": a Python keyword, not an option of eval
    r = run("eval", "binary_crossentropy", "1.5", "--labels", "1", "--from-probs")
    assert r.exit_code == 2 and len(r.stderr.splitlines()) == 1
    assert "with --from-probs;" in r.stderr and r.stderr.rstrip().endswith("use --from-logits (or drop --from-probs)")
    assert "from_logits" not in r.stderr


def test_dtype_is_read_alike_in_every_command(run):
    # report took FLOAT32 and explained float8, eval/analyze/train did neither
    assert run("eval", "sigmoid", "1", "--dtype", "Float16").exit_code == 0
    assert run("analyze", "sigmoid", "--dtype", "FLOAT32", "--samples", "5", "-q").exit_code == 0
    for args in (["eval", "sigmoid", "1"], ["analyze", "sigmoid", "--samples", "5"]):
        r = run(*args, "--dtype", "float8_e4m3fn")
        assert r.exit_code == 2 and r.stderr.splitlines() == [
            "error: Invalid value for '--dtype': float8_e4m3fn is for ulps, rounding and references only (see "
            "`stabkit list`): no function runs in it; use one of float16, bfloat16, float32, float64"]


def test_a_reader_that_goes_away_before_out_is_written_is_an_error(tmp_path):
    # found by review: `train --out DIR | head -1` exited 0 with DIR never written
    out = tmp_path / "run"
    p = subprocess.Popen([sys.executable, "-m", "stabkit", "train", "--epochs", "5", "--out", str(out)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    p.stdout.readline()
    p.stdout.close()
    err = p.stderr.read().decode()
    assert p.wait(timeout=300) == 1 and not out.exists()
    assert err.splitlines() == [f"error: standard output was closed (its reader went away) before {out} was written"]


def test_plot_help_names_the_probs_form_a_user_types(run):
    """The help said 'add :probs', the figure said 'from probabilities' and
    the file '-probs': the help names the spelling to type and the file it
    gives."""
    r = run("plot", "--help")
    assert r.exit_code == 0
    text = " ".join(r.stdout.split())
    assert "binary_crossentropy:probs" in text and "error_binary_crossentropy-probs.png" in text
    assert "add :probs" not in text
