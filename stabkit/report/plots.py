"""Slide-style figures of the error analysis (matplotlib figures in the style of
:mod:`stabkit.report.style`).

Every figure is 16:9 (12.8 x 7.2 in, 1920 x 1080 pixels at 150 dpi) with
type of at least 18 pt, and every implementation keeps one colour from the
Okabe-Ito palette (safe for the common colour-vision deficiencies) and one
marker in every figure: naive vermillion and accurate blue, as Herbie draws
the original in red and the improvement in blue. Lines that coincide stay
visible: the stabkit tiers are drawn above the libraries, and each line's
markers sit at its own offset along the line.

* :func:`error_figure`: ulp error against input, one panel per format, a faint
  dot per sample and a moving average per implementation, 1 ulp marked,
  failures (NaN/inf) drawn in a band at the top, runs where naive fails
  shaded. Row-wise functions (coordinate "logit gap") get one dot per *row*:
  the worst element's error against the row's winner gap on a log axis, the
  mean per quarter decade as a step line, ties (gap 0) and rows with one
  finite entry (gap inf) in separate bands at the edges;
* :func:`values_figure`: the values against input, the reference beside them;
* :func:`cdf_figure`: cumulative distribution of ulp error;
* :func:`heatmap_figure`: function x implementation, colour = worst ulp error.

Tick labels are chosen by priority and any that would overlap another are
dropped after layout (:func:`declutter`).
"""

from __future__ import annotations

import math

import matplotlib
import numpy as np
from matplotlib.colors import LogNorm
from matplotlib.ticker import FixedLocator, NullFormatter

from .axes import _binned, _GapAxis, _log_minor, _log_ticks, _ordinal_ticks, _ordinals, _row_ids, rowwise_errors
from .style import COLORS, MARKERS, STYLE, TIERS, color, declutter, legend, render, save, set_ticks, subplots

__all__ = ["COLORS", "MARKERS", "STYLE", "KINDS", "error_figure", "values_figure", "cdf_figure", "heatmap_figure",
           "rowwise_errors", "declutter", "render", "save"]

KINDS = ("error", "values", "cdf")

ULP_FLOOR = 1e-2  # errors below are drawn at the floor (all "correct")
_MAX_DOTS = 2500  # per implementation and panel, to keep the PNGs small
GAP = "logit gap"


def _line_style(name: str, order: list[str]) -> dict:
    """Colour, marker and layer of ``name``'s line: tiers above libraries, and
    markers every 1/8 of the axes, each implementation at its own offset, so
    an implementation whose line lies under another's still shows."""
    k = order.index(name) if name in order else 0
    step = 0.125
    return {"color": color(name), "lw": 3.5 if name in TIERS else 3, "zorder": 4 if name in TIERS else 3,
            "marker": MARKERS.get(name, "o"), "ms": 10, "mec": "white", "mew": 1.2,
            "markevery": (step * (k + 0.5) / max(1, len(order)), step)}


def _styled_line(ax, x, y, name: str, order: list[str], **kw) -> None:
    """The line, then its markers above every line (zorder 5)."""
    st = _line_style(name, order)
    marks = {k: st.pop(k) for k in ("marker", "ms", "mec", "mew", "markevery")}
    ax.plot(x, y, label=name, **st, **kw)
    ax.plot(x, y, ls="none", color=st["color"], zorder=5, **marks)


def _label(fmt: str, a, per_row: bool = True) -> str:
    what = "rows" if per_row and a.sample.coord_name == GAP else "outputs" if a.sample.coord_name == GAP else "samples"
    n = len(_row_ids(a.sample)[1]) if what == "rows" else a.sample.size
    return f"{fmt}" + (" (all inputs)" if a.sample.exhaustive else f" ({n:,} {what})")


def _panels(n: int):
    rows, cols = (1, 1) if n == 1 else (1, 2) if n == 2 else (2, 2) if n <= 4 else (2, 3)
    fig, axes = subplots(rows, cols, squeeze=False)
    axes = axes.ravel()
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes[:n]


def _thin(idx: np.ndarray) -> np.ndarray:
    """An evenly spaced subset of at most _MAX_DOTS indices (deterministic)."""
    if idx.size <= _MAX_DOTS:
        return idx
    return idx[np.linspace(0, idx.size - 1, _MAX_DOTS).astype(int)]


def _impls(a) -> list[str]:
    """Implementations with points, libraries first so the tiers draw on top."""
    names = [k for k, p in a.points.items() if p is not None]
    return [n for n in names if n not in TIERS] + [n for n in names if n in TIERS]


def _all_impls(analyses) -> list[str]:
    """:func:`_impls` over every panel (one may lack an implementation that errored)."""
    names = list(dict.fromkeys(k for a in analyses for k, p in a.points.items() if p is not None))
    return [n for n in names if n not in TIERS] + [n for n in names if n in TIERS]


