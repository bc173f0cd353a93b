"""The texts of a drawn slide as boxes, for :mod:`stabkit.slides.fit`: what
overlaps what, what sticks out of the figure, whether constrained layout
gave up, which tick labels may be left out, and how a text breaks onto
lines of even width.

Boxes are window extents in pixels, as the figure was last drawn; a legend
counts as one box (its handles included), tick labels only for the ticks
in view.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass

from matplotlib.text import Text
from matplotlib.transforms import Bbox

from stabkit.report.style import STYLE

__all__ = ["COLLAPSE", "FIXED", "Item", "cell", "draw", "items", "numeric", "overlap", "problems", "scale_fonts",
           "text_width", "thin", "wrapped"]

FIXED = "fixed-size"  # gid of a text its figure sized to fit (the font scale leaves it)
COLLAPSE = "constrained_layout not applied"  # matplotlib's warning when the decorations leave no room
SHORT = 12  # a line shorter than this many characters is not broken ('y = 6' shrinks instead)
_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?(\^[-+]?\d+)?%?")


@dataclass
class Item:
    """A drawn text (or a whole legend) of a figure: its kind ('suptitle',
    'title', 'xlabel', 'ylabel', 'xtick', 'ytick', 'note' for a text or
    annotation the figure placed, 'legend', 'fixed' for a text sized by its
    figure), the artist, its box in pixels, and its axes (None for
    figure-level texts)."""

    kind: str
    artist: object
    box: Bbox
    ax: object = None


def scale_fonts(fig, s: float) -> None:
    """Every text of ``fig`` but the fixed-size ones times ``s``; tick labels
    through tick_params, so that ticks made later (at draw time) get the
    new size too."""
    sizes = {}
    for ax in fig.axes:
        for name, axis in (("x", ax.xaxis), ("y", ax.yaxis)):
            labels = axis.get_ticklabels()
            sizes[(ax, name)] = labels[0].get_fontsize() if labels else STYLE[f"{name}tick.labelsize"]
    for t in fig.findobj(Text):
        if t.get_gid() != FIXED:
            t.set_fontsize(t.get_fontsize() * s)
    for (ax, name), size in sizes.items():
        ax.tick_params(axis=name, labelsize=size * s)


def draw(fig) -> bool:
    """Lay ``fig`` out and place its texts (no pixels); True if constrained
    layout gave up (its warning is swallowed here, any other passed on)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig.draw_without_rendering()
    collapsed = False
    for w in caught:
        if COLLAPSE in str(w.message):
            collapsed = True
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return collapsed


def items(fig, r) -> list[Item]:
    """Every visible, non-empty text of ``fig`` as drawn (tick labels only of
    the ticks in view), each legend as one item."""
    out = []

    def add(kind, t, ax=None):
        if t is not None and t.get_visible() and t.get_text().strip():
            out.append(Item("fixed" if t.get_gid() == FIXED else kind, t, t.get_window_extent(r), ax))

    sup = fig._suptitle
    add("suptitle", sup)
    for t in fig.texts:
        if t is not sup:
            add("note", t)
    out += [Item("legend", leg, leg.get_window_extent(r)) for leg in fig.legends if leg.get_visible()]
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        add("title", ax.title, ax)
        if ax.axison:
            for name, axis in (("x", ax.xaxis), ("y", ax.yaxis)):
                add(name + "label", axis.label, ax)
                for tick in axis._update_ticks():  # the ticks in view, as drawn
                    add(name + "tick", tick.label1, ax)
                    add(name + "tick", tick.label2, ax)
                add(name + "tick", axis.offsetText, ax)
        for t in ax.texts:
            add("note", t, ax)
        leg = ax.get_legend()
        if leg is not None and leg.get_visible():
            out.append(Item("legend", leg, leg.get_window_extent(r), ax))
    return out


def overlap(a: Bbox, b: Bbox) -> tuple[float, float]:
    """How far two boxes overlap in x and in y (negative: apart)."""
    return min(a.x1, b.x1) - max(a.x0, b.x0), min(a.y1, b.y1) - max(a.y0, b.y0)


def problems(fig, r, tol: float = 1.0) -> list[tuple[Item, Item | None]]:
    """(a, b) for two items whose boxes overlap by more than ``tol`` pixels
    each way, (a, None) for an item that sticks out of the figure."""
    its = items(fig, r)
    f = fig.bbox
    out = [(a, None) for a in its
           if a.box.x0 < f.x0 - tol or a.box.y0 < f.y0 - tol or a.box.x1 > f.x1 + tol or a.box.y1 > f.y1 + tol]
    for i, a in enumerate(its):
        for b in its[i + 1:]:
            w, h = overlap(a.box, b.box)
            if w > tol and h > tol:
                out.append((a, b))
    return out


