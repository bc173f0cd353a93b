"""``stabkit slides``: every figure written, byte-identical across runs, the
gallery lists every figure with what it shows and the command that makes it,
figures drawn from the 8x8 digits say so (and the ones whose lesson needs
MNIST refuse them), ``--only`` keeps the rest of the gallery, the look
options do what they say, and the command's errors are one line with the
right exit code."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from matplotlib.colors import to_rgba
from typer.testing import CliRunner

from stabkit import cli, slides
from stabkit.nn import DataError
from stabkit.slides import Budget, Look, build, gallery, look
from stabkit.slides.base import load_data

runner = CliRunner()


def _mnist_dir() -> Path:
    """``$STABKIT_MNIST_DIR``, else ``../shared/data/mnist`` beside the repository."""
    from stabkit.nn.data import has_split, mnist_env_dir

    d = mnist_env_dir() or (Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "mnist").resolve()
    if not has_split(d, "test"):
        pytest.skip(f"the MNIST test set is not at {d} (set STABKIT_MNIST_DIR to its folder)")
    return d


def _run(out: Path, *args: str, env: dict | None = None):
    return runner.invoke(cli.app, ["slides", "--quick", "--out", str(out), *args], env=env)


def _draw(name: str, data=None, the_look: Look = Look()):
    """One figure, made as the gallery makes it."""
    (maker,) = build.select(name)
    (s,) = build.make_slides([maker], data, Budget.of(True), the_look)
    return s


# ------------------------------------------------------------ the whole quick gallery


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """The quick gallery on MNIST made twice, in PNG, PDF and SVG."""
    mnist = str(_mnist_dir())
    a, b = tmp_path_factory.mktemp("a"), tmp_path_factory.mktemp("b")
    results = [_run(d, "--data-dir", mnist, "--format", "png,pdf,svg") for d in (a, b)]
    for r in results:
        assert r.exit_code == 0, r.output
    return a, b, results[0]


@pytest.mark.slow
def test_every_figure_is_written_in_every_format(two_runs):
    a, _, _ = two_runs
    names = slides.figure_names()
    assert len(names) == len(set(names)) >= 13 and "07b-keras-programs" in names
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
def test_same_command_same_bytes(two_runs):
    """Every figure, the Adam-vs-SGD one included (it has no wall-time panel any more)."""
    a, b, _ = two_runs
    for p in sorted(a.iterdir()):
        if p.suffix in (".png", ".pdf", ".svg"):
            assert p.read_bytes() == (b / p.name).read_bytes(), p.name
    ra, rb = (d.joinpath("README.md").read_text() for d in (a, b))
    assert ra.replace(str(a), "OUT") == rb.replace(str(b), "OUT")  # only the --out folder differs


@pytest.mark.slow
def test_gallery_shows_each_figure_with_what_it_shows_and_its_command(two_runs):
    a, _, _ = two_runs
    readme = (a / "README.md").read_text()
    cmd = f"stabkit slides --data-dir {_mnist_dir()} --out {a} --format png,pdf,svg --quick"
    assert f"```bash\n{cmd}\n```" in readme  # the reproduce line carries every option used
    sections = readme.split("\n## ")[1:]
    assert [s.splitlines()[0] for s in sections] == slides.figure_names()
    for s, name in zip(sections, slides.figure_names(), strict=True):
        assert f'<a href="{name}.png"><img src="{name}.png"' in s
        for ext in ("png", "pdf", "svg"):
            assert f"[{name}.{ext}]({name}.{ext})" in s  # links relative to the README: they work for any --out
        reading = re.search(r"\*\*What it shows\.\*\* (.+)", s).group(1)
        measured = re.search(r"\*\*Measured\.\*\* (.+)", s).group(1)
        assert len(reading) > 60 and len(measured) > 40
        assert f"Redraw it alone: `{cmd} --only {name.split('-')[0]}`" in s and "Drawn by" not in s
    index = json.loads((a / "gallery.json").read_text())
    assert [e["name"] for e in index["figures"]] == slides.figure_names() and index["full_command"] == cmd


@pytest.mark.slow
def test_captions_carry_the_numbers_python_computes(two_runs):
    a, _, result = two_runs
    readme = (a / "README.md").read_text()
    assert f"{2 / 10000:.18f}" in readme
    x2 = f"{(1 + 1 / 10000) - (1 - 1 / 10000):.18f}"
    assert x2 == "0.000199999999999978" and x2 in readme  # the lecture's x2, as float64 computes it
    assert f"{np.log(np.finfo(np.float32).max):.2f}" in readme  # the float32 threshold of exp
    assert "wrote" in result.stdout and "02-softmax-example" in result.stdout
    assert "MNIST t10k, first 2,000 train" in readme


# ------------------------------------------------------------ data: MNIST or a clear refusal


def test_no_mnist_is_a_clear_error_not_a_silent_fallback(monkeypatch):
    """No folder, nothing cached, the download fails (conftest points the
    mirror at a closed port): a DataError that names --data-dir and --digits."""
    monkeypatch.delenv("STABKIT_MNIST_DIR", raising=False)
    with pytest.raises(DataError) as e:
        load_data(None, quick=True)
    msg = str(e.value)
    assert "t10k-images" in msg and "--data-dir" in msg and "--digits" in msg
    cache = Path(os.environ["STABKIT_DATA_DIR"]) / "mnist"
    assert not cache.exists() or not any(cache.iterdir())  # nothing half-downloaded left


def test_no_mnist_names_the_two_files_the_figures_read(monkeypatch):
    """The figures read the t10k images and labels only: the offline
    message asks for those two, not the training set."""
    monkeypatch.delenv("STABKIT_MNIST_DIR", raising=False)
    with pytest.raises(DataError) as e:
        load_data(None, quick=True)
    msg = str(e.value)
    assert "the two MNIST .gz files (t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz)" in msg, msg
    assert "train-" not in msg and "four" not in msg, msg


def test_no_mnist_through_the_cli_is_one_line_exit_1(tmp_path, monkeypatch):
    monkeypatch.delenv("STABKIT_MNIST_DIR", raising=False)
    r = _run(tmp_path / "g")
    assert r.exit_code == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "--digits" in lines[0], r.stderr
    assert not (tmp_path / "g").exists() or not any((tmp_path / "g").iterdir())


def test_digits_are_stamped_on_the_figures_that_use_them():
    data = load_data(None, quick=True, digits=True)
    assert not data.is_mnist and data.image_side == 8 and data.x_train.shape[1] == 64
    s = _draw("01", data)
    assert "8x8 digits, NOT MNIST" in s.fig.get_suptitle()
    computed = _draw("11", data)  # a figure that uses no data is not stamped
    assert "MNIST" not in computed.fig.get_suptitle()


def test_figures_whose_lesson_needs_mnist_refuse_the_digits(tmp_path):
    needs = {m.slide_name for m in build.select(None) if m.needs == "mnist"}
    assert needs == {"07-training-float16", "07b-keras-programs", "09-adam-vs-sgd"}
    for only in ("07", "07b", "09"):
        with pytest.raises(ValueError, match="only shows on MNIST"):
            build.run(str(tmp_path / "g"), digits=True, only=only)
    r = runner.invoke(cli.app, ["slides", "--digits", "--only", "06,09", "--out", str(tmp_path / "g")])
    assert r.exit_code == 2 and r.stderr.count("\n") == 1 and "09-adam-vs-sgd" in r.stderr
    assert not (tmp_path / "g").exists()


@pytest.mark.slow
def test_digits_run_leaves_out_the_mnist_figures_and_says_so(tmp_path):
    out = tmp_path / "g"
    r = _run(out, "--digits")
    assert r.exit_code == 0, r.output
    assert "8x8 digits, not MNIST" in r.stderr and "09-adam-vs-sgd: left out" in r.stderr
    drawn = {p.stem for p in out.glob("*.png")}
    left_out = {"07-training-float16", "07b-keras-programs", "09-adam-vs-sgd", "01-mnist-digits"}
    assert drawn == set(slides.figure_names()) - left_out | {"01-sklearn-digits"}
    readme = (out / "README.md").read_text()
    assert "Not drawn: `09-adam-vs-sgd`" in readme and "--digits" in readme


def test_the_digits_figure_is_named_after_its_data(tmp_path):
    """Drawn from the 8x8 digits, figure 01 is no MNIST figure: its file and
    its gallery entry say sklearn-digits, and it keeps its place first."""
    out = tmp_path / "g"
    r = _run(out, "--digits", "-q", "--only", "02,01")
    assert r.exit_code == 0, r.stderr
    assert sorted(p.name for p in out.glob("*.png")) == ["01-sklearn-digits.png", "02-softmax-example.png"]
    index = json.loads((out / gallery.INDEX).read_text())
    assert [e["name"] for e in index["figures"]] == ["01-sklearn-digits", "02-softmax-example"]
    assert "## 01-sklearn-digits" in (out / "README.md").read_text()
    assert "  01-sklearn-digits: " in r.stdout and "01-mnist-digits" not in r.stdout
    assert [f.slide_name for f in slides.select("01-sklearn-digits")] == ["01-mnist-digits"]


def test_data_dir_is_used_as_given():
    data = load_data(_mnist_dir(), quick=True)
    assert data.is_mnist and data.x_train.shape == (2000, 784) and data.x_test.shape == (500, 784)
    assert data.folder == _mnist_dir() and "quick run" in data.stamp
    full = load_data(_mnist_dir(), quick=False)
    assert full.x_train.shape == (8000, 784) and full.x_test.shape == (2000, 784) and full.stamp == ""
    assert np.array_equal(full.x_test[:500], data.x_test)  # quick tests on the start of the same 2,000


# ------------------------------------------------------------ --out, --only, the gallery


def test_default_out_is_slides_in_the_current_folder(tmp_path, monkeypatch):
    """Run inside a checkout, the default never lands on the committed reports/slides."""
    monkeypatch.chdir(tmp_path)
    r = runner.invoke(cli.app, ["slides", "--only", "11", "--quiet"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "slides" / "11-multilabel.png").is_file() and not (tmp_path / "reports").exists()
    assert "Drawn by: `stabkit slides --out slides --only 11`" in (tmp_path / "slides" / "README.md").read_text()


def test_only_redraws_the_chosen_figures_and_keeps_the_others(tmp_path):
    out = tmp_path / "g"
    assert _run(out, "--only", "11", "--quiet").exit_code == 0
    first = (out / "11-multilabel.png").read_bytes()
    r = _run(out, "--only", "3,2", "--theme", "dark", "--quiet")
    assert r.exit_code == 0, r.output
    assert {p.stem for p in out.glob("*.png")} == {"02-softmax-example", "03-loss-curves", "11-multilabel"}
    assert (out / "11-multilabel.png").read_bytes() == first
    readme = (out / "README.md").read_text()
    assert [s.splitlines()[0] for s in readme.split("\n## ")[1:]] == ["02-softmax-example", "03-loss-curves",
                                                                     "11-multilabel"]
    assert f"Drawn by: `stabkit slides --out {out} --quick --theme dark --only 02,03`" in readme
    assert f"Redraw it alone: `stabkit slides --out {out} --quick --theme dark --only 03`" in readme
    assert f"Drawn by: `stabkit slides --out {out} --quick --only 11`" in readme
    assert "Reproduce the whole gallery" not in readme  # no full run made this folder


@pytest.mark.parametrize("only, stems", [
    ("06", ["06-crossentropy-logits"]),
    ("6", ["06-crossentropy-logits"]),
    ("05", ["05a-sigmoid-tiers", "05b-log-softmax-gap"]),
    ("7b,05b", ["05b-log-softmax-gap", "07b-keras-programs"]),
    ("07", ["07-training-float16"]),
    ("11-multilabel", ["11-multilabel"]),
])
def test_select_by_number(only, stems):
    assert [m.slide_name for m in build.select(only)] == stems


def test_command_names_every_option_that_changes_the_figures(tmp_path):
    data = load_data(None, quick=True, digits=True)
    cmd = build.command("my slides", ("png", "svg"), True, data, True, ["06-crossentropy-logits"],
                        Look("dark", 1.25, "4:3"))
    assert cmd == ("stabkit slides --digits --out 'my slides' --format png,svg --quick --theme dark --font-scale 1.25 "
                   "--aspect 4:3 --only 06")


def test_docs_link_works_from_any_out(tmp_path):
    root = Path(slides.__file__).resolve().parents[2]
    inside = root / "reports" / "slides"
    link = gallery.docs_link(str(inside))
    target = re.fullmatch(r"\[docs/slides\.md\]\((.+)\)", link).group(1)
    assert (inside / target).resolve() == root / "docs" / "slides.md"
    assert "](" not in gallery.docs_link(str(tmp_path))  # outside the checkout: named, not a broken link


# ------------------------------------------------------------ the look


@pytest.mark.parametrize("kw", [{"theme": "blue"}, {"aspect": "1:1"}, {"font_scale": 0.2}, {"font_scale": 2.5}])
def test_look_rejects_bad_values_naming_them(kw):
    with pytest.raises(ValueError, match=next(iter(kw))):
        Look(**kw)


def test_dark_theme_mirrors_greys_and_keeps_colours():
    s = _draw("03", the_look=Look(theme="dark"))
    fig = s.fig
    assert to_rgba(fig.patch.get_facecolor()) == to_rgba(look.DARK_BACKGROUND)
    ax = fig.axes[0]
    assert to_rgba(ax.title.get_color()) == to_rgba("white") and to_rgba(ax.patch.get_facecolor()) != to_rgba("white")
    colours = {to_rgba(line.get_color()) for line in ax.get_lines()}
    assert to_rgba("white") in colours  # the black y = 1 curve
    assert to_rgba("#CC79A7") in colours  # the coloured y = 0 curve, as it was
    light = _draw("03")
    assert to_rgba(light.fig.patch.get_facecolor()) == to_rgba("white")


def test_font_scale_scales_every_text_but_the_fitted_code():
    base, big = _draw("02"), _draw("02", the_look=Look(font_scale=1.5))
    assert big.fig._suptitle.get_fontsize() == pytest.approx(1.5 * base.fig._suptitle.get_fontsize(), rel=0.05)
    ax0, ax1 = base.fig.axes[0], big.fig.axes[0]
    assert ax1.xaxis.get_ticklabels()[0].get_fontsize() == pytest.approx(1.5 * ax0.xaxis.get_ticklabels()[0].get_fontsize())


@pytest.mark.parametrize("aspect, size", [("16:9", (1920, 1080)), ("4:3", (1440, 1080))])
def test_aspect_sets_the_slide_size(tmp_path, aspect, size):
    from PIL import Image

    r = _run(tmp_path / "g", "--only", "11", "--aspect", aspect, "--font-scale", "1.4", "--quiet")
    assert r.exit_code == 0, r.output
    assert Image.open(tmp_path / "g" / "11-multilabel.png").size == size


def test_pdf_and_svg_as_well_as_png(tmp_path):
    r = _run(tmp_path / "g", "--only", "11", "--format", "svg,PDF,svg", "--quiet")
    assert r.exit_code == 0, r.output
    g = tmp_path / "g"
    assert (g / "11-multilabel.pdf").read_bytes()[:5] == b"%PDF-"
    assert "<svg" in (g / "11-multilabel.svg").read_text()
    assert not (g / "11-multilabel.png").exists()  # only what was asked for, each once
    assert "Files: [11-multilabel.svg](11-multilabel.svg), [11-multilabel.pdf](11-multilabel.pdf)." in (
        g / "README.md").read_text()


def test_larger_type_on_a_narrow_slide_still_fits():
    """The 05a legend (7 entries in 4 columns at 16:9) is remade with fewer
    columns and every text stays inside the figure."""
    s = _draw("05a", the_look=Look(font_scale=1.5, aspect="4:3"))
    fig = s.fig
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    assert fig.legends[0].stabkit_args[2]["ncol"] < 4
    texts = [*fig.texts, *(t for leg in fig.legends for t in leg.get_texts())]
    texts += [t for ax in fig.axes for t in (*ax.texts, ax.title, ax.xaxis.label, ax.yaxis.label)]
    for t in texts:
        if t.get_visible() and t.get_text():
            box = t.get_window_extent(r)
            assert box.x0 >= -2 and box.x1 <= fig.bbox.x1 + 2, t.get_text()


# ------------------------------------------------------------ what each fixed figure shows


def test_sigmoid_figure_explains_the_subnormal_fall():
    s = _draw("05a")
    texts = " ".join(t.get_text() for t in s.fig.findobj(matplotlib.text.Text))
    assert "subnormal" in texts and "not a recovery" in texts and "rounds to 0" in texts
    m = re.search(r"Below x = (-[\d.]+) the exact value is subnormal.*from x = (-[\d.]+) down", s.caption)
    # sigmoid(x) ~ e^x: subnormal below log(tiny) = -87.3, rounds to 0 below log(2^-150) = -103.97
    assert -88.7 < float(m.group(1)) <= np.log(np.finfo(np.float32).tiny)
    assert -104.5 < float(m.group(2)) <= -103.9


def test_log_softmax_figure_explains_the_subnormal_fall():
    s = _draw("05b")
    texts = " ".join(t.get_text() for t in s.fig.findobj(matplotlib.text.Text))
    assert "stable returns 0 here" in texts and "not a recovery" in texts and "rounds to 0" in texts
    m = re.search(r"From g = ([\d.]+) the exact value is subnormal.*from g = ([\d.]+) it rounds to 0", s.caption)
    # -log softmax of the winner ~ 3 e^-g: subnormal past log(3 / tiny) = 88.5, 0 past log(3 * 2^150) = 105.1
    step = 3000 ** (1 / (Budget.of(True).points - 1))  # ratio of neighbouring gaps, logspace(0.1, 300)
    for got, edge in ((m.group(1), np.log(3 / np.finfo(np.float32).tiny)), (m.group(2), np.log(3 * 2.0**150))):
        assert edge * 0.999 <= float(got) < edge * step


def test_crossentropy_curves_stop_where_the_exact_loss_underflows():
    s = _draw("06")
    colours = {}
    for ax in s.fig.axes[:1]:  # float32, right label
        for line in ax.get_lines():
            x, y = (np.asarray(v, float) for v in line.get_data())
            if line.get_label().startswith(("softmax", "from")):
                colours[line.get_label()] = line.get_color()
                assert np.all(np.isnan(y[x >= 107])), line.get_label()  # exp(-g) * 3 < 2^-150 from g ~ 104
    assert colours["softmax layer, Keras's clip"] != colours["from logits, stable (TF, PyTorch)"]
    # the caption's thresholds are the edges themselves, not the grid's samples
    # (it once said 107 and 758 for 105.07 and 746.23, and "alike" for two
    # different edges): each checked from its closed form or on the tier itself
    num = r"(\d+\.\d+)"
    m = re.search(rf"underflows to 0 from g = {num} \(float32\) / {num} \(float64\)", s.caption)
    assert float(m.group(1)) == pytest.approx(np.log(3) + 150 * np.log(2), abs=0.006)
    assert float(m.group(2)) == pytest.approx(np.log(3) + 1075 * np.log(2), abs=0.006)
    m = re.search(rf"becomes inf from g = {num} in float32 \({num} in float64", s.caption)
    assert float(m.group(1)) == pytest.approx(150 * np.log(2), abs=0.006)
    assert float(m.group(2)) == pytest.approx(1075 * np.log(2), abs=0.006)
    m = re.search(rf"clip caps it at {num} from g = {num}", s.caption)
    assert float(m.group(1)) == pytest.approx(-np.log(1e-7), abs=0.006) == float(m.group(2))
    m = re.search(rf"loss is 0 \(no correct digit\) from g = {num} \(float32\) / {num} \(float64\) from logits "
                  rf"in the stable tier .* and from g = {num} / {num} through a softmax layer", s.caption)
    from stabkit import naive, stable

    for k, (fmt, loss) in enumerate((("float32", "stable"), ("float64", "stable"), ("float32", "layer"),
                                     ("float64", "layer"))):
        g = float(m.group(k + 1))

        def at(v, fmt=fmt, loss=loss):
            z = np.array([[v, 0, 0, 0]], fmt)
            if loss == "stable":
                return stable.sparse_categorical_crossentropy([0], z, from_logits=True)[0]
            with np.errstate(divide="ignore"):
                return naive.sparse_categorical_crossentropy([0], stable.softmax(z))[0]

        assert at(g + 0.006) == 0 and at(g - 0.006) > 0, (fmt, loss, g)  # printed to 2 decimals


def test_coinciding_runs_are_drawn_once_and_named_together():
    from stabkit.slides.training import _coinciding

    h = lambda loss, acc: {"loss": loss, "val_accuracy": acc}
    a = ("a", h([1.0, 0.5], [0.9, 0.95]), "accurate", "-")
    b = ("b", h([1.01, 0.505], [0.902, 0.949]), "naive", "-")
    c = ("c", h([1.0, np.nan], [0.9, 0.1]), "naive", "--")
    d = ("d", h([1.0, np.nan], [0.9, 0.1]), "naive", "--")
    assert [[x[0] for x in g] for g in _coinciding([a, b, c, d])] == [["a", "b"], ["c", "d"]]


def test_code_slide_programs_differ_only_where_marked():
    from stabkit.slides.code import programs

    p = programs(10)
    (_, probs, dp), (_, logits, dl) = p["probs"], p["logits"]
    assert "model.fit(X, y, epochs=10)" in probs and "activation=\"softmax\"" in probs[3]
    assert "from_logits=True" in "".join(logits[i] for i in dl) and "from_logits" not in "".join(probs)
    assert {s for i, s in enumerate(probs) if i not in dp} <= set(logits)
    assert {s for i, s in enumerate(logits) if i not in dl} <= set(probs)


@pytest.mark.slow
def test_code_slide_measures_what_it_shows():
    """The wrong label's loss is Keras's clip at -log(1e-7) through the
    softmax layer and the exact 30 from logits, measured by stabkit's tiers."""
    data = load_data(_mnist_dir(), quick=True)
    s = _draw("07b", data)
    m = re.findall(r"loss of a wrong label with logits \(30, 0, 0, 0\) ([\d.]+) \(exact ([\d.]+)\)", s.caption)
    (clip, exact1), (logit, exact2) = m
    assert float(clip) == pytest.approx(-np.log(np.float32(1e-7)), rel=1e-4) and float(exact1) == pytest.approx(30.0)
    assert float(logit) == pytest.approx(30.0) and exact2 == exact1
    assert "float32 test accuracy 0." in s.caption and "quick run" in s.fig.get_suptitle()


