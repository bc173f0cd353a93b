"""Make the chosen lecture figures, render all of them to bytes, and only then
write the files, the gallery's index and README, all together (a temporary
folder moved in as one transaction), so a failing run leaves the previous
gallery as it was.

The figures come from :mod:`stabkit.slides.numeric`,
:mod:`stabkit.slides.tiers`, :mod:`stabkit.slides.training` and
:mod:`stabkit.slides.code`, which import :mod:`stabkit.slides.base` (never
the reverse).
"""

from __future__ import annotations

import os
import re
import shlex
import time
from collections.abc import Callable
from pathlib import Path

import matplotlib
import numpy as np

from stabkit import _interrupt
from stabkit._io import atomic_write, check_out_target, staged_dir
from stabkit.report.style import render

from . import code, gallery, tiers
from . import numeric as num
from . import training as tr
from .base import Budget, Data, Result, Slide, load_data
from .look import Look

__all__ = ["command", "figure_names", "make_slides", "run", "select", "render"]

NEEDS_MNIST = "its lesson only shows on MNIST; drop --digits"


def _makers() -> list[Callable]:
    return [tr.digits_grid, num.softmax_example, num.loss_curves, num.roundoff, tiers.sigmoid_tiers,
            tiers.log_softmax_gap, tiers.crossentropy_logits, tr.float16_training, code.keras_programs,
            num.gradient_descent, tr.adam_vs_sgd, tr.adam_step_sizes, num.multilabel]


def figure_names() -> list[str]:
    """The file stems of every figure, in the lecture's order."""
    return [m.slide_name for m in _makers()]


def select(only: str | None) -> list[Callable]:
    """The figure functions ``only`` names (all when None), in the lecture's
    order. ``only`` is comma-separated: a figure's number as its file
    starts (``06``, ``05a``, ``7b``), a number that picks every figure it
    starts (``05``: 05a and 05b), or a whole file stem. ValueError naming
    an unknown one."""
    makers = _makers()
    if only is None:
        return makers
    tokens = [t.strip().lower() for t in only.split(",") if t.strip()]
    if not tokens:
        raise ValueError(f"empty list {only!r}; name figures by number, e.g. 06,07")
    chosen = set()
    for t in tokens:
        m = re.fullmatch(r"0*(\d+)([a-z]?)", t)
        key = f"{int(m.group(1)):02d}{m.group(2)}" if m else t
        exact = [f for f in makers if f.slide_name.split("-")[0] == key or t in (f.slide_name, getattr(f, "other_name", None))]
        # a bare number with no figure of its own picks its lettered figures (05 -> 05a, 05b)
        hits = exact or [f for f in makers if m and not m.group(2) and re.fullmatch(key + "[a-z]", f.slide_name.split("-")[0])]
        if not hits:
            raise ValueError(f"no figure {t!r}; the figures are {', '.join(n.split('-')[0] for n in figure_names())}")
        chosen.update(f.slide_name for f in hits)
    return [f for f in makers if f.slide_name in chosen]


def make_slides(makers: list[Callable], data: Data | None, budget: Budget, look: Look = Look(),
                log: Callable[[str], None] = lambda s: None) -> list[Slide]:
    """The figures of ``makers`` in ``look``; a figure drawn from data that is
    not the full MNIST split says so in its title."""
    out = []
    with matplotlib.rc_context(look.rc()), np.errstate(all="ignore"):  # the naive tier's overflows are the lesson
        for make in makers:
            t0 = time.perf_counter()
            s = make(data, budget)
            s.reading = s.reading or make.reading
            if make.needs != "none" and data.stamp:
                title = s.fig.get_suptitle()
                s.fig.suptitle(f"{title}\n[{data.stamp}]" if title else f"[{data.stamp}]")
            look.apply(s.fig)
            out.append(s)
            log(f"{s.name}: made in {time.perf_counter() - t0:.1f} s")
    return out


