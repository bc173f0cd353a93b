"""An outside tester's probes of the command line: each problem is one line
on stderr (exit 2 for usage, 1 for data), never a traceback or a value lost."""

from __future__ import annotations

import gzip
import io
import os
import re
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from helpers.terminal import run_in_a_terminal
from stabkit.cli import app



def _idx(magic: int, dims, payload: bytes) -> bytes:
    return struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in dims) + payload


def _mnist(folder: Path, n: int, side: int = 28, prefix: str = "t10k") -> Path:
    """An IDX pair of ``n`` ``side`` x ``side`` images with labels 0..9."""
    folder.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(0).integers(0, 256, n * side * side, dtype=np.uint8).tobytes()
    (folder / f"{prefix}-images-idx3-ubyte").write_bytes(_idx(0x803, (n, side, side), pixels))
    (folder / f"{prefix}-labels-idx1-ubyte").write_bytes(_idx(0x801, (n,), (np.arange(n) % 10).astype(np.uint8).tobytes()))
    return folder


def _run(*args):
    return CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "200", "NO_COLOR": "1"})


def _one_error(r, code: int) -> str:
    """The one ``error:`` line of a run that exited ``code``."""
    assert r.exit_code == code, (r.exit_code, r.output, r.exception)
    assert r.stderr.startswith("error: ") and r.stderr.count("\n") == 1, r.stderr
    assert "Traceback" not in r.output and "internal error" not in r.stderr
    return r.stderr


# ------------------------------------------------------------ 1: a t10k set too small to split


@pytest.mark.parametrize("n", [1, 2500, 8000])
def test_train_on_a_small_t10k_set_says_what_slides_says(tmp_path, n):
    folder = _mnist(tmp_path / "d", n)
    train = _one_error(_run("train", "--dataset", "mnist", "--data-dir", folder, "--epochs", "1", "-q"), 1)
    assert train == f"error: {folder}: {n} test images; the 8,000/2,000 split needs 10,000\n"
    if n == 2500:  # the same words as slides, from the same check
        assert _one_error(_run("slides", "--quick", "--data-dir", folder, "--only", "01",
                               "--out", tmp_path / "s"), 1) == train
        assert not (tmp_path / "s").exists()


# ------------------------------------------------------------ 4: images that are not 28x28


def test_slides_refuses_8x8_idx_images_naming_the_file(tmp_path):
    folder = _mnist(tmp_path / "d", 10000, side=8)
    err = _one_error(_run("slides", "--quick", "--data-dir", folder, "--only", "01", "--out", tmp_path / "s"), 1)
    assert err == f"error: {folder / 't10k-images-idx3-ubyte'}: 8x8 images; MNIST's are 28x28\n"
    assert not (tmp_path / "s").exists()


def test_train_refuses_8x8_idx_images_naming_the_file(tmp_path):
    folder = _mnist(tmp_path / "d", 10000, side=8)
    err = _one_error(_run("train", "--dataset", "mnist", "--data-dir", folder, "--epochs", "1", "-q"), 1)
    assert "t10k-images-idx3-ubyte: 8x8 images; MNIST's are 28x28" in err
    # 28x28 train-* files beside 8x8 t10k-* files: the t10k file is the one named
    _mnist(folder, 100, prefix="train")
    err = _one_error(_run("train", "--dataset", "mnist", "--data-dir", folder, "--epochs", "1", "-q"), 1)
    assert "t10k-images-idx3-ubyte: 8x8 images" in err and "784 input features" not in err


def test_a_cut_gzip_file_is_said_to_be_no_valid_gzip(tmp_path):
    folder = _mnist(tmp_path / "d", 10)
    images = folder / "t10k-images-idx3-ubyte"
    (folder / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(images.read_bytes())[:10])
    images.unlink()
    err = _one_error(_run("train", "--dataset", "mnist", "--data-dir", folder, "--epochs", "1", "-q"), 1)
    assert "t10k-images-idx3-ubyte.gz: corrupt gzip data: not a valid gzip stream" in err
    assert "IDX header" not in err


# ------------------------------------------------------------ 3: a narrow terminal keeps every value


def _cards(width: int) -> str:
    from rich.console import Console

    from stabkit.cli.common import rich_table

    out = io.StringIO()
    console = Console(file=out, width=width, force_terminal=False, color_system=None)
    rich_table(console, "formats", ["format", "precision (bits)", "functions run in it"],
               [["float16", "11", "yes"], ["float8_e4m3fn", "4", "no (ulps, rounding and references only)"]])
    return out.getvalue()


