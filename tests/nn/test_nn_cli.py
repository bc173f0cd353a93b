"""``stabkit train`` through Typer's CliRunner: exit codes and what users read."""

from __future__ import annotations

import gzip
import json
import re

import numpy as np
import pytest
from helpers.nn import mnist_dir
from typer.testing import CliRunner

from stabkit import cli


def _run(*args):
    return CliRunner().invoke(cli.app, ["train", *args])


@pytest.mark.slow
def test_json_summary_and_outputs(tmp_path):
    r = _run("--epochs", "2", "--hidden", "8", "--json", "--out", str(tmp_path))
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    run = summary["runs"]["logits"]
    assert summary["hidden"] == [8] and summary["n_train"] == 1438
    assert run["status"] == "ok" and 0 <= run["test_accuracy"] <= 1
    assert len(run["history"]["loss"]) == 2 and len(run["history"]["val_accuracy"]) == 2
    assert json.loads((tmp_path / "history.json").read_text()) == summary
    assert (tmp_path / "training.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_text_output_has_progress_and_summary():
    r = _run("--epochs", "1", "--optimizer", "sgd", "--batch-size", "64")
    assert r.exit_code == 0, r.output
    # not a terminal (CliRunner): Keras 3's verbose=2 line per epoch (no "Epoch 1/1" for one epoch,
    # as in Keras), no carriage-return bar
    assert re.search(r"^23/23 - \d+s - \d+(s|ms|us)/step - accuracy: [0-9.]+ - loss: [0-9.]+ - val_accuracy: ",
                     r.stdout, flags=re.M) and "Epoch " not in r.stdout  # fmt: skip
    assert "[=====" not in r.stdout and "\r" not in r.stdout
    assert "logits: test accuracy" in r.stdout and "s/epoch" in r.stdout
    assert "sgd lr 0.01, batch 64" in r.stdout


def test_compare_trains_both_from_identical_weights(tmp_path):
    r = _run("--compare", "--epochs", "2", "--dtype", "float64", "--json", "--out", str(tmp_path))
    assert r.exit_code == 0, r.output
    runs = json.loads(r.stdout)["runs"]
    assert set(runs) == {"logits", "probabilities"}
    # identical initial weights and shuffles: in float64 the two gradients agree to round-off
    assert runs["logits"]["history"]["loss"] == pytest.approx(runs["probabilities"]["history"]["loss"], rel=1e-6)


@pytest.mark.parametrize(
    "args,words",
    [
        (["--epochs", "0"], "--epochs"),
        (["--batch-size", "-3"], "--batch-size"),
        (["--dataset", "cifar"], "--dataset"),
        (["--tier", "exact"], "--tier"),
        (["--dtype", "int8"], "--dtype"),
        (["--hidden", "25,x"], "--hidden"),
        (["--hidden", "25,0"], "--hidden"),
        (["--hidden", ""], "empty layer size"),  # was: trained with no hidden layer
        (["--hidden", "25,,15"], "empty layer size"),
        (["--learning-rate", "-1"], "--learning-rate"),
        (["--data-dir", "."], "--data-dir"),
    ],
)
def test_usage_errors_exit_2_naming_the_option(args, words):
    r = _run(*args)
    assert r.exit_code == 2
    assert words in r.stderr
    assert "Traceback" not in r.output


def test_hidden_none_is_softmax_regression():
    r = _run("--hidden", "none", "--epochs", "1", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["hidden"] == []


def test_missing_data_folder_is_one_line(tmp_path):
    r = _run("--dataset", "mnist", "--data-dir", str(tmp_path / "nowhere"))
    assert r.exit_code == 2  # a usage error, as slides --data-dir
    assert r.stderr == f"error: Invalid value for '--data-dir': '{tmp_path / 'nowhere'}' is not a folder\n"


def test_corrupt_mnist_file_is_one_line(tmp_path):
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(b"\x00\x00\x08\x03" + b"\x00" * 10))
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(b"\x1f\x8bnot really gzip")
    r = _run("--dataset", "mnist", "--data-dir", str(tmp_path))
    assert r.exit_code == 1
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("error: ")
    assert "t10k-images-idx3-ubyte.gz: truncated header" in r.stderr


def test_diverging_run_stops_with_one_line_and_exit_1(tmp_path):
    """A learning rate of 1e6 with SGD overflows the float16 logits at once."""
    r = _run("--dtype", "float16", "--optimizer", "sgd", "--learning-rate", "1e6", "--epochs", "3", "--json", "--out", str(tmp_path))
    assert r.exit_code == 1
    assert r.stderr.startswith("error: ") and r.stderr.count("\n") == 1
    assert "became" in r.stderr and "at epoch" in r.stderr
    summary = json.loads(r.stdout)
    assert summary["runs"]["logits"]["status"] == "stopped"
    assert (tmp_path / "history.json").exists()


@pytest.mark.slow
def test_mnist_compare_float16_shows_the_naive_collapse(tmp_path):
    if not (mnist_dir() / "t10k-images-idx3-ubyte.gz").exists():
        pytest.skip(f"the MNIST test set is not at {mnist_dir()}")
    # at learning rate 0.01 the gap passes 11 within the first epoch (every seed tried)
    args = ["--dataset", "mnist", "--data-dir", str(mnist_dir()), "--compare", "--dtype", "float16"]
    r = _run(*args, "--learning-rate", "0.01", "--epochs", "2", "--json")
    assert r.exit_code == 0, r.output
    runs = json.loads(r.stdout)["runs"]
    assert runs["logits"]["status"] == "ok" and runs["logits"]["test_accuracy"] > 0.9
    assert runs["probabilities"]["status"] == "stopped"
    assert "1/p overflowed in float16" in runs["probabilities"]["message"]


def test_through_the_stabkit_app():
    app = cli.app
    runner = CliRunner()
    r = runner.invoke(app, ["train", "--epochs", "1", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["runs"]["logits"]["status"] == "ok"
    r = runner.invoke(app, ["train", "--epochs", "0"])
    assert r.exit_code == 2 and r.stderr.count("\n") == 1 and "--epochs" in r.stderr
    r = runner.invoke(app, ["train", "--dataset", "mnist", "--data-dir", "/nonexistent/mnist"])
    assert r.exit_code == 2 and r.stderr == "error: Invalid value for '--data-dir': '/nonexistent/mnist' is not a folder\n"


def test_user_folder_with_train_and_test_files(tmp_path):
    """A user's own MNIST folder: train-* for training, t10k-* for testing, gzipped or not."""
    rng = np.random.default_rng(0)
    for prefix, n, gz in (("train", 40, False), ("t10k", 12, True)):
        images = b"\x00\x00\x08\x03" + b"".join(d.to_bytes(4, "big") for d in (n, 28, 28)) + rng.integers(0, 256, n * 784, dtype=np.uint8).tobytes()
        labels = b"\x00\x00\x08\x01" + n.to_bytes(4, "big") + bytes(rng.integers(0, 10, n, dtype=np.uint8))
        for stem, raw in ((f"{prefix}-images-idx3-ubyte", images), (f"{prefix}-labels-idx1-ubyte", labels)):
            (tmp_path / (stem + (".gz" if gz else ""))).write_bytes(gzip.compress(raw) if gz else raw)
    r = _run("--dataset", "mnist", "--data-dir", str(tmp_path), "--epochs", "1", "--json")
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    assert (summary["n_train"], summary["n_test"]) == (40, 12)
    assert summary["dataset"].startswith("MNIST train/t10k")


def test_gh12_the_issue_command_continues_past_nan_and_prints_its_summary():
    """Issue 12's command: training went on past a NaN epoch only to crash
    (first in fit, then formatting a NaN test loss that the JSON writes as
    null). It must finish, exit 0, and say the loss is nan."""
    if not (mnist_dir() / "t10k-images-idx3-ubyte.gz").exists():
        pytest.skip(f"the MNIST test set is not at {mnist_dir()}")
    r = _run("--dataset", "mnist", "--data-dir", str(mnist_dir()), "--loss", "probabilities", "--tier", "naive",
             "--dtype", "float16", "--batch-size", "256", "--learning-rate", "0.05", "--on-nonfinite", "continue",
             "--epochs", "2", "--quiet")
    assert r.exit_code == 0, r.output
    assert "test loss nan" in r.stdout and "NumPy step" in r.stdout


def test_out_gets_both_files_or_neither(tmp_path):
    # a probe's folder in training.png's way left a new history.json beside it
    # and an error that named only the folder
    out = tmp_path / "run"
    (out / "training.png").mkdir(parents=True)
    (out / "history.json").write_text("old\n")
    r = _run("--epochs", "1", "--hidden", "4", "-q", "--out", str(out))
    assert r.exit_code == 1 and r.stderr.splitlines() == [f"error: cannot write to {out / 'training.png'}: Is a directory"]
    assert (out / "history.json").read_text() == "old\n" and (out / "training.png").is_dir()
    assert sorted(p.name for p in out.iterdir()) == ["history.json", "training.png"]  # nothing temporary left
    (out / "training.png").rmdir()
    r = _run("--epochs", "1", "--hidden", "4", "-q", "--out", str(out))
    assert r.exit_code == 0, r.stderr
    assert json.loads((out / "history.json").read_text())["epochs"] == 1
    assert (out / "training.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
