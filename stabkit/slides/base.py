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
``fit``, and PNG/PDF/SVG metadata carry no dates or versions.
"""

from __future__ import annotations

import math

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["FORMATS", "FORMAT_COLORS", "NEEDS", "NEUTRAL", "Budget", "Data", "Result", "Slide", "bottom_legend",
           "fmt_number", "load_data", "panel_legend", "slide"]

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
    measured numbers, and what a student should read in it (``reading``:
    set from the figure function's :func:`slide` mark when left empty)."""

    name: str
    fig: object
    caption: str
    reading: str = ""


@dataclass
class Data:
    """The train/test split the training figures use, and where it came from.

    ``folder`` is the MNIST folder to name in the reproduce command
    (``--data-dir``), None for the download cache or the digits."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    description: str
    image_side: int
    is_mnist: bool
    note: str = ""  # said once on stderr, e.g. the digits fallback
    folder: Path | None = None

    @property
    def stamp(self) -> str:
        """What a figure drawn from this data must say on itself ('' for the
        full MNIST split)."""
        if not self.is_mnist:
            return "data: scikit-learn's 8x8 digits, NOT MNIST"
        return "" if len(self.x_train) == 8000 else f"quick run: {len(self.x_train):,} MNIST images"


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
    data: Data | None  # None when no figure drawn needed data
    seconds: float
    skipped: list[str] = field(default_factory=list)  # figures left out: they need MNIST


# ------------------------------------------------------------ data

def load_data(data_dir: Path | None, quick: bool, digits: bool = False, quiet: bool = True) -> Data:
    """The split the figures train on.

    ``digits``: scikit-learn's 8x8 digits (seeded 80/20 split), nothing
    downloaded. Otherwise MNIST's test set, from ``data_dir`` if given, else
    ``$STABKIT_MNIST_DIR``, else the download cache
    (:func:`stabkit.nn.download.cache_dir`), whose two t10k files are
    downloaded first when missing (progress on stderr unless ``quiet``).
    Anything unreadable or undownloadable is a
    :class:`~stabkit.nn.DataError` that says how to go on; there is no
    silent fallback. The MNIST split is the test set's first 8,000 images
    for training and last 2,000 for testing (``quick``: 2,000 and 500)."""
    from stabkit.nn import DataError, data
    from stabkit.nn.download import cache_dir, fetch_mnist

    if digits:
        X, y = data.load_digits()
        Xtr, Xte, ytr, yte = data.train_test_split(X, y, test_size=0.2, seed=0)
        note = "--digits: scikit-learn's 8x8 digits, not MNIST; every figure drawn from them says so"
        return Data(Xtr, ytr, Xte, yte, "scikit-learn 8x8 digits, seeded 80/20 split", 8, False, note)
    folder = data_dir if data_dir is not None else data.mnist_env_dir()
    if folder is None:
        folder = cache_dir()
        if not data.has_split(folder, "test"):
            try:
                fetch_mnist([stem + ".gz" for stem in data.MNIST_FILES["test"]], folder, quiet=quiet)
            except DataError as e:
                raise DataError(f"the figures trained on MNIST need its two t10k files: {e}; or pass --digits to "
                                "draw the figures from scikit-learn's 8x8 digits (the ones whose lesson needs MNIST "
                                "are then left out)") from None
        named = None
    else:
        named = folder
    X, y = data.read_mnist(folder, split="test")
    n_tr, n_te = (2000, 500) if quick else (8000, 2000)
    data.check_test_split(folder, len(X))
    what = f"MNIST t10k, first {n_tr:,} train / {n_te:,} of the last 2,000 test" if quick else \
        "MNIST t10k, first 8,000 train / last 2,000 test"
    return Data(X[:n_tr], y[:n_tr], X[8000:8000 + n_te], y[8000:8000 + n_te], what, 28, True, folder=named)


# ------------------------------------------------------------ figures


def bottom_legend(fig, handles, labels, **kw):
    """The figure's legend below its panels (``loc='outside lower center'``),
    remembering its arguments (``legend.stabkit_args``) so that
    :mod:`stabkit.slides.fit` can remake it with fewer columns or smaller
    type when a larger font or a narrower slide needs them."""
    kw = {"loc": "outside lower center", **kw}
    leg = fig.legend(handles, labels, **kw)
    leg.stabkit_args = (handles, labels, kw)
    return leg


def panel_legend(ax, **kw):
    """``ax.legend(**kw)``, remembering its arguments as :func:`bottom_legend` does."""
    handles, labels = ax.get_legend_handles_labels()
    leg = ax.legend(handles, labels, **kw)
    leg.stabkit_args = (handles, labels, kw)
    return leg


#: what a figure needs of the data: nothing, any digits, or MNIST itself
NEEDS = ("none", "any", "mnist")


def slide(name: str, needs: str = "none", reading: str = ""):
    """Decorator: the file stem a figure function writes (``fn.slide_name``),
    what it needs of the data (``fn.needs``: one of :data:`NEEDS`; 'mnist'
    where the lesson only shows on MNIST, so it refuses the 8x8 digits), and
    one or two sentences on what the figure shows (``fn.reading``)."""
    if needs not in NEEDS:
        raise ValueError(f"needs must be one of {NEEDS}, got {needs!r}")

    def mark(fn):
        fn.slide_name, fn.needs, fn.reading = name, needs, reading
        return fn

    return mark
