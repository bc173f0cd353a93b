"""``stabkit slides``: every figure written, byte-identical across runs where
the data is deterministic, the gallery lists every figure, the captions carry
the measured numbers, and the command's errors are one line with the right
exit code."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from stabkit import cli, slides

runner = CliRunner()
NONDETERMINISTIC = {"09-adam-vs-sgd"}  # its wall-time axis is measured


def _run(out: Path, *args: str, env: dict | None = None):
    return runner.invoke(cli.app, ["slides", "--quick", "--out", str(out), *args], env=env)


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """The quick gallery made twice, in PNG, PDF and SVG."""
    a, b = tmp_path_factory.mktemp("a"), tmp_path_factory.mktemp("b")
    results = [_run(d, "--format", "png,pdf,svg") for d in (a, b)]
    for r in results:
        assert r.exit_code == 0, r.output
    return a, b, results[0]


@pytest.mark.slow
def test_every_figure_is_written_in_every_format(two_runs):
    a, _, _ = two_runs
    names = slides.figure_names()
    assert len(names) == len(set(names)) >= 11
    for name in names:
        png, pdf, svg = (a / f"{name}.{ext}" for ext in ("png", "pdf", "svg"))
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000, name
        assert pdf.read_bytes()[:5] == b"%PDF-" and svg.read_text().lstrip().startswith("<?xml"), name
    written = {p.stem for p in a.iterdir() if p.suffix in (".png", ".pdf", ".svg")}
    assert written == set(names)
    assert not [p.name for p in a.iterdir() if p.name.startswith(".tmp-")]  # no half-written files


@pytest.mark.slow
def test_png_is_1920_by_1080(two_runs):
    from PIL import Image

    a, _, _ = two_runs
    for name in slides.figure_names():
        assert Image.open(a / f"{name}.png").size == (1920, 1080), name


@pytest.mark.slow
def test_same_command_same_bytes_except_the_wall_time_figure(two_runs):
    a, b, _ = two_runs
    differ = set()
    for p in sorted(a.iterdir()):
        if p.name != "README.md" and p.read_bytes() != (b / p.name).read_bytes():
            differ.add(p.stem)
    assert differ <= NONDETERMINISTIC, differ
    # the README differs only in the --out folder it names
    ra, rb = (d.joinpath("README.md").read_text() for d in (a, b))
    assert ra.replace(str(a), "OUT") == rb.replace(str(b), "OUT")


@pytest.mark.slow
def test_the_nondeterministic_figure_says_so(two_runs):
    a, _, _ = two_runs
    readme = (a / "README.md").read_text()
    row = next(line for line in readme.splitlines() if "09-adam-vs-sgd.png" in line)
    assert "differs from run to run" in row


@pytest.mark.slow
def test_gallery_lists_every_figure_with_thumbnail_caption_and_command(two_runs):
    a, _, _ = two_runs
    rows = [line for line in (a / "README.md").read_text().splitlines() if re.match(r"\| \d+ \|", line)]
    assert len(rows) == len(slides.figure_names())
    for row, name in zip(rows, slides.figure_names(), strict=True):
        cells = [c.strip() for c in row.strip("|").split(" | ")]
        assert f'<a href="{name}.png"><img src="{name}.png"' in cells[1]
        assert len(cells[2]) > 40 and "\n" not in cells[2]
        assert cells[3] == f"`stabkit slides --out {a} --quick`"


@pytest.mark.slow
def test_captions_carry_the_numbers_python_computes(two_runs):
    a, _, result = two_runs
    readme = (a / "README.md").read_text()
    assert f"{2 / 10000:.18f}" in readme
    x2 = f"{(1 + 1 / 10000) - (1 - 1 / 10000):.18f}"
    assert x2 == "0.000199999999999978" and x2 in readme  # the lecture's x2, as float64 computes it
    # the float32 threshold of exp, as NumPy gives it
    assert f"{np.log(np.finfo(np.float32).max):.2f}" in readme
    assert "wrote" in result.stdout and "02-softmax-example" in result.stdout


def test_digits_fallback_when_there_is_no_mnist(tmp_path, monkeypatch):
    monkeypatch.setenv("STABKIT_MNIST_DIR", str(tmp_path / "nowhere"))
    data = slides.load_data(None, quick=True)
    assert not data.is_mnist and data.image_side == 8 and data.x_train.shape[1] == 64
    assert "no MNIST" in data.note and "digits" in data.note


@pytest.mark.slow
def test_digits_fallback_run(tmp_path):
    """The whole quick gallery on 8x8 digits, said once on stderr."""
    out = tmp_path / "g"
    r = _run(out, env={"STABKIT_MNIST_DIR": str(tmp_path / "nowhere")})
    assert r.exit_code == 0, r.output
    assert "using scikit-learn's 8x8 digits" in r.stderr
    assert "scikit-learn 8x8 digits" in (out / "README.md").read_text()
    assert {p.stem for p in out.glob("*.png")} == set(slides.figure_names())


def _mnist_dir() -> Path:
    """``$STABKIT_MNIST_DIR``, else ``../shared/data/mnist`` beside the repository."""
    from stabkit.nn.data import has_split, mnist_env_dir

    d = mnist_env_dir() or (Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "mnist").resolve()
    if not has_split(d, "test"):
        pytest.skip(f"the MNIST test set is not at {d} (set STABKIT_MNIST_DIR to its folder)")
    return d


def test_data_dir_is_used_as_given(tmp_path):
    data = slides.load_data(_mnist_dir(), quick=True)
    assert data.is_mnist and data.x_train.shape == (2000, 784) and data.x_test.shape == (500, 784)
    full = slides.load_data(_mnist_dir(), quick=False)
    assert full.x_train.shape == (8000, 784) and full.x_test.shape == (2000, 784)
    assert np.array_equal(full.x_test[:500], data.x_test)  # quick tests on the start of the same 2,000


@pytest.mark.slow
def test_full_float16_run_marks_the_collapse_where_fit_stops():
    """The full run's float16 naive network stops with a NaN gradient; the
    caption names that epoch and step (measured on this split: epoch 2,
    step 134), taken from the NonFiniteError of the run."""
    from stabkit.slides.training import float16_training

    data = slides.load_data(_mnist_dir(), quick=False)
    s = float16_training(data, slides.Budget.of(False))
    m = re.search(r"float16 naive run: gradient NaN at epoch (\d+), step (\d+) of 250", s.caption)
    assert m, s.caption
    assert 1 <= int(m.group(1)) <= 10


@pytest.mark.parametrize("args, option", [
    (["--format", "gif"], "--format"),
    (["--format", ","], "--format"),
    (["--data-dir", "{tmp}/missing"], "--data-dir"),
    (["--out", "{tmp}/file.txt"], "--out"),
])
def test_usage_errors_are_one_line_exit_2_and_write_nothing(tmp_path, args, option):
    (tmp_path / "file.txt").write_text("x")
    out = tmp_path / "g"
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    r = runner.invoke(cli.app, ["slides", "--quick", "--out", str(out if option != "--out" else args[-1]), *args])
    assert r.exit_code == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: Invalid value for '{option}'"), r.stderr
    assert "Traceback" not in r.output
    assert not out.exists()


def test_unreadable_data_is_one_line_exit_1(tmp_path):
    r = runner.invoke(cli.app, ["slides", "--quick", "--out", str(tmp_path / "g"), "--data-dir", str(tmp_path)])
    assert r.exit_code == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "t10k-images" in lines[0]
    assert not list((tmp_path / "g").glob("*.png"))


def test_help_describes_every_option():
    r = runner.invoke(cli.app, ["slides", "--help"])
    assert r.exit_code == 0
    for opt in ("--out", "--format", "--quick", "--data-dir", "--quiet"):
        assert opt in r.stdout


def test_numeric_figures_draw_in_the_quick_run(tmp_path):
    """The quick run (-m "not slow") still draws real slides: the softmax
    example, whose caption carries softmax's own numbers, and the sigmoid
    tiers figure, saved at the gallery's size."""
    import matplotlib
    from PIL import Image

    from stabkit import softmax
    from stabkit.report.style import STYLE, save
    from stabkit.slides import numeric, tiers
    from stabkit.slides.base import Budget, load_data

    data, budget = load_data(None, quick=True), Budget.of(True)
    with matplotlib.rc_context(STYLE), np.errstate(all="ignore"):  # as make_slides draws them
        s = numeric.softmax_example(data, budget)
        t = tiers.sigmoid_tiers(data, budget)
    a = softmax(np.array([0.80, 0.39, 0.10, 0.95]))
    assert f"a = ({', '.join(f'{v:.2f}' for v in a)})" in s.caption and s.deterministic
    assert t.caption and t.name.startswith("05a")
    (path,) = save(t.fig, str(tmp_path / "t"))
    assert Image.open(path).size == (1920, 1080)
