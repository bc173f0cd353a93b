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
from matplotlib.colors import to_rgba
from matplotlib.ticker import FixedLocator, NullFormatter

from .heatmap import heatmap_figure, short_name as _short_name
from stabkit.analysis.stats import KINDS as POINT_KINDS, classify

from .axes import ULP_FLOOR, ErrorScale, _binned, _GapAxis, _log_ticks, _ordinal_ticks, _ordinals, _row_ids, rowwise_errors
from .cells import max_cell
from .notes import STOPS, WORST, place_notes
from stabkit.floats import get_format
from .style import COLORS, MARKERS, STYLE, TIERS, color, declutter, legend, render, save, set_ticks, subplots

__all__ = ["COLORS", "MARKERS", "STYLE", "KINDS", "ULP_FLOOR", "ErrorScale", "error_figure", "values_figure", "cdf_figure", "heatmap_figure",
           "rowwise_errors", "declutter", "render", "save"]

KINDS = ("error", "values", "cdf")

_MAX_DOTS = 2500  # per implementation and panel, to keep the PNGs small
GAP = "logit gap"
NAIVE_FAILS_ALPHA = 0.12  # the fill of the runs where naive fails


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


def _thin(idx: np.ndarray, u: np.ndarray | None = None) -> np.ndarray:
    """An evenly spaced subset of at most _MAX_DOTS indices (deterministic),
    plus the 50 with the largest ``u`` (so thinning never hides the worst)."""
    if idx.size <= _MAX_DOTS:
        return idx
    keep = idx[np.linspace(0, idx.size - 1, _MAX_DOTS).astype(int)]
    if u is not None:
        keep = np.union1d(keep, idx[np.argsort(-u[idx], kind="stable")[:50]])
    return keep


def _impls(a) -> list[str]:
    """Implementations with points, libraries first so the tiers draw on top."""
    names = [k for k, p in a.points.items() if p is not None]
    return [n for n in names if n not in TIERS] + [n for n in names if n in TIERS]


def _all_impls(analyses) -> list[str]:
    """:func:`_impls` over every panel (one may lack an implementation that errored)."""
    names = list(dict.fromkeys(k for a in analyses for k, p in a.points.items() if p is not None))
    return sorted(names, key=lambda n: n in TIERS)  # stable: libraries first, then the tiers


def _note_errors(ax, a) -> None:
    """Name the implementations that raised on this panel's format (no points)."""
    if a.errors:
        text = "\n".join(f"{n}: error ({e.split(':')[0]})" for n, e in a.errors.items())
        ax.text(0.02, 0.03, text, transform=ax.transAxes, ha="left", va="bottom", color="#B00020", zorder=6,
                bbox={"facecolor": "white", "alpha": 0.85, "linewidth": 0})


def _subject(analyses) -> str:
    """The function as a user names it: ``loss:probs`` for the from-probabilities variant."""
    return analyses[0].function + ("" if getattr(analyses[0].sample, "from_logits", True) else ":probs")


