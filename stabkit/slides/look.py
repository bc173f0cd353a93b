"""How the lecturer wants the slides to look: theme (light/dark), font scale
and aspect (16:9/4:3), applied to figures drawn in the shared report style.

The figure functions draw in :data:`stabkit.report.style.STYLE` (16:9, large
type, white background) and never ask about the look. :class:`Look` sets
the figure size before they draw (:meth:`Look.rc`) and restyles the
finished figure (:meth:`Look.apply`): every font size times the scale, and
for the dark theme every grey (black and white included) swapped for its
mirror image ``1 - v``, so that black text and lines become white and the
white background dark, while the Okabe-Ito colours of tiers and runs stay
what they mean.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from matplotlib.collections import Collection
from matplotlib.colors import to_rgba
from matplotlib.image import AxesImage
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.text import Text

from stabkit.report.style import STYLE

__all__ = ["ASPECTS", "FIXED", "FONT_SCALES", "THEMES", "Look"]

THEMES = ("light", "dark")
#: aspect -> figure size in inches at STYLE's 150 dpi (1920x1080, 1440x1080)
ASPECTS = {"16:9": (12.8, 7.2), "4:3": (9.6, 7.2)}
FONT_SCALES = (0.5, 2.0)  # the range --font-scale accepts
DARK_BACKGROUND = "#121212"
FIXED = "fixed-size"  # gid of a text its figure sized to fit (the font scale leaves it)
_GREY_TOLERANCE = 0.02  # r, g, b this close together count as a grey


@dataclass(frozen=True)
class Look:
    """``theme`` in :data:`THEMES`, ``font_scale`` in :data:`FONT_SCALES`,
    ``aspect`` a key of :data:`ASPECTS`; ValueError naming the field otherwise."""

    theme: str = "light"
    font_scale: float = 1.0
    aspect: str = "16:9"

    def __post_init__(self):
        if self.theme not in THEMES:
            raise ValueError(f"theme must be one of {', '.join(THEMES)}, got {self.theme!r}")
        if self.aspect not in ASPECTS:
            raise ValueError(f"aspect must be one of {', '.join(ASPECTS)}, got {self.aspect!r}")
        lo, hi = FONT_SCALES
        if not (lo <= self.font_scale <= hi):
            raise ValueError(f"font_scale must be in [{lo:g}, {hi:g}], got {self.font_scale!r}")

    @property
    def is_default(self) -> bool:
        return self == Look()

    def options(self) -> list[str]:
        """The command-line options that give this look (none for the default)."""
        out = []
        if self.theme != "light":
            out += ["--theme", self.theme]
        if self.font_scale != 1.0:
            out += ["--font-scale", f"{self.font_scale:g}"]
        if self.aspect != "16:9":
            out += ["--aspect", self.aspect]
        return out

    def rc(self) -> dict:
        """The shared style with this look's figure size."""
        return {**STYLE, "figure.figsize": ASPECTS[self.aspect]}

    def apply(self, fig) -> None:
        """Restyle the finished ``fig`` in place: fonts; legends, titles and
        notes made to fit inside it (larger type, a narrower slide); then
        colours."""
        if self.font_scale != 1.0:
            _scale_fonts(fig, self.font_scale)
        _fit_inside(fig)
        if self.theme == "dark":
            _darken(fig)


def _scale_fonts(fig, s: float) -> None:
    """Every text of ``fig`` times ``s``; tick labels through tick_params,
    so that ticks made later (at draw time) get the new size too."""
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


