"""`stabkit list` and `stabkit eval`: exit codes and the text a user reads."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

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
        (("eval", "sigmoid", "abc"), "'abc' is not a number"),
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


def test_console_script_and_shim_from_a_subprocess():
    # the real entry point (sys.exit codes, stderr) and the root cli.py shim
    r = subprocess.run([sys.executable, str(ROOT / "cli.py"), "eval", "sigmoid", "x"], capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.strip() == "error: 'x' is not a number"
    r = subprocess.run([sys.executable, "-m", "stabkit", "--help"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0 and "eval" in r.stdout and "list" in r.stdout