def cell(fig, spec) -> tuple[float, float]:
    """Width and height in pixels of the grid cell(s) ``spec`` takes of ``fig``."""
    gs = spec.get_gridspec()
    rows, cols = gs.get_geometry()
    wr, hr = gs.get_width_ratios() or [1] * cols, gs.get_height_ratios() or [1] * rows
    return (fig.bbox.width * sum(wr[c] for c in spec.colspan) / sum(wr),
            fig.bbox.height * sum(hr[i] for i in spec.rowspan) / sum(hr))


def numeric(label: str) -> bool:
    """Whether a tick label is a number ('0.5', '−100', '$10^{-6}$'), which
    may be left out; a word ('NaN/inf', 'pedestrian') may not."""
    return bool(_NUMBER.fullmatch(re.sub(r"\\mathdefault|[${}\s]", "", label).replace("\u2212", "-")))


def thin(axis, r) -> bool:
    """Blank the numeric tick labels of ``axis`` that collide with one kept
    before them (the first and last kept where they can be; words always
    kept); their tick marks stay. False if none can go."""
    major = {id(t) for t in axis.get_major_ticks()}
    ticks = [t for t in axis._update_ticks() if id(t) in major]  # the ticks in view, as drawn
    shown = [t for t in ticks if t.label1.get_visible() and t.label1.get_text().strip()]
    if len(shown) < 2:
        return False
    k0, k1 = (0, 2) if axis.axis_name == "x" else (1, 3)
    spans = {id(t): t.label1.get_window_extent(r).extents for t in shown}
    shown.sort(key=lambda t: spans[id(t)][k0])
    pad = 0.15 * shown[0].label1.get_fontsize() * axis.axes.figure.dpi / 72
    clash = lambda a, b: spans[id(a)][k1] + pad > spans[id(b)][k0] and spans[id(b)][k1] + pad > spans[id(a)][k0]
    kept = [t for t in shown if not numeric(t.label1.get_text())]
    for t in [shown[0], shown[-1], *shown[1:-1]]:  # the ends first
        if t not in kept and not any(clash(t, k) for k in kept):
            kept.append(t)
    if len(kept) == len(shown):
        return False
    axis.set_ticks([t.get_loc() for t in ticks], [t.label1.get_text() if t in kept or t not in shown else ""
                                                  for t in ticks])
    return True


# ------------------------------------------------------------ lines


def text_width(r, t, s: str) -> float:
    """The width in pixels of ``s`` (its longest line) in the font of ``t``."""
    out = 0.0
    for line in s.split("\n"):
        line, ismath = t._preprocess_math(line)
        out = max(out, r.get_text_width_height_descent(line, t.get_fontproperties(), ismath=ismath)[0])
    return out


def _words(s: str) -> list[str]:
    """``s`` split at the spaces outside ``$math$``; a short ``s`` not at all."""
    if len(s) < SHORT:
        return [s]
    words, cur, math = [], "", False
    for ch in s:
        math ^= ch == "$"
        if ch == " " and not math:
            words.append(cur)
            cur = ""
        else:
            cur += ch
    return [w for w in [*words, cur] if w]


def _lines(r, t, paras: list[list[str]], limit: float) -> list[str]:
    """Each paragraph's words filled onto lines no wider than ``limit`` where
    a word allows."""
    out = []
    for words in paras:
        out.append(words[0] if words else "")
        for w in words[1:]:
            if text_width(r, t, f"{out[-1]} {w}") <= limit:
                out[-1] += f" {w}"
            else:
                out.append(w)
    return out


def wrapped(r, t, source: str, limit: float, max_lines: int) -> str:
    """``source`` in the font of ``t`` broken onto as few lines as fit
    ``limit`` pixels, but no more than ``max_lines`` (a line more for each
    line break of its own), each as wide as the others as far as the words
    allow: the narrowest width that needs no more lines."""
    paras = [_words(p) for p in source.split("\n")]
    widest = max((text_width(r, t, w) for p in paras for w in p), default=0.0)
    n = min(max_lines + len(paras) - 1, len(_lines(r, t, paras, limit)))
    lo, hi = widest, max(widest, max(text_width(r, t, " ".join(p)) for p in paras))
    for _ in range(14):
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if len(_lines(r, t, paras, mid)) <= n else (mid, hi)
    return "\n".join(_lines(r, t, paras, hi))