def _moving_average(c: np.ndarray, v: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    o = np.argsort(c, kind="stable")
    c, v = c[o], v[o]
    if c.size < 2 * k:
        return c, v
    kern = np.ones(k) / k
    # the window's middle coordinate (averaging coordinates near 1e308 overflows)
    return c[k // 2: k // 2 + c.size - k + 1], np.convolve(v, kern, "valid")


def _xpos(a, c: np.ndarray) -> np.ndarray:
    """The *ordinal* of each input (x, logit z, logit(p)): every float as wide, as in Herbie's plots."""
    return _ordinals(np.where(np.isfinite(c), c, np.nan), a.sample.fmt)


def _ordinal_xaxis(ax, a, xs: np.ndarray, focus=()) -> None:
    fin = np.r_[xs, _xpos(a, np.array(focus, dtype=float))] if len(focus) else xs
    fin = fin[np.isfinite(fin)]
    lo, hi = (float(fin.min()), float(fin.max())) if fin.size else (-1.0, 1.0)
    set_ticks(ax.xaxis, _ordinal_ticks(a.sample.fmt, lo, hi, focus))
    ax.set_xlabel(a.sample.coord_name + " (spaced by ordinal)")


def _shade_naive_failures(ax, a) -> None:
    p = a.points.get("naive")
    if p is None:
        return
    o = np.argsort(p.coord, kind="stable")
    o = o[np.isfinite(p.coord[o])]
    c, bad = _xpos(a, p.coord[o]), (p.failure | (p.ulp > 1e3))[o]
    edges = np.flatnonzero(np.diff(np.r_[0, bad.astype(int), 0]))
    runs = [(s, e) for s, e in zip(edges[::2], edges[1::2]) if e - s >= 3][:20]
    # a faint fill with a firm edge: the legend's patch is this patch at a
    # legend's size, where a fill alone at this alpha would not show
    face, edge = to_rgba(COLORS["naive"], NAIVE_FAILS_ALPHA), to_rgba(COLORS["naive"], 0.6)
    for i, (s, e) in enumerate(runs):
        ax.axvspan(c[s], c[e - 1], facecolor=face, edgecolor=edge, lw=1.2, zorder=0,
                   label="naive fails" if i == 0 else None)


def _scale(a) -> ErrorScale:
    return ErrorScale([p.ulp[~p.undefined & ~p.failure] for p in a.points.values() if p is not None], a.fmt)


def _panel_max(a) -> tuple[float, list[tuple[str, int]]]:
    """The largest error that is no failure in the panel, and each
    implementation that reaches it with the index of its point."""
    best, who = -1.0, []
    for name in _impls(a):
        p = a.points[name]
        ok = np.flatnonzero(~p.undefined & ~p.failure & ~np.isnan(p.ulp))
        if not ok.size:
            continue
        i = int(ok[np.argmax(p.ulp[ok])])
        if p.ulp[i] > best:
            best, who = float(p.ulp[i]), [(name, i)]
        elif p.ulp[i] == best:
            who.append((name, i))
    return best, who


def _mark_max(ax, a, scale: ErrorScale, xpos) -> None:
    """Each implementation's worst point drawn solid with its marker, and the
    panel's worst case named: its error as the tables write it, who, where.
    ``xpos(name, coord)`` is the point's x on this panel."""
    order = _impls(a)
    for name in order:
        p = a.points[name]
        ok = np.flatnonzero(~p.undefined & ~p.failure & ~np.isnan(p.ulp) & ~np.isnan(p.coord))
        if ok.size:
            i = int(ok[np.argmax(p.ulp[ok])])
            st = {k: v for k, v in _line_style(name, order).items() if k not in ("lw", "markevery", "zorder")}
            ax.plot([xpos(name, p.coord[i])], scale.y(p.ulp[i:i + 1], p.failure[i:i + 1]), ls="none", zorder=6, **st)
    best, who = _panel_max(a)
    if best <= 1 or not who:
        return
    who.sort(key=lambda w: list(COLORS).index(w[0]) if w[0] in COLORS else len(COLORS))
    name, i = who[0]
    p = a.points[name]
    point = {"kind": POINT_KINDS[classify(p)[i]], "value": float(p.y[i]), "exact": float(p.exact[i])}
    x, y = xpos(name, p.coord[i]), float(scale.y(p.ulp[i:i + 1], p.failure[i:i + 1])[0])
    # the label inside the axes, on the other half of the panel from its point
    fx = ax.transAxes.inverted().transform(ax.transData.transform((x, y)))[0]
    names = [n for n, _ in who]
    c = float(p.coord[i])
    # an input as its format prints it, the shortest text that reads back to it
    # (-88.72 was no input where naive sigmoid returns 0; -88.7228 is), cut to
    # 8 digits where that is longer (float64's 17 run into the axis); a gap: 4 digits
    shown = f"{c:.4g}" if a.sample.coord_name == GAP else str(get_format(a.fmt).dtype.type(c))
    shown = shown if len(shown.lstrip("-")) <= 10 else f"{c:.8g}"
    where = f"at {'gap' if a.sample.coord_name == GAP else a.sample.coord_name} = {shown}"
    # who, when it fits (three names in a wide panel); the solid markers show it anyway
    fits = 3 if sum(o.get_visible() for o in ax.figure.axes) <= 2 else 2
    text = f"worst: {max_cell(best, point, a.fmt)}\n{where}" + (f" ({', '.join(names)})" if len(names) <= fits else "")
    right = fx < 0.5
    ann = ax.annotate(text, xy=(x, y), xycoords="data", xytext=(0.97 if right else 0.03, 0.55),
                      textcoords="axes fraction", ha="right" if right else "left", va="center", zorder=7,
                      bbox={"facecolor": "white", "alpha": 0.85, "linewidth": 0},
                      arrowprops={"arrowstyle": "->", "color": "#333333", "lw": 1.5})
    ann.set_in_layout(False)  # a label inside the panel must not shrink it
    ann.set_gid(WORST)  # placed clear of the data once the figure is laid out (place_notes)


def _error_panel(ax, a) -> None:
    """Elementwise: a dot per input, moving average of log10(ulp) per
    implementation, each one's worst point solid, the panel's named."""
    scale = _scale(a)
    order = _impls(a)
    for name in order:
        p = a.points[name]
        ok = ~p.undefined & np.isfinite(p.coord)
        u = scale.y(p.ulp, p.failure)
        xs = _xpos(a, p.coord)
        idx = _thin(np.flatnonzero(ok), u)
        ax.scatter(xs[idx], u[idx], s=6, alpha=0.12, color=color(name), lw=0, rasterized=True, zorder=2)
        c, m = _moving_average(xs[ok], np.log10(u[ok]), max(5, ok.sum() // 60))
        _styled_line(ax, c, 10**m, name, order)
    _shade_naive_failures(ax, a)
    scale.apply(ax)
    ax.set_ylabel("ulp error")
    worst = [a.points[n].coord[i] for n, i in _panel_max(a)[1][:1]]  # a tick beside the worst case (axes.py)
    _ordinal_xaxis(ax, a, _xpos(a, a.sample.groups[0].coord), worst)
    _mark_max(ax, a, scale, lambda name, c: float(_xpos(a, np.array([c]))[0]))


def _rowwise_panel(ax, a, gx: _GapAxis) -> None:
    """Row-wise: a dot per row (its worst element) against the row's gap, the
    mean of log10(ulp) per quarter decade as steps, ties and single-entry rows
    as a dot column and a marker per implementation in the edge bands."""
    scale = _scale(a)
    order = _impls(a)
    for name in order:
        gap, worst, fail = rowwise_errors(a, name)
        u = scale.y(worst, fail)
        xs = gx.x(gap, name)
        idx = _thin(np.flatnonzero(np.isfinite(xs) | (gap == 0)), u)
        ax.scatter(xs[idx], u[idx], s=12, alpha=0.18, color=color(name), lw=0, rasterized=True, zorder=2)
        pos = (gap > 0) & np.isfinite(gap)
        c, m = _binned(gap[pos], np.log10(u[pos]), gx.lo, gx.hi)
        _styled_line(ax, c, 10**m, name, order, drawstyle="steps-mid")
        style = _line_style(name, order)
        for band, sel in ((gx.tie, gap == 0), (gx.inf, np.isinf(gap))):
            if band is not None and sel.any():
                ax.plot([gx.centre(name, band)], [10 ** np.log10(u[sel]).mean()], ls="none", zorder=5,
                        **{k: v for k, v in style.items() if k not in ("lw", "markevery", "zorder")})
    scale.apply(ax)
    ax.set_ylabel("ulp error")
    gx.apply(ax)
    _mark_max(ax, a, scale, lambda name, c: float(gx.x(np.array([c]), name)[0]))


def error_figure(analyses: list, title: str | None = None, subject: str | None = None):
    """Ulp error against input, one panel per format (FunctionAnalysis list);
    for row-wise functions one dot per row: its worst element against its gap.
    ``subject`` names the function in the default title (``loss:probs`` for
    the from-probabilities variant)."""
    rowwise = analyses[0].sample.coord_name == GAP
    subject = subject or _subject(analyses)
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
        place_notes(fig)
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
        fig.suptitle(title or f"{_short_name(_subject(analyses))}: {what} (\u00d7 = NaN/inf)")
        declutter(fig)
    return fig


def cdf_figure(analyses: list, title: str | None = None):
    """Share of inputs with ulp error <= e, per implementation; failures count
    as infinite error, so a curve that stops below 1 has failures (a note says where)."""
    with matplotlib.rc_context(STYLE):
        fig, axes = _panels(len(analyses))
        for ax, a in zip(axes, analyses):
            order = _impls(a)
            hi, stops = 10.0, []
            for name in order:
                p = a.points[name]
                u = np.sort(np.clip(p.ulp[~p.undefined], ULP_FLOOR, None))
                frac = np.arange(1, u.size + 1) / max(1, u.size)
                keep = np.isfinite(u)
                if keep.any():
                    hi = max(hi, float(u[keep][-1]))
                if not keep.all():  # NaN/inf results (failures) sort last: the curve stops below 1
                    stops.append(f"{name} stops at {keep.mean():.0%}:\nNaN/inf beyond")
                _styled_line(ax, u[keep], frac[keep], name, order, drawstyle="steps-post")
            ax.text(0.5, 0.5, "\n".join(stops), transform=ax.transAxes, zorder=7, gid=STOPS, in_layout=False,
                    bbox={"facecolor": "white", "alpha": 0.85, "linewidth": 0}) if stops else None
            _note_errors(ax, a)
            ax.axvline(0.5, color="#333333", lw=1, ls="--", zorder=1)
            ax.axvline(1.0, color="#333333", lw=1, ls=":", zorder=1)
            ax.set_xscale("log")
            hi = 10.0 ** min(math.ceil(math.log10(hi)), 300)  # float64's counts reach 1e308
            ax.set_xlim(ULP_FLOOR / 1.5, hi * 1.5)
            set_ticks(ax.xaxis, _log_ticks(ULP_FLOOR, hi, 5))
            ax.xaxis.set_minor_locator(FixedLocator([10.0**k for k in range(-2, int(math.log10(hi)) + 1)]))
            ax.xaxis.set_minor_formatter(NullFormatter())
            ax.set_ylim(0, 1.02)
            ax.set_xlabel("ulp error (0.5 dashed, 1 dotted)")
            ax.set_ylabel("share of outputs")
            ax.set_title(_label(a.fmt, a, per_row=False))
        legend(fig, axes, analyses)
        fig.suptitle(title or f"{_subject(analyses).replace(':probs', ' (from probabilities)')}: cumulative ulp error")
        declutter(fig)
        place_notes(fig, STOPS)
    return fig
