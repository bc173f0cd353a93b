"""Slide-style figures of the error analysis (matplotlib, Agg backend).

Every figure is 16:9 (12.8 x 7.2 in, 1920 x 1080 pixels at 150 dpi) with
type of at least 18 pt, and every implementation keeps one colour from the
Okabe-Ito palette (safe for the common colour-vision deficiencies) in every
figure: naive vermillion and accurate blue, as Herbie draws the original in
red and the improvement in blue.

* :func:`error_figure`: ulp error against input, one panel per format, a faint
  dot per sample and a moving average per implementation, 1 ulp marked,
  failures (NaN/inf) drawn in a band at the top, runs where naive fails shaded;
* :func:`values_figure`: the values against input, the reference beside them;
* :func:`cdf_figure`: cumulative distribution of ulp error;
* :func:`heatmap_figure`: function x implementation, colour = worst ulp error.
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import LogNorm  # noqa: E402

from ._io import atomic_write  # noqa: E402
from .floats import ordinal  # noqa: E402

__all__ = ["COLORS", "STYLE", "error_figure", "values_figure", "cdf_figure", "heatmap_figure", "save", "KINDS"]

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

ULP_FLOOR = 1e-2  # errors below are drawn at the floor (all "correct")
_MAX_DOTS = 2500  # per implementation and panel, to keep the PNGs small


def _color(name: str) -> str:
    return COLORS.get(name, "#444444")


def _label(fmt: str, a) -> str:
    return f"{fmt}" + (" (all inputs)" if a.sample.exhaustive else f" ({a.sample.size:,} samples)")


def _panels(n: int):
    rows, cols = (1, 1) if n == 1 else (1, 2) if n == 2 else (2, 2) if n <= 4 else (2, 3)
    fig, axes = plt.subplots(rows, cols, squeeze=False, layout="constrained")
    axes = axes.ravel()
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes[:n]


def _thin(idx: np.ndarray) -> np.ndarray:
    """An evenly spaced subset of at most _MAX_DOTS indices (deterministic)."""
    if idx.size <= _MAX_DOTS:
        return idx
    return idx[np.linspace(0, idx.size - 1, _MAX_DOTS).astype(int)]


def _xpos(a, c: np.ndarray) -> np.ndarray:
    """Horizontal positions: for inputs that span the format (x, logit z,
    logit(p)) the *ordinal* of the value, so every float gets the same width,
    as in Herbie's plots; logit gaps as they are (on a symlog axis)."""
    if a.sample.coord_name == "logit gap":
        return c
    with np.errstate(over="ignore", invalid="ignore"):
        return ordinal(np.where(np.isfinite(c), c, np.nan).astype(a.sample.fmt.dtype), a.sample.fmt).astype(np.float64)


def _xaxis(ax, a) -> None:
    """Ticks at 0, +-1 and +-a large power of ten, at their ordinals."""
    ax.set_xlabel(a.sample.coord_name + ("" if a.sample.coord_name == "logit gap" else " (spaced by ordinal)"))
    if a.sample.coord_name == "logit gap":
        ax.set_xscale("symlog", linthresh=1e-2)
        return
    f = a.sample.fmt
    big = 10.0 ** round(np.log10(f.max) * 0.6)
    vals = [-big, -1.0, 0.0, 1.0, big]
    ax.set_xticks(ordinal(np.array(vals).astype(f.dtype), f).astype(np.float64), [_short(v) for v in vals])


def _short(v: float) -> str:
    if v == 0 or abs(v) == 1:
        return f"{v:g}"
    return f"{'-' if v < 0 else ''}1e{int(round(np.log10(abs(v))))}"