@pytest.mark.parametrize("width", [20, 25, 30])
def test_narrow_cards_lose_no_value(width):
    text = _cards(width)
    flat = re.sub(r"\s", "", text)
    for value in ("11", "yes", "4", "no(ulps,roundingandreferencesonly)", "float8_e4m3fn"):
        assert value in flat, text
    assert all(len(line) <= width for line in text.splitlines()), text


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_list_on_a_20_column_terminal_shows_the_values():
    flat = re.sub(r"\s", "", run_in_a_terminal(["list"], 20))
    for value in ("1/(1+exp(-x))", "65504", "3.38953e+38", "no(ulps,roundingandreferencesonly)"):
        assert value in flat


# ------------------------------------------------------------ 2: Ctrl-C with --scheduler local


def _terminal_sigint() -> None:
    # SIGINT at its default and unblocked, as a terminal's shell starts a
    # command: a child inherits an ignored SIGINT (a pytest run in the
    # background by a non-interactive shell) and the forking thread's mask,
    # and then rightly ignores Ctrl-C; in one CI run both commands ran on
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


@pytest.mark.slow
@pytest.mark.parametrize("command", ["analyze", "report"])
def test_interrupt_on_a_local_cluster_is_one_line(tmp_path, command):
    psutil = pytest.importorskip("psutil")
    pytest.importorskip("distributed")
    out = tmp_path / "rep"
    args = (["analyze", "softmax"] if command == "analyze" else ["report", "--functions", "softmax", "--out", str(out)])
    p = subprocess.Popen([sys.executable, "-m", "stabkit", *args, "--samples", "1000000", "--no-cache", "--impls",
                          "naive", "--scheduler", "local", "--workers", "2", "-q"],
                         cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         start_new_session=True,  # its own process group, signalled as a terminal does
                         preexec_fn=_terminal_sigint)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and p.poll() is None:
        workers = [c for c in psutil.Process(p.pid).children(recursive=True) if "spawn_main" in " ".join(c.cmdline())]
        if len(workers) >= 2:
            break
        time.sleep(0.2)
    time.sleep(3)  # the workers are computing references
    assert p.poll() is None, p.communicate()
    os.killpg(p.pid, signal.SIGINT)  # Ctrl-C: the command and every worker
    stdout, stderr = p.communicate(timeout=120)
    assert (p.returncode, stderr) == (130, "error: interrupted\n")
    assert stdout == "" and not out.exists()


# ------------------------------------------------------------ 5: the minor ones


def test_a_misspelled_function_gets_a_suggestion():
    assert "Did you mean 'softmax'?" in _one_error(_run("eval", "softmx", "1", "2"), 2)
    assert "Did you mean 'log_sigmoid'?" in _one_error(_run("analyze", "log-sigmod", "--samples", "10"), 2)


@pytest.mark.parametrize("value, words", [("foo", "missing port number"), ("", "empty"), ("  ", "empty")])
def test_a_scheduler_that_is_no_address_is_a_usage_error(value, words):
    if value.strip():  # Dask parses the address; without it the command says to install it
        pytest.importorskip("distributed", reason="dask.distributed not installed (pip install 'stabkit[dask]')")
    err = _one_error(_run("analyze", "sigmoid", "--samples", "10", "--scheduler", value), 2)
    assert err.startswith("error: Invalid value for '--scheduler': ") and words in err


@pytest.mark.parametrize("args, option", [
    (["analyze", "sigmoid", "--samples", "10", "--impls", "naive,,stable"], "--impls"),
    (["report", "--functions", "sigmoid,,softmax", "--out", "{tmp}/r"], "--functions"),
    (["report", "--dtypes", "float32,", "--out", "{tmp}/r"], "--dtypes"),
    (["eval", "sigmoid", "1", "--impls", "naive,,stable"], "--impls"),
    (["slides", "--format", "png,,svg", "--out", "{tmp}/s"], "--format"),
])
def test_an_empty_item_in_a_list_is_refused(tmp_path, args, option):
    err = _one_error(_run(*[a.format(tmp=tmp_path) for a in args]), 2)
    assert err.startswith(f"error: Invalid value for '{option}': empty item in ")
    assert not (tmp_path / "r").exists() and not (tmp_path / "s").exists()


@pytest.mark.parametrize("command", [["train", "--dataset", "mnist"], ["slides", "--quick"]])
def test_an_empty_data_dir_is_refused_as_out_is(tmp_path, command):
    err = _one_error(_run(*command, "--data-dir", "", "--out", tmp_path / "o"), 2)
    assert err == "error: Invalid value for '--data-dir': empty path\n"


@pytest.mark.parametrize("out", [".png", "figs/.svg"])
def test_plot_out_with_no_name_before_the_extension(tmp_path, out):
    err = _one_error(_run("plot", "sigmoid", "--samples", "10", "--out", tmp_path / out), 2)
    assert "has no file name before its extension" in err and "must end in" not in err


def test_eval_refuses_nan_targets():
    err = _one_error(_run("eval", "binary_crossentropy", "0.3", "--labels", "nan"), 2)
    assert "finite" in err
    assert _run("eval", "binary_crossentropy", "0.3", "--labels", "0.5").exit_code == 0