def _note_errors(ax, a) -> None:
    """Name the implementations that raised on this panel's format (no points)."""
    if a.errors:
        text = "\n".join(f"{n}: error ({e.split(':')[0]})" for n, e in a.errors.items())
        ax.text(0.02, 0.03, text, transform=ax.transAxes, ha="left", va="bottom", color="#B00020", zorder=6,
                bbox={"facecolor": "white", "alpha": 0.85, "linewidth": 0})


def _moving_average(c: np.ndarray, v: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    o = np.argsort(c, kind="stable")
    c, v = c[o], v[o]
    if c.size < 2 * k:
        return c, v
    kern = np.ones(k) / k
    # the window's middle coordinate (averaging coordinates near 1e308 overflows)
    return c[k // 2: k // 2 + c.size - k + 1], np.convolve(v, kern, "valid")


def _xpos(a, c: np.ndarray) -> np.ndarray:
    """The *ordinal* of each input (x, logit z, logit(p)), so every float gets
    the same width, as in Herbie's plots."""
    return _ordinals(np.where(np.isfinite(c), c, np.nan), a.sample.fmt)


def _ordinal_xaxis(ax, a, xs: np.ndarray) -> None:
    fin = xs[np.isfinite(xs)]
    lo, hi = (float(fin.min()), float(fin.max())) if fin.size else (-1.0, 1.0)
    set_ticks(ax.xaxis, _ordinal_ticks(a.sample.fmt, lo, hi))
    ax.set_xlabel(a.sample.coord_name + " (spaced by ordinal)")


def _error_yaxis(ax, top: float) -> None:
    ax.set_yscale("log")
    ax.set_ylim(ULP_FLOOR / 2, top * 4)
    set_ticks(ax.yaxis, [(top, "NaN/inf"), (1.0, "1")] + [t for t in _log_ticks(ULP_FLOOR, top / 30, 5) if t[0] != 1])
    _log_minor(ax.yaxis, ULP_FLOOR, top / 30) if math.log10(top / ULP_FLOOR) < 6 else \
        ax.yaxis.set_minor_locator(FixedLocator([10.0**k for k in range(-2, int(math.log10(top)))]))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.axhline(1.0, color="#333333", lw=1, ls="--", zorder=1)
    ax.axhline(top, color="#333333", lw=0.8, ls=":", zorder=1)


def _shade_naive_failures(ax, a) -> None:
    p = a.points.get("naive")
    if p is None:
        return
    o = np.argsort(p.coord, kind="stable")
    o = o[np.isfinite(p.coord[o])]
    c, bad = _xpos(a, p.coord[o]), (p.failure | (p.ulp > 1e3))[o]
    edges = np.flatnonzero(np.diff(np.r_[0, bad.astype(int), 0]))
    runs = [(s, e) for s, e in zip(edges[::2], edges[1::2]) if e - s >= 3][:20]
    for i, (s, e) in enumerate(runs):
        ax.axvspan(c[s], c[e - 1], color=COLORS["naive"], alpha=0.08, lw=0, label="naive fails" if i == 0 else None)


def _cap_top(a) -> tuple[float, float]:
    finite = [p.ulp[np.isfinite(p.ulp)] for p in a.points.values() if p is not None]
    cap = min(max([float(np.max(f)) for f in finite if f.size] + [10.0]), 1e30)
    return cap, cap * 30


def _error_panel(ax, a) -> None:
    """Elementwise: a dot per input, moving average of log10(ulp) per implementation."""
    cap, top = _cap_top(a)
    order = _impls(a)
    for name in order:
        p = a.points[name]
        ok = ~p.undefined & np.isfinite(p.coord)
        u = np.where(p.failure, top, np.clip(p.ulp, ULP_FLOOR, cap))
        xs = _xpos(a, p.coord)
        idx = _thin(np.flatnonzero(ok))
        ax.scatter(xs[idx], u[idx], s=6, alpha=0.12, color=color(name), lw=0, rasterized=True, zorder=2)
        c, m = _moving_average(xs[ok], np.log10(u[ok]), max(5, ok.sum() // 60))
        _styled_line(ax, c, 10**m, name, order)
    _shade_naive_failures(ax, a)
    _error_yaxis(ax, top)
    ax.set_ylabel("ulp error")
    _ordinal_xaxis(ax, a, _xpos(a, a.sample.groups[0].coord))


def _rowwise_panel(ax, a, gx: _GapAxis) -> None:
    """Row-wise: a dot per row (its worst element) against the row's gap, the
    mean of log10(ulp) per quarter decade as steps, ties and single-entry rows
    as a dot column and a marker per implementation in the edge bands."""
    cap, top = _cap_top(a)
    order = _impls(a)
    for name in order:
        gap, worst, fail = rowwise_errors(a, name)
        u = np.where(fail, top, np.clip(worst, ULP_FLOOR, cap))
        xs = gx.x(gap, name)
        idx = _thin(np.flatnonzero(np.isfinite(xs) | (gap == 0)))
        ax.scatter(xs[idx], u[idx], s=12, alpha=0.18, color=color(name), lw=0, rasterized=True, zorder=2)
        pos = (gap > 0) & np.isfinite(gap)
        c, m = _binned(gap[pos], np.log10(u[pos]), gx.lo, gx.hi)
        _styled_line(ax, c, 10**m, name, order, drawstyle="steps-mid")
        style = _line_style(name, order)
        for band, sel in ((gx.tie, gap == 0), (gx.inf, np.isinf(gap))):
            if band is not None and sel.any():
                ax.plot([gx.centre(name, band)], [10 ** np.log10(u[sel]).mean()], ls="none", zorder=5,
                        **{k: v for k, v in style.items() if k not in ("lw", "markevery", "zorder")})
    _error_yaxis(ax, top)
    ax.set_ylabel("ulp error")
    gx.apply(ax)


def error_figure(analyses: list, title: str | None = None, subject: str | None = None):
    """Ulp error against input, one panel per format (FunctionAnalysis list);
    for row-wise functions one dot per row: its worst element against its gap.
    ``subject`` names the function in the default title (``loss:probs`` for
    the from-probabilities variant)."""
    rowwise = analyses[0].sample.coord_name == GAP
    subject = subject or analyses[0].function
    if title is None:
        title = f"{_short_name(subject)}: worst ulp error of each row against its logit gap" if rowwise \
            else f"{subject.replace(':probs', ' (from probabilities)')}: ulp error against input"
    with matplotlib.rc_context(STYLE):
        fig, axes = _panels(len(analyses))
        gx = _GapAxis(analyses, _all_impls(analyses)) if rowwise else None
        for ax, a in zip(axes, analyses):
            _rowwise_panel(ax, a, gx) if rowwise else _error_panel(ax, a)
            _note_errors(ax, a)
            ax.set_title(_label(a.fmt, a))
        legend(fig, axes, analyses)
        fig.suptitle(title)
        declutter(fig)
    return fig


# ------------------------------------------------------------ values, cdf


def values_figure(analyses: list, title: str | None = None):
    """Values against input (the winner's output for row-wise functions), both
    axes spaced by ordinal, the correctly rounded reference as a grey line;
    failures (NaN/inf where the exact value is finite) as crosses in a band
    at the top."""
    rowwise = analyses[0].sample.coord_name == GAP
    with matplotlib.rc_context(STYLE):
        fig, axes = _panels(len(analyses))
        gx = _GapAxis(analyses, _all_impls(analyses)) if rowwise else None
        for ax, a in zip(axes, analyses):
            order = _impls(a)
            _note_errors(ax, a)
            if not order:  # every implementation raised or lacks the function
                ax.set_title(_label(a.fmt, a))
                continue
            any_p = a.points[order[0]]
            sel = any_p.winner & ~any_p.undefined & ~np.isnan(any_p.coord)
            o = np.flatnonzero(sel)[np.argsort(any_p.coord[sel], kind="stable")]
            fmt = a.sample.fmt
            ref = _ordinals(any_p.rounded, fmt)
            ys = {n: _ordinals(np.where(a.points[n].failure, np.nan, a.points[n].y), fmt) for n in order}
            allv = np.concatenate([ref[o]] + [ys[n][o] for n in order])
            allv = allv[np.isfinite(allv)]
            lo, hi = (float(allv.min()), float(allv.max())) if allv.size else (-1.0, 1.0)
            band = hi + 0.2 * max(hi - lo, 1.0)
            if rowwise:
                xr = gx.x(any_p.coord, order[0])
            else:
                xr = _xpos(a, any_p.coord)
            keep = o[np.isfinite(xr[o]) & np.isfinite(ref[o])]
            ax.plot(xr[keep], ref[keep], color=COLORS["reference"], lw=6, alpha=0.6, zorder=1, label="reference")
            idx = _thin(o)
            for name in order:
                p = a.points[name]
                xs = gx.x(p.coord, name) if rowwise else xr
                y = np.where(p.failure, band, ys[name])
                good = idx[np.isfinite(y[idx]) & np.isfinite(xs[idx])]
                fail = good[p.failure[good]]
                ok = good[~p.failure[good]]
                ax.scatter(xs[ok], y[ok], s=40, alpha=0.5, color=color(name), lw=0, marker=MARKERS.get(name, "o"),
                           rasterized=True, zorder=3 if name in TIERS else 2)
                ax.scatter(xs[fail], y[fail], s=80, color=color(name), marker="x", lw=2, zorder=3)
            ax.set_ylim(lo - 0.05 * max(hi - lo, 1.0), band + 0.06 * max(hi - lo, 1.0))
            set_ticks(ax.yaxis, [(band, "NaN/inf")] + _ordinal_ticks(fmt, lo, hi))
            ax.axhline(band, color="#333333", lw=0.8, ls=":", zorder=1)
            if rowwise:
                gx.apply(ax)
                ax.set_ylabel("value (by ordinal)")
            else:
                _ordinal_xaxis(ax, a, xr[o])
                ax.set_ylabel("value (by ordinal)")
            ax.set_title(_label(a.fmt, a))
        legend(fig, axes, analyses, lines=False, reference=True)
        what = "the winner's output against its row's logit gap" if rowwise else "values against input"
        fig.suptitle(title or f"{_short_name(analyses[0].function)}: {what} (\u00d7 = NaN/inf)")
        declutter(fig)
    return fig


def cdf_figure(analyses: list, title: str | None = None):
    """Share of inputs with ulp error <= e, per implementation; failures count
    as infinite error, so a curve that stops below 1 has failures."""
    with matplotlib.rc_context(STYLE):
        fig, axes = _panels(len(analyses))
        for ax, a in zip(axes, analyses):
            order = _impls(a)
            hi = 10.0
            for name in order:
                p = a.points[name]
                u = np.sort(np.clip(p.ulp[~p.undefined], ULP_FLOOR, None))
                frac = np.arange(1, u.size + 1) / max(1, u.size)
                keep = np.isfinite(u)
                if keep.any():
                    hi = max(hi, float(u[keep][-1]))
                _styled_line(ax, u[keep], frac[keep], name, order, drawstyle="steps-post")
            _note_errors(ax, a)
            ax.axvline(0.5, color="#333333", lw=1, ls="--", zorder=1)
            ax.axvline(1.0, color="#333333", lw=1, ls=":", zorder=1)
            ax.set_xscale("log")
            hi = 10.0 ** math.ceil(math.log10(hi))
            ax.set_xlim(ULP_FLOOR / 1.5, hi * 1.5)
            set_ticks(ax.xaxis, _log_ticks(ULP_FLOOR, hi, 5))
            ax.xaxis.set_minor_locator(FixedLocator([10.0**k for k in range(-2, int(math.log10(hi)) + 1)]))
            ax.xaxis.set_minor_formatter(NullFormatter())
            ax.set_ylim(0, 1.02)
            ax.set_xlabel("ulp error (0.5 dashed, 1 dotted)")
            ax.set_ylabel("share of outputs")
            ax.set_title(_label(a.fmt, a, per_row=False))
        legend(fig, axes, analyses)
        fig.suptitle(title or f"{analyses[0].function}: cumulative ulp error")
        declutter(fig)
    return fig


# ------------------------------------------------------------ summary


_SHORT = {"binary_crossentropy": "binary CE", "sparse_categorical_crossentropy": "sparse CE",
          "categorical_crossentropy": "categorical CE", ":probs": " (probs)"}


def _short_name(name: str) -> str:
    for k, v in _SHORT.items():
        name = name.replace(k, v)
    return name


def _compact(v: float) -> str:
    """2 significant digits in at most four characters: 0.5, 58, 9e15."""
    if not np.isfinite(v):
        return "inf"
    if v < 100:
        return f"{v:.2g}"
    m, e = f"{v:.0e}".split("e")
    return f"{m}e{int(e)}"


def heatmap_figure(rows: list[str], impls: list[str], worst: np.ndarray, failures: np.ndarray, title: str = "",
                   errors: np.ndarray | None = None):
    """Function x implementation; colour = worst ulp error (log scale, over
    the formats analysed); the text is the worst ulp, with the failure count
    (NaN/inf results) after a cross on a second line; grey = not available;
    "error" (grey) where ``errors`` says the implementation raised in some
    format, since its worst error is then unknown."""
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
                txt = _compact(worst[i, j]) + (f"\n\u2717{_compact(n) if n >= 100 else n}" if n else "")
                dark_bg = np.log(w[i, j] / 0.1) < 0.55 * np.log(vmax / 0.1)
                ax.text(j, i, txt, ha="center", va="center", color="white" if dark_bg else "black",
                        fontweight="bold" if n else "normal", linespacing=0.9)
        ax.set_xticks(range(len(impls)), impls, rotation=30, ha="right", rotation_mode="anchor")
        ax.set_yticks(range(len(rows)), [_short_name(r) for r in rows])
        ax.tick_params(length=0)
        for side in ("left", "bottom"):
            ax.spines[side].set_visible(False)
        fig.colorbar(im, ax=ax, label="worst ulp error", pad=0.01)
        ax.set_title(title or "worst ulp error over all formats (\u2717 n: NaN/inf failures)")
    return fig


