"""The lecture's figures: ``stabkit slides`` regenerates every one of them.

The lecture covers MNIST as a multiclass problem, softmax and logistic
regression, the cross-entropy loss, round-off, ``from_logits=True``,
training a 25-15-10 network, multi-label outputs, the learning rate and Adam.
Each figure is made by one function that returns a :class:`Slide`: the
matplotlib figure and a one-line caption whose numbers were measured in the
same run (nothing is typed in by hand). This module holds what every
figure module shares (the Slide, the data, the budget, the colours); the
figures live in :mod:`stabkit.slides.numeric`, :mod:`stabkit.slides.tiers`
and :mod:`stabkit.slides.training`, and :mod:`stabkit.slides.build` makes,
renders and writes them.

Same command, same bytes: seeds are fixed, BLAS runs on one thread inside
``fit``, and PNG/PDF/SVG metadata carry no dates or versions. The one
exception is the Adam-vs-SGD figure, whose wall-time axis is measured.
"""

from __future__ import annotations

import math

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["FORMATS", "FORMAT_COLORS", "NEUTRAL", "Budget", "Data", "Result", "Slide", "fmt_number", "load_data", "slide"]

FORMATS = ("png", "pdf", "svg")


#: colours of things that are not tiers, from the rest of the Okabe-Ito palette
#: (the tiers keep stabkit.report.style.COLORS everywhere)
FORMAT_COLORS = {"float64": "#000000", "float32": "#009E73", "float16": "#CC79A7"}
NEUTRAL = ("#000000", "#009E73", "#CC79A7", "#56B4E9")


def fmt_number(v: float, digits: int = 2) -> str:
    """A measured number for a caption: 3 significant digits, or '1.2e+07'."""
    if v == 0 or not math.isfinite(v):
        return f"{v:g}"
    return f"{v:.{digits + 1}g}" if 1e-3 <= abs(v) < 1e5 else f"{v:.{digits}e}"


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
    from stabkit.nn import data
    from stabkit.nn.download import cache_dir

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
