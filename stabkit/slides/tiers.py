"""The lecture's figures of the three tiers against correctly rounded
references: sigmoid, log_softmax's winner gap, and cross-entropy from logits.

Errors are measured as the report measures them: against
:func:`stabkit.reference.reference` (mpmath, correctly rounded), in ulps,
NaN/inf where the exact value is finite counted as failures and drawn in a
band at the top.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from stabkit import accurate, naive, stable
from stabkit.reference import reference
from stabkit.report.style import COLORS, MARKERS, subplots
from .base import Slide, bottom_legend, fmt_number, slide
from .edges import HALF_TINIEST, edge, underflow_edge

__all__ = ["TIER_MODULES", "correct_digits", "crossentropy_logits", "log_softmax_gap", "sigmoid_tiers"]

TIER_MODULES = {"naive": naive, "stable": stable, "accurate": accurate}
ULP_FLOOR = 1e-2  # as stabkit.report.plots: errors below are drawn at the floor


def _tier_line(ax, x, y, tier: str, k: int, label: str | None = None, ls: str = "-", n: int = 3,
               hollow: bool = False, color: str | None = None) -> None:
    """A tier's line in its colour (or ``color``), with its markers at its own
    offset so coinciding lines stay visible (as stabkit.report.plots draws
    them); ``hollow`` markers tell apart lines through a softmax layer."""
    c = color or COLORS[tier]
    face = dict(mfc="white", mec=c, mew=2.0) if hollow else dict(mec="white", mew=1.0)
    ax.plot(x, y, color=c, lw=3.5, ls=ls, label=label or tier, zorder=3 + k * 0.1,
            marker=MARKERS[tier], ms=9, markevery=(0.1 * (k + 0.5) / n, 0.1), **face)


def _ulp_axis(ax, top: float, xlabel: str, band: bool = True) -> None:
    """Log ulp-error axis from the floor up, with a NaN/inf band at ``top``
    when ``band``."""
    ax.set_yscale("log")
    ax.set_ylim(ULP_FLOOR / 2, top * 4 if band else top / 10)
    ks = list(range(-2, int(math.log10(top / 30)) + 1))
    step = max(1, math.ceil(len(ks) / 6))
    ticks = [10.0**k for k in ks if k % step == 0 or k == 0 or k == -2]
    # the floor holds every smaller error, exact results (0 ulp) included: said on its tick
    labels = [("1" if t == 1 else ("\u2264" if t == ULP_FLOOR else "") + f"$10^{{{round(math.log10(t))}}}$")
              for t in ticks]
    ax.set_yticks(ticks + [top] * band, labels + ["NaN/inf"] * band)
    ax.minorticks_off()
    ax.axhline(1.0, color="#333333", lw=1, ls="--", zorder=1)
    if band:
        ax.axhline(top, color="#333333", lw=0.8, ls=":", zorder=1)
    ax.set_ylabel("ulp error")
    ax.set_xlabel(xlabel)


def _envelope(x: np.ndarray, err: np.ndarray, fail: np.ndarray, width: int):
    """The worst error of each run of ``width`` consecutive inputs (failures
    excluded), at the run's middle input, and whether the run had a failure."""
    n = x.size // width * width
    e = np.where(fail, np.nan, err)[:n].reshape(-1, width)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-failure runs give NaN
        worst = np.nanmax(e, axis=1)
    return x[:n].reshape(-1, width)[:, width // 2], worst, fail[:n].reshape(-1, width).any(axis=1)


def _ulp_top(errs) -> float:
    finite = [float(np.max(e[np.isfinite(e)])) for e in errs if np.isfinite(e).any()]
    return 10.0 ** math.ceil(math.log10(max(finite + [10.0]) * 30))


def _draw_errors(ax, x, err, fail, top, tier, k, ls="-", label=None, n=3):
    """The error line (failures cut out) and a cross per failure in the band."""
    y = np.where(fail, np.nan, np.clip(err, ULP_FLOOR, None))
    _tier_line(ax, x, y, tier, k, label, ls, n)
    if fail.any():
        ax.scatter(x[fail], np.full(int(fail.sum()), top), marker="x", s=70, lw=2, color=COLORS[tier], zorder=4)


# ------------------------------------------------------------ the tiers


def _overflow(ax, lo, hi, text) -> None:
    """Shade where the naive formula's exp overflows (legend entry ``text``)."""
    ax.axvspan(lo, hi, color=COLORS["naive"], alpha=0.12, lw=0, label=text)


@slide("05a-sigmoid-tiers",
       reading=("Left: the three tiers follow the exact sigmoid until the naive 1/(1 + exp(-x)) drops to 0 where "
                "exp(-x) overflows (shaded). Right: ulp error (below the dashed line at 1 ulp is good). The naive"
                " error shoots up in the shaded band and comes down again only because the exact value there is "
                "subnormal (a fixed ulp, dash-dotted line) and finally rounds to 0 itself (hatched): it never "
                "recovers."))
def sigmoid_tiers(data, budget) -> Slide:
    """sigmoid in float32: values and ulp error of the three tiers."""
    x = np.linspace(-110, 25, budget.points).astype(np.float32)
    ref = reference("sigmoid", x, fmt="float32")
    big = float(np.log(np.finfo(np.float32).max))  # exp(-x) overflows below -big
    ys = {t: m.sigmoid(x) for t, m in TIER_MODULES.items()}
    errs = {t: ref.ulp_error(y) for t, y in ys.items()}
    fails = {t: ref.failures(y) for t, y in ys.items()}
    top = _ulp_top(errs.values())
    fig, (ax_v, ax_e) = subplots(1, 2)
    zero = 1e-47
    ax_v.plot(x, np.where(ref.rounded > 0, ref.rounded, np.nan), color=COLORS["reference"], lw=9, alpha=0.45,
              label="exact (mpmath)", zorder=2)
    width = max(1, x.size // 50)
    for k, (t, y) in enumerate(ys.items()):
        _tier_line(ax_v, x, np.where(y > 0, y, zero), t, k)
        _draw_errors(ax_e, *_envelope(x, errs[t], fails[t], width), top, t, k)
    ax_v.set_yscale("log")
    ax_v.set_ylim(zero / 5, 30)
    ax_v.set_yticks([zero, 1e-40, 1e-30, 1e-20, 1e-10, 1], ["0", "$10^{-40}$", "$10^{-30}$", "$10^{-20}$", "$10^{-10}$", "1"])
    ax_v.minorticks_off()
    ax_v.set_xlabel("x")
    ax_v.set_ylabel("sigmoid(x)")
    _ulp_axis(ax_e, top, "x", band=any(f.any() for f in fails.values()))
    ax_e.set_ylabel(f"ulp error (worst of {width} inputs)")
    for ax in (ax_v, ax_e):
        _overflow(ax, -110, -big, "exp(\u2212x) overflows")
        ax.set_xlim(-110, 25)
    tiny = float(np.finfo(np.float32).tiny)
    # sigmoid(x) = 1/(1 + e^-x) < tiny exactly where x < log(tiny / (1 - tiny)): -87.34 (not the
    # sample nearest it, -88.4, which a caption would give as the edge)
    # and it rounds to 0 where sigmoid(x) <= 2^-150, half the least subnormal: x <= log(2^-150)
    # (the log1p(-2^-150) beside it is far below float64's resolution there)
    sub_from, zero_from = _subnormal_marks((ax_v, ax_e), x, ref.rounded, tiny, "naive", (-75, top / 1e3),
                                           boundary=math.log(tiny) - math.log1p(-tiny),
                                           zero_boundary=HALF_TINIEST["float32"])
    naive_zero = (ys["naive"] == 0) & (ref.rounded != 0)
    with np.errstate(over="ignore"):  # exp(-x) overflowing is the edge sought
        naive_from = edge(lambda v: naive.sigmoid(v) == 0, x, ys["naive"] == 0, np.dtype(np.float32), rising=False)
    bottom_legend(fig, *ax_v.get_legend_handles_labels(), ncol=4, frameon=False, fontsize=16)
    fig.suptitle("sigmoid in float32: the three tiers against the exact value")
    w = {t: float(np.nanmax(np.where(fails[t], np.nan, e))) for t, e in errs.items()}
    cap = (f"sigmoid in float32 on {x.size} inputs in [-110, 25]: naive 1/(1+exp(-x)) returns 0 for "
           f"{int(naive_zero.sum())} of them, from x = {naive_from:.4f} down (exp(-x) overflows past "
           f"x = -{big:.2f}), where the exact value is as large as {float(ref.rounded[naive_zero].max()):.1e}; worst ulp error "
           f"naive {fmt_number(w['naive'])}, stable {fmt_number(w['stable'])}, accurate {fmt_number(w['accurate'])}. "
           f"Below x = {sub_from:.2f} the exact value is subnormal (one ulp is the fixed {2.0**-149:.1e}), so naive's 0 "
           f"costs fewer ulps as sigmoid(x) shrinks; from x = {zero_from:.2f} down the exact value rounds to 0 itself.")
    return Slide(sigmoid_tiers.slide_name, fig, cap)


def _subnormal_marks(axes, x, rounded, tiny: float, who: str, text_at: tuple[float, float],
                     boundary: float, zero_boundary: float) -> tuple[float, float]:
    """Mark where the exact result is subnormal (beyond a dash-dotted line:
    its ulp is fixed, so a wrong 0 counts fewer ulps as the value shrinks)
    and where it rounds to 0 (hatched), on every axes, labelled once for
    the legend; on the last axes (the ulp-error panel) a note at
    ``text_at`` points at the falling error of ``who``, the tier that
    returns 0 there. The subnormal line is drawn at ``boundary`` and the
    hatching from ``zero_boundary``, the exact edges (not the samples
    nearest them). Returns where each starts."""
    sub = (np.abs(rounded) < tiny) & (rounded != 0)
    zero = rounded == 0
    if not sub.any():
        return math.nan, math.nan
    right = float(x[sub].mean()) > float(x[~sub & ~zero].mean())  # do the tiny values lie right of the others?
    sub_from, zero_from = boundary, zero_boundary if zero.any() else math.nan
    lo, hi = float(x.min()), float(x.max())
    for k, ax in enumerate(axes):
        if zero.any():
            ax.axvspan(*((zero_from, hi * 1.5) if right else (lo - 10, zero_from)), facecolor="none",
                       edgecolor="#555555", hatch="//", lw=0, label=None if k else "exact value rounds to 0")
        ax.axvline(sub_from, color="#333333", lw=2, ls="-.",
                   label=None if k else f"{'right' if right else 'left'} of it: exact value subnormal")
    i = np.flatnonzero(sub & ~zero)
    xm = float(x[i[len(i) // 2]])  # halfway down the error's fall
    axes[-1].annotate(f"{who} returns 0 here;\nthe exact value is\nsubnormal (fixed ulp\n1.4e\u221245): the same 0\n"
                      "counts fewer ulps as\nit shrinks: not a recovery", (xm, 30), xytext=text_at, fontsize=14, va="center",
                      arrowprops={"arrowstyle": "->", "color": "#333333", "lw": 1.5})
    return sub_from, zero_from


@slide("05b-log-softmax-gap",
       reading=("Left: minus the log-probability of the winning class, tiny but not 0 (grey band: exact). The "
                "stable, max-shifted tier returns 0 for it once the gap is large, the naive one NaN (crosses) "
                "once exp(g) overflows. Right: ulp error per tier; only the accurate tier stays below 1 ulp. "
                "The stable tier's error comes down past the dash-dotted line only because the exact value is "
                "subnormal there and then rounds to 0 itself (hatched): not a recovery."))
def log_softmax_gap(data, budget) -> Slide:
    """log-softmax of rows (g, 0, 0, 0) in float32 as the gap g grows."""
    g = np.logspace(-1, math.log10(300), budget.points).astype(np.float32)
    rows = np.zeros((g.size, 4), np.float32)
    rows[:, 0] = g
    ref = reference("log_softmax", rows, fmt="float32")
    big = float(np.log(np.finfo(np.float32).max))
    ys = {t: m.log_softmax(rows) for t, m in TIER_MODULES.items()}
    errs, fails = {}, {}
    for t, y in ys.items():
        e, f = ref.ulp_error(y), ref.failures(y)
        errs[t] = np.max(np.where(f, 0, e), axis=1)
        fails[t] = f.any(axis=1)
    top = _ulp_top(errs.values())
    fig, (ax_v, ax_e) = subplots(1, 2)
    zero, nan_band = 1e-50, 1e4
    width = max(1, g.size // 50)
    exact_w = -ref.rounded[:, 0].astype(np.float64)
    ax_v.plot(g, np.where(exact_w > 0, exact_w, np.nan), color=COLORS["reference"], lw=9, alpha=0.45,
              label="exact (mpmath)", zorder=2)
    for k, (t, y) in enumerate(ys.items()):
        w = -y[:, 0].astype(np.float64)
        bad = ~np.isfinite(w)
        _tier_line(ax_v, g, np.where(bad, np.nan, np.where(w > 0, w, zero)), t, k)
        if bad.any():
            ax_v.scatter(g[bad], np.full(int(bad.sum()), nan_band), marker="x", s=70, lw=2, color=COLORS[t], zorder=4)
        _draw_errors(ax_e, *_envelope(g, errs[t], fails[t], width), top, t, k)
    ax_v.set_yscale("log")
    ax_v.set_ylim(zero / 10, nan_band * 10)
    ax_v.set_yticks([zero, 1e-40, 1e-30, 1e-20, 1e-10, 1, nan_band],
                    ["0", "$10^{-40}$", "$10^{-30}$", "$10^{-20}$", "$10^{-10}$", "1", "NaN"])
    ax_v.minorticks_off()
    ax_v.set_ylabel("\u2212log softmax(z)$_{winner}$")
    _ulp_axis(ax_e, top, "logit gap g")
    ax_e.set_ylabel(f"ulp error (worst of {width} rows)")
    for ax in (ax_v, ax_e):
        ax.set_xscale("log")
        ax.set_xlim(0.1, 300)
        ax.set_xticks([0.1, 1, 10, 100], ["0.1", "1", "10", "100"])
        _overflow(ax, big, 300, "exp(g) overflows")
    tiny = float(np.finfo(np.float32).tiny)
    # -log softmax(z)_winner = log1p(3 e^-g) < tiny exactly where g > log(3 / expm1(tiny)): 88.43
    sub_from, under_from = _subnormal_marks((ax_v, ax_e), g, ref.rounded[:, 0], tiny, "stable", (0.12, 3e5),
                                            boundary=math.log(3 / math.expm1(tiny)),
                                            zero_boundary=underflow_edge(3, "float32"))
    ax_v.set_xlabel("logit gap g, row z = (g, 0, 0, 0)")
    bottom_legend(fig, *ax_v.get_legend_handles_labels(), ncol=4, frameon=False, fontsize=16)
    fig.suptitle("log-softmax in float32 as the logit gap grows")

    def winner(tier, v):
        with np.errstate(all="ignore"):  # the naive exp(g) overflowing is the edge sought
            return TIER_MODULES[tier].log_softmax(np.array([[v, 0, 0, 0]], np.float32))[0, 0]

    f32 = np.dtype(np.float32)
    zero_from = edge(lambda v: winner("stable", v) == 0, g, (ys["stable"][:, 0] == 0) & (ref.rounded[:, 0] != 0), f32)
    nan_from = edge(lambda v: np.isnan(winner("naive", v)), g, np.isnan(ys["naive"][:, 0]), f32)
    w_acc = float(np.max(errs["accurate"]))
    i50 = int(np.argmin(np.abs(g - 50)))
    cap = (f"log_softmax of (g, 0, 0, 0) in float32, {g.size} gaps from 0.1 to 300: the stable (max-shifted) tier returns 0 "
           f"for the winner from g = {zero_from:.2f} (exact about -3e^-g: {float(ref.rounded[i50, 0]):.1e} at g = {float(g[i50]):.2f}), "
           f"naive log(exp(z)/sum(exp(z))) gives NaN from g = {nan_from:.2f}; accurate: worst {fmt_number(w_acc)} ulp. "
           f"From g = {sub_from:.2f} the exact value is subnormal (one ulp is the fixed {2.0**-149:.1e}), so the stable "
           f"tier's 0 costs fewer ulps as it shrinks; from g = {under_from:.2f} it rounds to 0 itself.")
    return Slide(log_softmax_gap.slide_name, fig, cap)


#: Keras's clip is the stable tier's too, but it needs its own colour beside the
#: stable tier's from-logits line: reddish purple, the Okabe-Ito colour left over
CLIP_COLOR = "#CC79A7"


def _ce_variants(z: np.ndarray, labels: np.ndarray) -> dict[str, tuple[np.ndarray, str, str, str]]:
    """The four ways a lecture computes the loss: name -> (values, tier, colour, line style)."""
    p = stable.softmax(z)  # the softmax output layer (Keras's softmax is max-shifted)
    return {
        "softmax layer, \u2212log p (naive)": (naive.sparse_categorical_crossentropy(labels, p), "naive",
                                                COLORS["naive"], "--"),
        "softmax layer, Keras's clip": (stable.sparse_categorical_crossentropy(labels, p), "stable", CLIP_COLOR, "--"),
        "from logits, stable (TF, PyTorch)": (stable.sparse_categorical_crossentropy(labels, z, from_logits=True),
                                              "stable", COLORS["stable"], "-"),
        "from logits, accurate (stabkit)": (accurate.sparse_categorical_crossentropy(labels, z, from_logits=True),
                                            "accurate", COLORS["accurate"], "-"),
    }


def correct_digits(y, ref) -> tuple[np.ndarray, np.ndarray]:
    """Correct significant decimal digits of ``y`` against the exact values
    of ``ref``: ``-log10`` of the relative error, from 0 (100% wrong or worse)
    up to the format's limit, which a correctly rounded result (``y`` equal
    to ``ref.rounded``, 0 included where the exact value underflows) reaches;
    and the failures (NaN/inf where the exact value is finite)."""
    y64 = np.asarray(y).astype(np.float64)
    full = -math.log10(float(np.finfo(ref.fmt.dtype).eps) / 2)
    with np.errstate(all="ignore"):
        rel = np.abs((y64 - ref.hi) - ref.lo) / np.abs(ref.hi)
        d = np.clip(-np.log10(rel), 0.0, full)
    d = np.where(y64 == ref.rounded.astype(np.float64), full, d)
    fail = ref.failures(y)
    return np.where(fail, np.nan, d), fail


@slide("06-crossentropy-logits",
       reading=("Correct decimal digits of the cross-entropy against the logit gap (top line: every digit right; "
                "bottom band: NaN/inf). Right label: every way but stabkit's accurate tier loses all digits: "
                "through a softmax layer once p rounds to 1 (the loss near machine epsilon), from logits in the "
                "stable tier once the loss falls below half an ulp of g (g + loss rounds back to g); Keras's clip "
                "holds it at about 1e-7 instead. Hatched: the exact loss underflows to 0, nothing left to "
                "measure. Wrong label: through a softmax layer -log p becomes inf (vermillion) or is capped by "
                "Keras's clip (purple); from_logits=True keeps every digit."))
def crossentropy_logits(data, budget) -> Slide:
    """Cross-entropy from probabilities vs from logits, against the logit gap."""
    g64 = np.logspace(-1, 3, budget.points)
    fig, axes = subplots(2, 2, sharex=True)
    found = {}
    for i, fmt in enumerate(("float32", "float64")):
        dt = np.dtype(fmt)
        z = np.zeros((g64.size, 4), dt)
        z[:, 0] = g64.astype(dt)
        gx = z[:, 0].astype(np.float64)
        full = -math.log10(float(np.finfo(dt).eps) / 2)
        for j, (label, what) in enumerate(((0, "right label (the winner)"), (1, "wrong label (a loser)"))):
            labels = np.full(g64.size, label)
            ref = reference("sparse_categorical_crossentropy", labels, z, fmt=fmt, from_logits=True)
            ax = axes[i, j]
            # where the exact loss underflows to 0, any 0 is "correct": nothing left to measure
            gone = ref.rounded == 0
            for k, (name, (v, tier, c, ls)) in enumerate(_ce_variants(z, labels).items()):
                d, fail = correct_digits(v, ref)
                # through the softmax layer: dashed, hollow markers; from logits: solid, filled
                _tier_line(ax, gx, np.where(gone, np.nan, d), tier, k, name, ls, n=4, hollow=ls == "--", color=c)
                if fail.any():
                    ax.scatter(gx[fail], np.full(int(fail.sum()), -0.15 * full), marker="x", s=60, lw=2, color=c, zorder=4)
                found[(fmt, label, name)] = (gx, v.astype(np.float64), ref.rounded.astype(np.float64), d, fail,
                                             ref.ulp_error(v))
            if gone.any():
                ax.axvspan(underflow_edge(3, fmt) if label == 0 else float(gx[gone].min()), 1500, facecolor="none", edgecolor="#555555", hatch="//", lw=0,
                           label="exact loss underflows to 0")
            ax.set_xscale("log")
            ax.set_xticks([0.1, 1, 10, 100, 1000], ["0.1", "1", "10", "100", "1000"])
            ax.set_xlim(0.08, 1250)
            band = -0.15 * full
            ax.set_ylim(1.6 * band, full * 1.08)
            mid = [4] if fmt == "float32" else [5, 10]
            ax.set_yticks([band, 0, *mid, full], ["NaN/inf", "0", *map(str, mid), f"{full:.1f}"])
            ax.axhline(full, color="#333333", lw=1, ls="--", zorder=1)
            ax.axhline(band, color="#333333", lw=0.8, ls=":", zorder=1)
            ax.set_title(f"{fmt}, {what}", fontsize=18)
        axes[i, 0].set_ylabel("correct digits")
    for ax in axes[1]:
        ax.set_xlabel("logit gap g, logits (g, 0, 0, 0)")
    bottom_legend(fig, *axes[0, 0].get_legend_handles_labels(), ncol=3, frameon=False, fontsize=16)
    fig.suptitle("the loss from probabilities vs from_logits=True")

    naive_p, clip_p, stab, acc = list(_ce_variants(np.zeros((1, 4)), np.zeros(1, int)))

    def loss_at(fmt, label, name, g):
        """The loss of one row (g, 0, 0, 0) as ``name`` computes it."""
        z = np.zeros((1, 4), fmt)
        z[0, 0] = g
        with np.errstate(all="ignore"):  # the naive -log p's log(0) is what the edge looks for
            return _ce_variants(z, np.full(1, label))[name][0]

    def first(fmt, label, name, event):
        """The exact gap (edges.edge) from which ``event`` (of the loss values) holds, bracketed by the
        grid's samples where it did (the exact loss is still far from 0 at every edge sought)."""
        gx, v = found[(fmt, label, name)][:2]
        return edge(lambda g: bool(event(loss_at(fmt, label, name, g))[0]), gx, event(v), np.dtype(fmt))

    inf32, inf64 = (first(fmt, 1, naive_p, lambda y: ~np.isfinite(y)) for fmt in ("float32", "float64"))
    clip = float(found[("float32", 1, clip_p)][1].max())
    clip_from = first("float32", 1, clip_p, lambda y: y == clip)
    zero = {(fmt, name): first(fmt, 0, name, lambda y: y == 0) for fmt in ("float32", "float64") for name in (stab, naive_p)}
    floor = {fmt: float(found[(fmt, 0, clip_p)][1][-1]) for fmt in ("float32", "float64")}
    under = {fmt: underflow_edge(3, fmt) for fmt in ("float32", "float64")}
    tiny = {fmt: float(np.finfo(fmt).tiny) for fmt in ("float32", "float64")}
    low = {fmt: min(float(np.nanmin(np.where(np.abs(found[(fmt, lab, acc)][2]) >= tiny[fmt], found[(fmt, lab, acc)][3], np.inf)))
                    for lab in (0, 1)) for fmt in tiny}
    w_ulp = max(float(np.max(found[(fmt, lab, acc)][5])) for fmt in tiny for lab in (0, 1))
    cap = (f"Sparse cross-entropy of logits (g, 0, 0, 0), {g64.size} gaps from 0.1 to 1000, in correct digits against mpmath: "
           f"through a softmax layer the wrong label's -log p becomes inf from g = {inf32:.2f} in float32 ({inf64:.2f} in "
           f"float64: p underflows to 0) and Keras's clip caps it at {clip:.2f} from g = {clip_from:.2f}. The right label's "
           f"loss is 0 (no correct digit) from g = {zero['float32', stab]:.2f} (float32) / {zero['float64', stab]:.2f} "
           f"(float64) from logits in the stable tier (g + loss rounds back to g) and from g = "
           f"{zero['float32', naive_p]:.2f} / {zero['float64', naive_p]:.2f} through a softmax layer (p rounds to 1), "
           f"where Keras's clip holds it at {floor['float32']:.2g} / {floor['float64']:.2g} whatever the loss; the accurate "
           f"tier stays within {w_ulp:.2g} ulp everywhere, at least {low['float32']:.1f} / "
           f"{low['float64']:.1f} correct digits wherever the loss is a normal (not subnormal) float. The right label's "
           f"exact loss (log1p(3e^-g)) underflows to 0 from g = {under['float32']:.2f} (float32) / "
           f"{under['float64']:.2f} (float64): the curves stop there (a 0 is then correctly rounded, not a recovery).")
    return Slide(crossentropy_logits.slide_name, fig, cap)
