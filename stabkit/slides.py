"""The lecture's figures: ``stabkit slides`` regenerates every one of them.

The lecture covers MNIST as a multiclass problem, softmax and logistic
regression, the cross-entropy loss, round-off, ``from_logits=True``,
training a 25-15-10 network, multi-label outputs, the learning rate and Adam.
Each figure is made by one function that returns a :class:`Slide`: the
matplotlib figure and a one-line caption whose numbers were measured in the
same run (nothing is typed in by hand). The numerical figures live in
:mod:`stabkit.slides_numeric`, the training experiments in
:mod:`stabkit.slides_training`; this module loads the data, renders every
figure to bytes, and only then writes the files and the gallery
(``README.md``), each atomically, so a failing run leaves the previous
gallery as it was.

Same command, same bytes: seeds are fixed, BLAS runs on one thread inside
``fit``, and PNG/PDF/SVG metadata carry no dates or versions. The one
exception is the Adam-vs-SGD figure, whose wall-time axis is measured.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from ._io import atomic_write, check_out_dir
from .plots import STYLE, render

__all__ = ["FORMATS", "Budget", "Data", "Result", "Slide", "figure_names", "load_data", "make_slides", "render", "run", "slide", "write_gallery"]

FORMATS = ("png", "pdf", "svg")


@dataclass
class Slide:
    """One figure: its file stem, the figure, a one-line caption with the
    measured numbers, and whether the same command draws the same bytes."""

    name: str
    fig: object
    caption: str
    deterministic: bool = True


@dataclass
class Data:
    """The train/test split the training figures use, and where it came from."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    description: str
    image_side: int
    is_mnist: bool
    note: str = ""  # said once on stderr, e.g. the digits fallback


@dataclass(frozen=True)
class Budget:
    """How much work each figure does: the full lecture run or ``--quick``."""

    quick: bool
    epochs: int
    batch_size: int = 32
    points: int = 400  # inputs per curve of the numerical figures
    seed: int = 0

    @classmethod
    def of(cls, quick: bool) -> Budget:
        return cls(quick=True, epochs=3, points=120) if quick else cls(quick=False, epochs=10)


@dataclass
class Result:
    """What :func:`run` wrote."""

    paths: list[str]
    slides: list[Slide]
    data: Data
    seconds: float
    nondeterministic: list[str] = field(default_factory=list)


# ------------------------------------------------------------ data


def load_data(data_dir: Path | None, quick: bool) -> Data:
    """MNIST's test set from ``data_dir`` (a :class:`~stabkit.nn.DataError` if
    it cannot be read), else from ``$STABKIT_MNIST_DIR`` or, when that is
    unset, the download cache where they hold it, else scikit-learn's 8x8
    digits, with a note saying so. Nothing is downloaded here. The MNIST
    split is the test set's first 8,000 images for training and last 2,000
    for testing (``quick``: 2,000 and 500 of them)."""
    from .nn import data
    from .nn.download import cache_dir

    folder = data_dir if data_dir is not None else (data.mnist_env_dir() or cache_dir())
    if data_dir is not None or data.has_split(folder, "test"):
        X, y = data.read_mnist(folder, split="test")
        n_tr, n_te = (2000, 500) if quick else (8000, 2000)
        if len(X) < 10000:
            raise data.DataError(f"{folder}: {len(X)} test images; the 8,000/2,000 split needs 10,000")
        what = f"MNIST t10k, first {n_tr:,} train / {n_te:,} of the last 2,000 test" if quick else \
            "MNIST t10k, first 8,000 train / last 2,000 test"
        return Data(X[:n_tr], y[:n_tr], X[8000:8000 + n_te], y[8000:8000 + n_te], what, 28, True)
    X, y = data.load_digits()
    Xtr, Xte, ytr, yte = data.train_test_split(X, y, test_size=0.2, seed=0)
    note = (f"no MNIST at {folder}; using scikit-learn's 8x8 digits (pass --data-dir, or download MNIST once "
            "with `stabkit train --dataset mnist --epochs 1`)")
    return Data(Xtr, ytr, Xte, yte, "scikit-learn 8x8 digits, seeded 80/20 split", 8, False, note)


