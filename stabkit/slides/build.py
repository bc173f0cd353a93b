"""Make every lecture figure, render all of them to bytes, and only then
write the files and the gallery (``README.md``), each atomically, so a
failing run leaves the previous gallery as it was.

The figures come from :mod:`stabkit.slides.numeric`,
:mod:`stabkit.slides.tiers` and :mod:`stabkit.slides.training`, which import
:mod:`stabkit.slides.base` (never the reverse).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import matplotlib
import numpy as np

from stabkit._io import atomic_write, check_out_dir
from stabkit.report.style import STYLE, render

from . import numeric as num
from . import tiers
from . import training as tr
from .base import Budget, Data, Result, Slide, load_data

__all__ = ["figure_names", "make_slides", "run", "write_gallery", "render"]


def _makers() -> list[Callable]:
    return [tr.digits_grid, num.softmax_example, num.loss_curves, num.roundoff, tiers.sigmoid_tiers,
            tiers.log_softmax_gap, tiers.crossentropy_logits, tr.float16_training, num.gradient_descent,
            tr.adam_vs_sgd, tr.adam_step_sizes, num.multilabel]


def figure_names() -> list[str]:
    """The file stems of every figure, in the lecture's order."""
    return [m.slide_name for m in _makers()]


def make_slides(data: Data, budget: Budget, log: Callable[[str], None] = lambda s: None) -> list[Slide]:
    """Every figure, in the lecture's order."""
    out = []
    with matplotlib.rc_context(STYLE), np.errstate(all="ignore"):  # the naive tier's overflows are the lesson
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
        log(f"{s.name}: rendered in {time.perf_counter() - t1:.1f} s")
    for path, blob in files.items():
        atomic_write(path, blob)
    readme = str(Path(out) / "README.md")
    atomic_write(readme, write_gallery(slides, formats, data, command(out, quick)))
    nondet = [p for p in files if Path(p).stem in {s.name for s in slides if not s.deterministic}]
    return Result([*files, readme], slides, data, time.perf_counter() - t0, nondet)