def _fit_inside(fig, passes: int = 6) -> None:
    """Make what sticks out of ``fig`` fit: a figure legend loses columns, a
    title too wide is broken onto two lines, a note (a text or annotation
    placed by the figure) shrinks."""
    for _ in range(passes):
        fig.canvas.draw()
        r = fig.canvas.get_renderer()
        width = fig.bbox.width * 0.99
        changed = False
        for leg in list(fig.legends):
            args = getattr(leg, "stabkit_args", None)  # set by stabkit.slides.base.bottom_legend
            if args is None or leg.get_window_extent(r).width <= width or args[2].get("ncol", 1) <= 1:
                continue
            handles, labels, kw = args
            kw = {**kw, "ncol": kw.get("ncol", 1) - 1, "fontsize": leg.get_texts()[0].get_fontsize()}
            leg.remove()  # a legend lays out its columns once, when made: make it again
            new = fig.legend(handles, labels, **kw)
            new.stabkit_args = (handles, labels, kw)
            changed = True
        if changed:
            continue  # legends first: other texts only once they fit
        sup = getattr(fig, "_suptitle", None)
        if sup is not None and sup.get_window_extent(r).width > width:
            main, _, stamp = sup.get_text().partition("\n[")
            if "\n" not in main:
                words = main.split(" ")
                cut = min(range(1, len(words)), key=lambda i: abs(len(" ".join(words[:i])) - len(main) // 2), default=0)
                if cut:
                    sup.set_text(" ".join(words[:cut]) + "\n" + " ".join(words[cut:]) + (f"\n[{stamp}" if stamp else ""))
                    changed = True
        notes = [*fig.texts, *(t for ax in fig.axes for t in ax.texts)]  # not titles, labels or ticks: layout places those
        for t in notes:
            if t is sup or not t.get_visible() or not t.get_text() or t.get_gid() == FIXED:
                continue
            box = t.get_window_extent(r)
            over = max(box.x1 - fig.bbox.x1, fig.bbox.x0 - box.x0)
            if over > 1 and box.width > 0:
                t.set_fontsize(t.get_fontsize() * max(0.5, (box.width - over - 4) / box.width))
                changed = True
        if not changed:
            return


def _mirror(c):
    """A grey's mirror image (1 - v, alpha kept); any other colour as it is."""
    r, g, b, a = to_rgba(c)
    if max(r, g, b) - min(r, g, b) > _GREY_TOLERANCE:
        return (r, g, b, a)
    v = 1.0 - (r + g + b) / 3
    return (v, v, v, a)


def _mirror_array(colors) -> np.ndarray:
    arr = np.asarray(colors, dtype=float).reshape(-1, 4)
    return np.array([_mirror(tuple(c)) for c in arr]).reshape(-1, 4) if arr.size else arr


def _darken(fig) -> None:
    """The dark theme: greys mirrored, the backgrounds dark, images of
    digits white on black."""
    for obj in fig.findobj():
        if isinstance(obj, Line2D):
            for get, put in ((obj.get_color, obj.set_color), (obj.get_markerfacecolor, obj.set_markerfacecolor),
                             (obj.get_markeredgecolor, obj.set_markeredgecolor)):
                c = get()
                if not (isinstance(c, str) and c == "none"):
                    put(_mirror(c))
        elif isinstance(obj, Text):
            obj.set_color(_mirror(obj.get_color()))
            arrow = getattr(obj, "arrow_patch", None)  # an annotation's arrow
            if arrow is not None:
                arrow.set_color(_mirror(arrow.get_edgecolor()))
            box = obj.get_bbox_patch()
            if box is not None:
                box.set_facecolor(_mirror(box.get_facecolor()))
                box.set_edgecolor(_mirror(box.get_edgecolor()))
        elif isinstance(obj, Patch):
            obj.set_facecolor(_mirror(obj.get_facecolor()))
            obj.set_edgecolor(_mirror(obj.get_edgecolor()))
        elif isinstance(obj, Collection):
            obj.set_facecolor(_mirror_array(obj.get_facecolor()))
            obj.set_edgecolor(_mirror_array(obj.get_edgecolor()))
        elif isinstance(obj, AxesImage) and obj.get_cmap().name == "gray_r":
            obj.set_cmap("gray")
    fig.patch.set_facecolor(DARK_BACKGROUND)
    for ax in fig.axes:
        ax.patch.set_facecolor(DARK_BACKGROUND)
        ax.tick_params(colors=_mirror("#000000"))