def _moving_average(c: np.ndarray, v: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    o = np.argsort(c, kind="stable")
    c, v = c[o], v[o]
    if c.size < 2 * k:
        return c, v
    kern = np.ones(k) / k
    # the window's middle coordinate (averaging coordinates near 1e308 overflows)
    return c[k // 2: k // 2 + c.size - k + 1], np.convolve(v, kern, "valid")


def _shade_naive_failures(ax, a, top: float) -> None:
    p = a.points.get("naive")
    if p is None:
        return
    o = np.argsort(p.coord, kind="stable")
    fin = np.isfinite(p.coord[o])
    o = o[fin]
    c, bad = _xpos(a, p.coord[o]), (p.failure | (p.ulp > 1e3))[o]
    edges = np.flatnonzero(np.diff(np.r_[0, bad.astype(int), 0]))
    runs = [(s, e) for s, e in zip(edges[::2], edges[1::2]) if e - s >= 3][:20]
    for i, (s, e) in enumerate(runs):
        ax.axvspan(c[s], c[e - 1], color=COLORS["naive"], alpha=0.08, lw=0, label="naive fails" if i == 0 else None)


def error_figure(analyses: list, title: str | None = None):
    """Ulp error against input, one panel per format (FunctionAnalysis list)."""
    with plt.rc_context(STYLE):
        fig, axes = _panels(len(analyses))
        top = None
        for ax, a in zip(axes, analyses):
            pts = {k: p for k, p in a.points.items() if p is not None}
            finite = [p.ulp[np.isfinite(p.ulp)] for p in pts.values()]
            cap = min(max([float(np.max(f)) for f in finite if f.size] + [10.0]), 1e30)
            top = cap * 30
            for name, p in pts.items():
                ok = ~p.undefined & np.isfinite(p.coord)
                u = np.where(p.failure, top, np.clip(p.ulp, ULP_FLOOR, cap))
                idx = _thin(np.flatnonzero(ok))
                xs = _xpos(a, p.coord)
                ax.scatter(xs[idx], u[idx], s=6, alpha=0.12, color=_color(name), lw=0, rasterized=True)
                c, m = _moving_average(xs[ok], np.log10(u[ok]), max(5, ok.sum() // 60))
                ax.plot(c, 10**m, color=_color(name), lw=3, label=name)
            _shade_naive_failures(ax, a, top)
            ax.axhline(1.0, color="#333333", lw=1, ls="--")
            ax.axhline(top, color="#333333", lw=0.8, ls=":")
            ax.set_yscale("log")
            ax.set_ylim(ULP_FLOOR / 2, top * 4)
            ax.text(0.99, top, "NaN/inf ", transform=ax.get_yaxis_transform(), va="top", ha="right", fontsize=18)
            ax.set_title(_label(a.fmt, a))
            ax.set_ylabel("ulp error")
            _xaxis(ax, a)
        _legend(fig, axes)
        fig.suptitle(title or f"{analyses[0].function}: error against input")
    return fig


def values_figure(analyses: list, title: str | None = None):
    """Values against input (the winner's output for row-wise functions), the
    reference as a grey line; NaN/inf results drawn as crosses on the top edge."""
    with plt.rc_context(STYLE):
        fig, axes = _panels(len(analyses))
        for ax, a in zip(axes, analyses):
            pts = {k: p for k, p in a.points.items() if p is not None}
            any_p = next(iter(pts.values()))
            sel = any_p.winner & ~any_p.undefined & np.isfinite(any_p.coord)
            o = np.flatnonzero(sel)[np.argsort(any_p.coord[sel], kind="stable")]
            xs = _xpos(a, any_p.coord)
            _xaxis(ax, a)
            ax.plot(xs[o], any_p.exact[o], color=COLORS["reference"], lw=5, alpha=0.6, label="reference")
            fin = any_p.exact[o][np.isfinite(any_p.exact[o])]
            hi = float(np.max(np.abs(fin))) if fin.size else 1.0
            for name, p in pts.items():
                idx = _thin(o)
                good = np.isfinite(p.y[idx])
                ax.scatter(xs[idx][good], p.y[idx][good], s=10, alpha=0.4, color=_color(name), lw=0,
                           marker=MARKERS.get(name, "o"), label=name, rasterized=True)
                bad = idx[~good]
                ax.scatter(xs[bad], np.full(bad.size, hi * 10), s=60, color=_color(name), marker="x")
            ax.set_yscale("symlog", linthresh=1e-300 if a.fmt == "float64" else 1e-40)
            ax.set_title(_label(a.fmt, a))
            ax.set_ylabel("value")
        _legend(fig, axes)
        fig.suptitle(title or f"{analyses[0].function}: values (x = NaN/inf on top)")
    return fig


def cdf_figure(analyses: list, title: str | None = None):
    """Share of inputs with ulp error <= e, per implementation; failures count
    as infinite error, so a curve that stops below 1 has failures."""
    with plt.rc_context(STYLE):
        fig, axes = _panels(len(analyses))
        for ax, a in zip(axes, analyses):
            for name, p in a.points.items():
                if p is None:
                    continue
                u = np.sort(np.clip(p.ulp[~p.undefined], ULP_FLOOR, None))
                frac = np.arange(1, u.size + 1) / max(1, u.size)
                keep = np.isfinite(u)
                ax.step(u[keep], frac[keep], where="post", color=_color(name), lw=3, label=name)
            ax.axvline(0.5, color="#333333", lw=1, ls="--")
            ax.axvline(1.0, color="#333333", lw=1, ls=":")
            ax.set_xscale("log")
            ax.set_ylim(0, 1.02)
            ax.set_xlabel("ulp error")
            ax.set_ylabel("share of inputs")
            ax.set_title(_label(a.fmt, a))
        _legend(fig, axes)
        fig.suptitle(title or f"{analyses[0].function}: cumulative ulp error")
    return fig


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


def heatmap_figure(rows: list[str], impls: list[str], worst: np.ndarray, failures: np.ndarray, title: str = ""):
    """Function x implementation; colour = worst ulp error (log scale, over
    the formats analysed); the text is the worst ulp, with the failure count
    (NaN/inf results) after a cross on a second line; grey = not available."""
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(layout="constrained")
        w = np.where(np.isnan(worst), np.nan, np.clip(np.nan_to_num(worst, posinf=1e20), 0.1, 1e20))
        vmax = max(1e4, float(np.nanmax(w)) if np.isfinite(w).any() else 1e4)
        im = ax.imshow(w, cmap="cividis", norm=LogNorm(vmin=0.1, vmax=vmax), aspect="auto")
        ax.set_facecolor("#DDDDDD")
        for i in range(len(rows)):
            for j in range(len(impls)):
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


def _legend(fig, axes) -> None:
    handles, labels = {}, []
    for ax in axes:
        for h, l in zip(*ax.get_legend_handles_labels()):
            if l not in handles:
                handles[l] = h
                labels.append(l)
    leg = fig.legend([handles[l] for l in labels], labels, loc="outside right center", ncol=1,
                     frameon=False, markerscale=2)
    for h in leg.legend_handles:
        if hasattr(h, "set_alpha"):
            h.set_alpha(1)


def save(fig, path: str, formats=("png",)) -> list[str]:
    """Write ``fig`` as ``path`` + ``.png`` (and ``.svg``/``.pdf``), each
    atomically; returns the paths written. PNGs are quantised to a 256-colour
    palette (a third of the size, no visible change for line art)."""
    from PIL import Image

    out = []
    for ext in formats:
        buf = io.BytesIO()
        meta = {"png": {"Software": None}, "pdf": {"Creator": None, "Producer": None, "CreationDate": None},
                "svg": {"Date": None}}.get(ext, {})
        fig.savefig(buf, format=ext, metadata=meta)
        data = buf.getvalue()
        if ext == "png":
            img = Image.open(io.BytesIO(data)).convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT)
            buf = io.BytesIO()
            img.save(buf, format="png", optimize=True, dpi=(STYLE["savefig.dpi"],) * 2)
            data = buf.getvalue()
        atomic_write(f"{path}.{ext}", data)
        out.append(f"{path}.{ext}")
    plt.close(fig)
    return out