def command(out: str, formats=("png",), quick=False, data: Data | None = None, digits=False, only=None,
            look: Look = Look()) -> str:
    """The command line that draws these figures again (as the README shows it)."""
    args = ["stabkit", "slides"]
    if data is not None and data.folder is not None:
        args += ["--data-dir", str(data.folder)]
    if digits:
        args.append("--digits")
    args += ["--out", out]
    if tuple(formats) != ("png",):
        args += ["--format", ",".join(formats)]
    if quick:
        args.append("--quick")
    args += look.options()
    if only is not None:
        args += ["--only", ",".join(n.split("-")[0] for n in only)]
    return " ".join(shlex.quote(a) for a in args)


def _entry(s: Slide, formats, data: Data | None, needs: str, cmd: str, alone: str) -> dict:
    """The gallery's entry of one figure: ``command`` is the run that drew
    it, ``alone`` the same with ``--only`` this figure."""
    used = "no data set (computed)" if needs == "none" or data is None else data.description
    return {"name": s.name, "files": [f"{s.name}.{f}" for f in formats], "caption": s.caption,
            "reading": s.reading, "data": used, "command": cmd, "alone": alone}


def run(out: str, formats: tuple[str, ...] = ("png",), quick: bool = False, data_dir: Path | None = None,
        digits: bool = False, only: str | None = None, look: Look = Look(), quiet: bool = True,
        log: Callable[[str], None] = lambda s: None) -> Result:
    """Make the figures ``only`` names (all when None), render them, then
    write them, ``gallery.json`` and ``README.md`` into ``out``.

    ValueError for an unknown figure or one that needs MNIST asked for with
    ``digits``; OSError if ``out`` is unusable; DataError for data that
    cannot be read or downloaded (see :func:`load_data`)."""
    t0 = time.perf_counter()
    makers = select(only)
    if digits and only is not None:
        refused = [m.slide_name for m in makers if m.needs == "mnist"]
        if refused:
            raise ValueError(f"{', '.join(refused)} cannot be drawn from the 8x8 digits: {NEEDS_MNIST}")
    data = load_data(data_dir, quick, digits, quiet) if any(m.needs != "none" for m in makers) else None
    check_out_target(out)  # creates nothing: the folder is made when the figures are written
    if data is not None and data.note:
        log(data.note)
    skipped = {m.slide_name: NEEDS_MNIST for m in makers if digits and m.needs == "mnist"}
    for name in skipped:
        log(f"{name}: left out, {NEEDS_MNIST}")
    makers = [m for m in makers if m.slide_name not in skipped]
    slides = make_slides(makers, data, Budget.of(quick), look, log)
    files = {}
    for s in slides:
        t1 = time.perf_counter()
        for fmt in formats:
            files[str(Path(out) / f"{s.name}.{fmt}")] = render(s.fig, fmt)
        log(f"{s.name}: rendered in {time.perf_counter() - t1:.1f} s")
    full = only is None
    cmd = command(out, formats, quick, data, digits, None if full else [m.slide_name for m in makers], look)
    new = [_entry(s, formats, data, m.needs, cmd, command(out, formats, quick, data, digits, [s.name], look))
           for s, m in zip(slides, makers)]
    index = gallery.merge(gallery.load(out), new, figure_names(), cmd if full else None, skipped)
    readme = str(Path(out) / "README.md")
    _interrupt.check()
    # every file or none: written into a temporary folder, then moved into
    # ``out`` as one transaction (a failure part-way puts the old files back;
    # a run that fails leaves no folder it would have made)
    check_out_target(out)
    with staged_dir(out) as tmp:
        for path, blob in files.items():
            atomic_write(os.path.join(tmp, os.path.basename(path)), blob)
        atomic_write(os.path.join(tmp, gallery.INDEX), index)
        atomic_write(os.path.join(tmp, "README.md"), gallery.readme(index, out))
    return Result([*files, str(Path(out) / gallery.INDEX), readme], slides, data, time.perf_counter() - t0,
                  list(skipped))