# ------------------------------------------------------------ figures


def slide(name: str):
    """Decorator: the file stem a figure function writes (``fn.slide_name``)."""

    def mark(fn):
        fn.slide_name = name
        return fn

    return mark


def _makers() -> list[Callable]:
    from . import slides_numeric as num
    from . import slides_training as tr

    return [tr.digits_grid, num.softmax_example, num.loss_curves, num.roundoff, num.sigmoid_tiers,
            num.log_softmax_gap, num.crossentropy_logits, tr.float16_training, num.gradient_descent,
            tr.adam_vs_sgd, tr.adam_step_sizes, num.multilabel]


def figure_names() -> list[str]:
    """The file stems of every figure, in the lecture's order."""
    return [m.slide_name for m in _makers()]


def make_slides(data: Data, budget: Budget, log: Callable[[str], None] = lambda s: None) -> list[Slide]:
    """Every figure, in the lecture's order."""
    out = []
    with plt.rc_context(STYLE), np.errstate(all="ignore"):  # the naive tier's overflows are the lesson
        for make in _makers():
            t0 = time.perf_counter()
            s = make(data, budget)
            out.append(s)
            log(f"{s.name}: made in {time.perf_counter() - t0:.1f} s")
    return out


def command(out: str, quick: bool) -> str:
    """The command line that makes the gallery (as the README shows it)."""
    return f"stabkit slides --out {out}" + (" --quick" if quick else "")


def write_gallery(slides: list[Slide], formats: tuple[str, ...], data: Data, cmd: str) -> str:
    """The gallery's README.md: every figure with a thumbnail link, its
    caption and the command that made it."""
    lines = [
        "# Lecture figures",
        "",
        ("Made by `stabkit slides` (see [docs/slides.md](../../docs/slides.md)); data: "
        f"{data.description}. Every number in a caption was measured in the run that drew the figure. "
        f"Files: {', '.join('.' + f for f in formats)}."),
        "",
        "| # | figure | caption | command |",
        "| --- | --- | --- | --- |",
    ]
    for i, s in enumerate(slides, 1):
        thumb = f"{s.name}.png" if "png" in formats else f"{s.name}.{formats[0]}"
        img = f'<a href="{thumb}"><img src="{thumb}" width="320" alt="{s.name}"></a>' if thumb.endswith(".png") \
            else f"[{s.name}]({thumb})"
        caption = s.caption.replace("|", "\\|")
        lines.append(f"| {i} | {img} | {caption} | `{cmd}` |")
    return "\n".join(lines) + "\n"


def run(out: str, formats: tuple[str, ...] = ("png",), quick: bool = False, data_dir: Path | None = None,
        log: Callable[[str], None] = lambda s: None) -> Result:
    """Make every figure, render all of them, then write them and the README
    into ``out`` (OSError if ``out`` is unusable; DataError for bad data)."""
    t0 = time.perf_counter()
    check_out_dir(out)
    data = load_data(data_dir, quick)
    if data.note:
        log(data.note)
    budget = Budget.of(quick)
    slides = make_slides(data, budget, log)
    files = {}
    for s in slides:
        t1 = time.perf_counter()
        for fmt in formats:
            files[str(Path(out) / f"{s.name}.{fmt}")] = render(s.fig, fmt)
        plt.close(s.fig)
        log(f"{s.name}: rendered in {time.perf_counter() - t1:.1f} s")
    for path, blob in files.items():
        atomic_write(path, blob)
    readme = str(Path(out) / "README.md")
    atomic_write(readme, write_gallery(slides, formats, data, command(out, quick)))
    nondet = [p for p in files if Path(p).stem in {s.name for s in slides if not s.deterministic}]
    return Result([*files, readme], slides, data, time.perf_counter() - t0, nondet)