@pytest.mark.slow
def test_full_float16_run_marks_the_collapse_where_fit_stops():
    """The full run's float16 naive network stops with a NaN gradient; the
    caption names that epoch and step, taken from the NonFiniteError of the
    run, and the three runs that do not break are one line in the legend."""
    from stabkit.slides.training import float16_training

    data = load_data(_mnist_dir(), quick=False)
    with matplotlib.rc_context(Look().rc()), np.errstate(all="ignore"):
        s = float16_training(data, Budget.of(False))
    m = re.search(r"float16 naive run: gradient NaN at epoch (\d+), step (\d+) of 250", s.caption)
    assert m, s.caption
    assert 1 <= int(m.group(1)) <= 10
    labels = [t.get_text() for t in s.fig.legends[0].get_texts()]
    assert len(labels) == len(s.fig.axes[0].get_lines()) - 1  # one entry per line drawn (but the collapse marker)
    assert any(lab.startswith("3 runs coincide") for lab in labels), labels


# ------------------------------------------------------------ the command's errors


@pytest.mark.parametrize("args, option", [
    (["--format", "gif"], "--format"),
    (["--format", ","], "--format"),
    (["--data-dir", "{tmp}/missing"], "--data-dir"),
    (["--out", "{tmp}/file.txt"], "--out"),
    (["--only", "99"], "--only"),
    (["--only", ","], "--only"),
    (["--font-scale", "3"], "--font-scale"),
    (["--theme", "blue"], "--theme"),
    (["--aspect", "1:1"], "--aspect"),
    (["--digits", "--data-dir", "{tmp}"], "--digits"),
])
def test_usage_errors_are_one_line_exit_2_and_write_nothing(tmp_path, args, option):
    (tmp_path / "file.txt").write_text("x")
    out = tmp_path / "g"
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    r = runner.invoke(cli.app, ["slides", "--quick", "--out", str(out if option != "--out" else args[-1]), *args])
    assert r.exit_code == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and option in lines[0], r.stderr
    assert "Traceback" not in r.output
    assert not out.exists()


