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

from .fit import FIXED, fit, scale_fonts

__all__ = ["ASPECTS", "FIXED", "FONT_SCALES", "THEMES", "Look"]

THEMES = ("light", "dark")
#: aspect -> figure size in inches at STYLE's 150 dpi (1920x1080, 1440x1080)
ASPECTS = {"16:9": (12.8, 7.2), "4:3": (9.6, 7.2)}
FONT_SCALES = (0.5, 2.0)  # the range --font-scale accepts
DARK_BACKGROUND = "#121212"
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
        """Restyle the finished ``fig`` in place: fonts; every text made to
        fit inside it, clear of the others (:func:`stabkit.slides.fit.fit`:
        larger type, a narrower slide); then colours."""
        if self.font_scale != 1.0:
            scale_fonts(fig, self.font_scale)
        fit(fig)
        if self.theme == "dark":
            _darken(fig)


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
