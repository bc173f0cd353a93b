"""The figure style shared by the report and the slides: 16:9 figures with
large type, one Okabe-Ito colour and one marker per implementation, tick
labels decluttered after layout, and byte-stable PNG/SVG/PDF output.

Figures are built as :class:`matplotlib.figure.Figure` objects on their own
Agg canvas (:func:`subplots`), never through pyplot, so importing stabkit
switches no backend and keeps no figure alive.
"""

from __future__ import annotations

import io

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator

from stabkit._io import atomic_write
from stabkit.registry import TIERS

__all__ = ["COLORS", "MARKERS", "TIERS", "STYLE", "color", "legend", "subplots", "set_ticks", "declutter", "render", "save"]

COLORS = {
    "naive": "#D55E00",  # vermillion
    "stable": "#E69F00",  # orange
    "accurate": "#0072B2",  # blue
    "scipy": "#009E73",  # bluish green
    "numpy": "#CC79A7",  # reddish purple
    "torch": "#56B4E9",  # sky blue
    "jax": "#000000",  # black
    "reference": "#777777",
}
MARKERS = {"naive": "o", "stable": "s", "accurate": "D", "scipy": "^", "numpy": "v", "torch": "P", "jax": "X"}
KINDS = ("error", "values", "cdf")

STYLE = {
    "figure.figsize": (12.8, 7.2),
    "figure.dpi": 150,
    "savefig.dpi": 150,
    "font.size": 18,
    "axes.titlesize": 20,
    "axes.labelsize": 18,
    "xtick.labelsize": 18,
    "ytick.labelsize": 18,
    "legend.fontsize": 18,
    "figure.titlesize": 24,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "svg.hashsalt": "stabkit",  # deterministic SVG ids
}



def color(name: str) -> str:
    return COLORS.get(name, "#444444")


def set_ticks(axis, ticks: list[tuple[float, str]]) -> None:
    """Major ticks in *priority* order (:func:`declutter` drops from the end)."""
    axis.set_major_locator(FixedLocator([t for t, _ in ticks]))
    axis.set_ticks([t for t, _ in ticks], [s for _, s in ticks])


def declutter(fig, pad: float = 4.0) -> None:
    """Drop tick labels that would overlap a label of higher priority (set
    earlier) on the same axes, x and y together, after layout."""
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        kept = []
        for axis in (ax.yaxis, ax.xaxis):
            locs = list(axis.get_majorticklocs())
            labels = axis.get_majorticklabels()
            keep = []
            for loc, t in zip(locs, labels):
                if not t.get_visible() or not t.get_text():
                    keep.append((loc, t.get_text()))
                    continue
                b = t.get_window_extent(r).expanded(1, 1).padded(pad)
                if any(b.overlaps(o) for o in kept):
                    continue
                kept.append(b)
                keep.append((loc, t.get_text()))
            if len(keep) < len(locs):
                set_ticks(axis, keep)


def render(fig, fmt: str) -> bytes:
    """``fig`` as PNG, PDF or SVG bytes with no dates or versions inside, so
    the same figure gives the same bytes. PNGs are quantised to a 256-colour
    palette (a third of the size, no visible change for line art)."""
    from PIL import Image

    meta = {"png": {"Software": None}, "pdf": {"Creator": None, "Producer": None, "CreationDate": None},
            "svg": {"Date": None}}.get(fmt, {})
    buf = io.BytesIO()
    # inside the style: its svg.hashsalt makes SVG ids, and so the file,
    # the same from run to run
    with matplotlib.rc_context(STYLE):
        fig.savefig(buf, format=fmt, metadata=meta)
    data = buf.getvalue()
    if fmt == "png":
        img = Image.open(io.BytesIO(data)).convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT)
        buf = io.BytesIO()
        img.save(buf, format="png", optimize=True, dpi=(STYLE["savefig.dpi"],) * 2)
        data = buf.getvalue()
    return data


def save(fig, path: str, formats=("png",)) -> list[str]:
    """Write ``fig`` as ``path`` + ``.png`` (and ``.svg``/``.pdf``), each
    atomically (see :func:`render`); returns the paths written."""
    out = []
    for ext in formats:
        atomic_write(f"{path}.{ext}", render(fig, ext))
        out.append(f"{path}.{ext}")
    return out


def subplots(nrows: int = 1, ncols: int = 1, *, figsize=None, layout: str | None = "constrained", **kw):
    """``(fig, axes)`` like ``pyplot.subplots``, but a plain Figure on its own
    Agg canvas: nothing registered with pyplot, nothing to close. Call it
    inside ``matplotlib.rc_context(STYLE)`` for the slide size and type."""
    fig = Figure(figsize=figsize, layout=layout)
    FigureCanvasAgg(fig)
    return fig, fig.subplots(nrows, ncols, **kw)


def legend(fig, axes, analyses, lines: bool = True, reference: bool = False) -> None:
    """One legend for the figure: every implementation with points, in the
    order of COLORS, with its colour and marker."""
    from matplotlib.lines import Line2D

    names = list(dict.fromkeys(n for a in analyses for n, p in a.points.items() if p is not None))
    names.sort(key=lambda n: list(COLORS).index(n) if n in COLORS else len(COLORS))
    handles = [Line2D([], [], color=COLORS["reference"], lw=6, alpha=0.6)] if reference else []
    labels = ["reference"] if reference else []
    for n in names:
        handles.append(Line2D([], [], color=color(n), lw=3.5 if lines else 0, marker=MARKERS.get(n, "o"), ms=12,
                              mec="white", mew=1.2))
        labels.append(n)
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab == "naive fails" and lab not in labels:
                handles.append(h)
                labels.append(lab)
    fig.legend(handles, labels, loc="outside right center", ncol=1, frameon=False)
