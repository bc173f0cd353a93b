"""The summary heatmap: function x implementation, colour = worst ulp error
over the formats, the text what :mod:`stabkit.report.cells` writes for it,
failures on a second line."""

from __future__ import annotations

import matplotlib
import numpy as np
from matplotlib.colors import LogNorm

from .cells import compact
from .style import STYLE, subplots

__all__ = ["heatmap_figure", "short_name"]

_SHORT = {"binary_crossentropy": "binary CE", "sparse_categorical_crossentropy": "sparse CE",
          "categorical_crossentropy": "categorical CE", ":probs": " (probs)"}


def short_name(name: str) -> str:
    for k, v in _SHORT.items():
        name = name.replace(k, v)
    return name


def heatmap_figure(rows: list[str], impls: list[str], worst: np.ndarray, failures: np.ndarray, title: str = "",
                   errors: np.ndarray | None = None, texts: np.ndarray | None = None):
    """Function x implementation; colour = worst ulp error (log scale, over
    the formats analysed); the text is the worst ulp, with the failure count
    (NaN/inf results) after a cross on a second line; grey = not available;
    "error" (grey) where ``errors`` says the implementation raised in some
    format, since its worst error is then unknown. ``texts`` (optional,
    per cell) replaces the number: :func:`stabkit.report.cells.compact_max`
    marks a flush to 0 "→0", a wrong sign "±" and a result too large by k
    "×k", alone where the count passed ``2**p``."""
    errors = np.zeros(worst.shape, bool) if errors is None else np.asarray(errors, bool)
    worst = np.where(errors, np.nan, worst)
    with matplotlib.rc_context(STYLE):
        fig, ax = subplots()
        w = np.where(np.isnan(worst), np.nan, np.clip(np.nan_to_num(worst, posinf=1e20), 0.1, 1e20))
        vmax = max(1e4, float(np.nanmax(w)) if np.isfinite(w).any() else 1e4)
        im = ax.imshow(w, cmap="cividis", norm=LogNorm(vmin=0.1, vmax=vmax), aspect="auto")
        ax.set_facecolor("#DDDDDD")
        for i in range(len(rows)):
            for j in range(len(impls)):
                if errors[i, j]:
                    ax.text(j, i, "error", ha="center", va="center", color="#B00020", fontweight="bold")
                    continue
                if np.isnan(worst[i, j]):
                    ax.text(j, i, "n/a", ha="center", va="center", color="#333333")
                    continue
                n = int(failures[i, j])
                first = texts[i, j] if texts is not None and texts[i, j] else compact(worst[i, j])
                txt = first + (f"\n\u2717{compact(n) if n >= 100 else n}" if n else "")
                dark_bg = np.log(w[i, j] / 0.1) < 0.55 * np.log(vmax / 0.1)
                ax.text(j, i, txt, ha="center", va="center", color="white" if dark_bg else "black",
                        fontweight="bold" if n else "normal", linespacing=0.9)
        ax.set_xticks(range(len(impls)), impls, rotation=30, ha="right", rotation_mode="anchor")
        ax.set_yticks(range(len(rows)), [short_name(r) for r in rows])
        ax.tick_params(length=0)
        for side in ("left", "bottom"):
            ax.spines[side].set_visible(False)
        fig.colorbar(im, ax=ax, label="worst ulp error", pad=0.01)
        marks = texts is not None and any(m in str(t) for t in np.ravel(texts) for m in "\u2192\u00b1\u00d7")
        ax.set_title(title or "worst ulp error over all formats (\u2717 n: NaN/inf failures)"
                     + ("\n\u21920: flushed to 0, \u00b1: wrong sign, \u00d7k: k times too large" if marks else ""))
        _fit_cells(fig, ax, len(rows), len(impls))
    return fig


def _fit_cells(fig, ax, nrows: int, ncols: int, fill: float = 0.9) -> None:
    """Shrink the type of each cell's text that would not fit its cell (with
    eight implementations, "9e15 →0" in bold ran into the next cell's)."""
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    box = ax.get_window_extent(r)
    cw, ch = box.width / ncols, box.height / nrows
    for t in ax.texts:
        e = t.get_window_extent(r)
        # type size scales the box linearly, so one step fits it
        k = min(1.0, fill * cw / e.width, fill * ch / e.height) if e.width and e.height else 1.0
        if k < 1.0:
            t.set_fontsize(t.get_fontsize() * k)