def test_unreadable_data_is_one_line_exit_1(tmp_path):
    r = runner.invoke(cli.app, ["slides", "--quick", "--out", str(tmp_path / "g"), "--data-dir", str(tmp_path)])
    assert r.exit_code == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "t10k-images" in lines[0]
    assert not list((tmp_path / "g").glob("*.png"))


def test_help_describes_every_option():
    r = runner.invoke(cli.app, ["slides", "--help"], env={"COLUMNS": "200"})
    assert r.exit_code == 0
    for opt in ("--out", "--format", "--only", "--data-dir", "--digits", "--theme", "--font-scale", "--aspect",
                "--quick", "--quiet"):
        assert opt in r.stdout, opt
    assert "light" in r.stdout and "dark" in r.stdout and "4:3" in r.stdout


def test_a_run_that_cannot_write_one_file_writes_none(tmp_path):
    # a probe's folder in 03's way left 02 written beside it (each file was
    # atomic, the set was not)
    out = tmp_path / "g"
    (out / "03-loss-curves.png").mkdir(parents=True)
    r = _run(out, "--digits", "-q", "--only", "02,03")
    assert r.exit_code == 1 and len(r.stderr.splitlines()) == 1 and "Is a directory" in r.stderr
    assert sorted(p.name for p in out.iterdir()) == ["03-loss-curves.png"]
    (out / "03-loss-curves.png").rmdir()
    r = _run(out, "--digits", "-q", "--only", "02,03")
    assert r.exit_code == 0, r.stderr
    assert sorted(p.name for p in out.iterdir()) == ["02-softmax-example.png", "03-loss-curves.png", "README.md",
                                                     gallery.INDEX]
