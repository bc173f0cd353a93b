"""The lecture's numerical figures: softmax, the loss curves, round-off, the
learning rate, multi-label outputs (the tiers' figures are in
:mod:`stabkit.slides.tiers`).

Each function takes ``(data, budget)`` and returns a :class:`~stabkit.slides.Slide`
whose caption numbers are computed here, in the same run.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from stabkit import accurate
from stabkit.report.style import COLORS, subplots
from .base import FORMAT_COLORS, NEUTRAL, Slide, panel_legend, slide

__all__ = ["gradient_descent", "loss_curves", "multilabel", "roundoff", "softmax_example"]


# ------------------------------------------------------------ softmax, logistic


@slide("02-softmax-example",
       reading=("Left: four logits. Middle: softmax turns them into four probabilities that sum to 1, the largest"
                " logit getting the largest probability. Right: with two classes softmax is logistic regression, "
                "a1 = g(z) and a2 = 1 - a1."))
def softmax_example(data, budget) -> Slide:
    """z -> a for the lecture's 4-class example, and the 2-class case."""
    z = np.array([0.80, 0.39, 0.10, 0.95])  # ln(a) + 2 for a = 0.30, 0.20, 0.15, 0.35, to two decimals
    a = accurate.softmax(z)
    z2 = 0.9
    a1 = float(accurate.sigmoid(np.array(z2)))
    two = accurate.softmax(np.array([z2, 0.0]))
    fig, axes = subplots(1, 3, gridspec_kw={"width_ratios": [4, 4, 2.6]})
    cls = [f"{j}" for j in range(1, 5)]
    for ax, vals, title, color in ((axes[0], z, "logits $z_j$", NEUTRAL[3]), (axes[1], a, "$a_j$ = softmax$(z)_j$", NEUTRAL[1])):
        bars = ax.bar(cls, vals, color=color, width=0.65)
        ax.bar_label(bars, [f"{v:.2f}" for v in vals], padding=4)
        ax.set_title(title)
        ax.set_xlabel("class $j$")
        ax.set_ylim(0, max(vals) * 1.22)
    axes[1].text(0.5, 0.93, f"sum = {a.sum():.2f}", transform=axes[1].transAxes, ha="center")
    bars = axes[2].bar(["$a_1$", "$a_2$"], [a1, 1 - a1], color=[NEUTRAL[1], "#999999"], width=0.6)
    axes[2].bar_label(bars, [f"{a1:.2f}", f"{1 - a1:.2f}"], padding=4)
    axes[2].set_ylim(0, 1.0)
    axes[2].set_title(f"2 classes, $z$ = {z2}")
    axes[2].set_xlabel("$a_1 = g(z)$, $a_2 = 1 - a_1$", fontsize=16)
    fig.suptitle("softmax: logits to probabilities; logistic regression is 2 classes")
    cap = (f"Softmax of z = ({', '.join(f'{v:.2f}' for v in z)}) gives a = ({', '.join(f'{v:.2f}' for v in a)}), "
           f"sum {a.sum():.2f}; logistic regression at z = {z2}: a1 = sigmoid(z) = {a1:.2f}, a2 = {1 - a1:.2f}, "
           f"the same as softmax([{z2}, 0]) = ({two[0]:.2f}, {two[1]:.2f}).")
    return Slide(softmax_example.slide_name, fig, cap)


@slide("03-loss-curves",
       reading=("The cross-entropy is small when the predicted probability agrees with the label and grows "
                "without bound as it nears the wrong end: a confident wrong answer costs the most."))
def loss_curves(data, budget) -> Slide:
    """-log(a) for y = 1 and -log(1 - a) for y = 0."""
    a = np.linspace(0.0025, 0.9975, 800)
    fig, ax = subplots()
    ax.plot(a, -np.log(a), color=NEUTRAL[0], lw=3.5, label="$y = 1$: $-\\log(a)$")
    ax.plot(a, -np.log1p(-a), color=NEUTRAL[2], lw=3.5, ls="--", label="$y = 0$: $-\\log(1 - a)$")
    a1 = float(accurate.sigmoid(np.array(0.9)))
    l1, l0 = -math.log(a1), -math.log1p(-a1)
    for y, val, c, dx in ((l1, l1, NEUTRAL[0], -0.06), (l0, l0, NEUTRAL[2], 0.04)):
        ax.plot([a1], [y], "o", ms=12, color=c, zorder=5)
        ax.annotate(f"{val:.2f}", (a1, y), xytext=(a1 + dx, y + 0.45), ha="center",
                    arrowprops={"arrowstyle": "-", "color": c})
    ax.axvline(a1, color="#999999", lw=1, ls=":")
    ax.set_ylim(0, 6)
    ax.set_xlim(0, 1)
    ax.set_xlabel("$a$ = predicted probability that $y = 1$")
    ax.set_ylabel("loss")
    panel_legend(ax, loc="upper center", frameon=False)
    ax.set_title(f"cross-entropy: small when $a$ agrees with $y$ (marked: $a$ = {a1:.2f})")
    cap = (f"Binary cross-entropy -log(a) (y = 1) and -log(1 - a) (y = 0); at a = {a1:.2f} (z = 0.9) the loss is "
           f"{l1:.2f} if y = 1 and {l0:.2f} if y = 0; both grow without bound as a reaches the wrong end.")
    return Slide(loss_curves.slide_name, fig, cap)


# ------------------------------------------------------------ round-off


@slide("04-roundoff",
       reading=("Left: the same number computed two ways prints differently in its last digits. Right: the "
                "relative error of (1 + t) - (1 - t) (dots: measured; lines: eps/t) grows as t shrinks, until the"
                " result is 0 and the error total: subtracting nearly equal numbers loses digits."))
def roundoff(data, budget) -> Slide:
    """2/10000 two ways, and the relative error of (1 + t) - (1 - t) against t."""
    x1 = 2 / 10000
    x2 = (1 + 1 / 10000) - (1 - 1 / 10000)
    r2 = abs(x2 - x1) / x1  # 2/10000 is the correctly rounded 2t for t = 1/10000
    fig, (ax_t, ax) = subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.25]})
    ax_t.axis("off")
    lines = [("x1 = 2/10000", f"{x1:.18f}"), ("x2 = (1 + 1/10000) - (1 - 1/10000)", f"{x2:.18f}")]
    y = 0.86
    for code, shown in lines:
        ax_t.text(0.0, y, code, family="monospace", fontsize=17, transform=ax_t.transAxes)
        ax_t.text(0.06, y - 0.09, "\u2192 " + shown, family="monospace", fontsize=20, transform=ax_t.transAxes,
                  color=COLORS["naive"] if "1 +" in code else COLORS["accurate"])
        y -= 0.3
    eps64 = float(np.finfo(np.float64).eps)
    ax_t.text(0.0, 0.2, f"Python floats (float64), printed to 18 digits\nrelative error of x2: {r2:.1e}"
              f"\n= {r2 / eps64:.0f} \u00d7 \u03b5 (\u03b5 = {eps64:.1e})", transform=ax_t.transAxes, fontsize=17, va="top")
    t64 = np.logspace(-17, -0.5, 6 * budget.points)
    worst = {}
    for fmt, ls in (("float64", "-"), ("float32", "--")):
        dt = np.dtype(fmt)
        t = t64.astype(dt)
        one = dt.type(1)
        c = (one + t) - (one - t)
        exact = 2 * t.astype(np.float64)  # doubling is exact
        rel = np.abs(c.astype(np.float64) - exact) / exact
        eps = float(np.finfo(dt).eps)
        ax.scatter(t, np.clip(rel, 1e-19, None), s=9, color=FORMAT_COLORS[fmt], alpha=0.45, lw=0, rasterized=True)
        ax.plot(t64, np.minimum(eps / t64, 1.0), color=FORMAT_COLORS[fmt], lw=2.5, ls=ls, label=f"{fmt}: \u03b5/t")
        ax.axhline(eps, color=FORMAT_COLORS[fmt], lw=1.2, ls=":")
        ax.text(2e-17, eps * 1.6, f"{fmt} \u03b5", color=FORMAT_COLORS[fmt], fontsize=16)
        worst[fmt] = (float(t[rel >= 1].max()) if (rel >= 1).any() else math.nan, eps)
    ax.plot([1e-4], [r2], "o", ms=13, mfc="none", mec=COLORS["naive"], mew=2.5, zorder=5)
    ax.annotate("x2", (1e-4, r2), xytext=(1e-3, r2 * 300), color=COLORS["naive"],
                arrowprops={"arrowstyle": "-", "color": COLORS["naive"]})
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_ylim(3e-20, 30)  # results with no error sit on the bottom edge
    ax.set_xlim(1e-17, 1)
    ax.set_xticks([1e-16, 1e-12, 1e-8, 1e-4, 1])
    ax.set_yticks([1e-18, 1e-14, 1e-10, 1e-6, 1e-2, 1], ["$10^{-18}$", "$10^{-14}$", "$10^{-10}$", "$10^{-6}$", "$10^{-2}$", "1"])
    ax.minorticks_off()
    ax.set_xlabel("t")
    ax.set_ylabel("relative error of (1 + t) \u2212 (1 \u2212 t)")
    panel_legend(ax, loc="lower left", frameon=False, fontsize=16)
    fig.suptitle("round-off: subtracting nearly equal numbers loses digits")
    cap = (f"2/10000 prints as {x1:.18f}, (1 + 1/10000) - (1 - 1/10000) as {x2:.18f} (relative error {r2:.1e}, "
           f"{r2 / eps64:.0f} eps); the cancelling form's error grows as eps/t and is total (the result is 0) "
           f"from t = {worst['float32'][0]:.1e} in float32 and {worst['float64'][0]:.1e} in float64.")
    return Slide(roundoff.slide_name, fig, cap)


# ------------------------------------------------------------ learning rate


@slide("08-gradient-descent",
       reading=("Each panel is gradient descent on one parabola with one learning rate: too small creeps towards "
                "the minimum (dotted line), a good one gets there, too large overshoots back and forth, and "
                "larger still every step lands farther away."))
def gradient_descent(data, budget) -> Slide:
    """Gradient descent on J(w) = (w - 3)^2 / 2 + 1 with four learning rates."""
    J = lambda w: 0.5 * (w - 3.0) ** 2 + 1.0
    dJ = lambda w: w - 3.0
    w0, steps = 0.5, 8
    rates = ((0.1, "too small, slow"), (0.7, "good"), (1.8, "too large, overshoots"), (2.1, "too large, diverges"))
    fig, axes = subplots(2, 2, sharex=True, sharey=True)
    ws_all = {}
    grid = np.linspace(-3.5, 9.5, 400)
    for ax, (alpha, what), c in zip(axes.ravel(), rates, (NEUTRAL[3], NEUTRAL[1], NEUTRAL[2], NEUTRAL[0])):
        ws = [w0]
        for _ in range(steps):
            ws.append(ws[-1] - alpha * dJ(ws[-1]))
        ws = np.array(ws)
        ws_all[alpha] = ws
        ax.plot(grid, J(grid), color="#777777", lw=3)
        ax.plot(ws, J(ws), "o", color=c, ms=10, zorder=4)
        for a, b in itertools.pairwise(ws):
            if max(abs(a), abs(b)) < 12:
                ax.annotate("", (b, J(b)), (a, J(a)), arrowprops={"arrowstyle": "->", "color": c, "lw": 2})
        ax.set_title(f"\u03b1 = {alpha}: {what}", fontsize=20)
        ax.text(0.5, 0.93, f"after {steps} steps: w = {ws[-1]:.2f}", transform=ax.transAxes, ha="center", va="top",
                color=c, fontsize=18)
        ax.axvline(3.0, color="#999999", lw=1, ls=":")
        ax.set_xlim(-3.5, 9.5)
        ax.set_ylim(0, 25)
    for ax in axes[1]:
        ax.set_xlabel("w")
    for ax in axes[:, 0]:
        ax.set_ylabel("J(w)")
    fig.suptitle(f"w \u2190 w \u2212 \u03b1 dJ/dw on J(w) = (w \u2212 3)\u00b2/2 + 1, from w = {w0}")
    cap = (f"Gradient descent on J(w) = (w - 3)^2/2 + 1 from w = {w0}, {steps} steps: w ends at "
           + ", ".join(f"{ws_all[a][-1]:.2f} (alpha = {a})" for a, _ in rates)
           + f"; the minimum is w = 3; alpha = 2.1 overshoots further every step (|w - 3| x {abs(1 - 2.1):.1f} per step).")
    return Slide(gradient_descent.slide_name, fig, cap)


# ------------------------------------------------------------ multi-label


@slide("11-multilabel",
       reading=("The same three logits through three independent sigmoids (each can pass 0.5: several labels at "
                "once) and through one softmax (the probabilities compete and sum to 1: one class)."))
def multilabel(data, budget) -> Slide:
    """Three sigmoid outputs vs one softmax on car / bus / pedestrian."""
    names = ["car", "bus", "pedestrian"]
    z = np.array([2.0, -1.0, 1.5])
    sig, soft = accurate.sigmoid(z), accurate.softmax(z)
    fig, axes = subplots(1, 2, sharey=True)
    for ax, vals, title, c in ((axes[0], sig, "multi-label: 3 sigmoids", NEUTRAL[3]),
                               (axes[1], soft, "multiclass: 1 softmax", NEUTRAL[2])):
        bars = ax.bar(names, vals, color=c, width=0.6)
        ax.bar_label(bars, [f"{v:.2f}" for v in vals], padding=4)
        ax.set_title(f"{title} (sum {vals.sum():.2f})")
        ax.set_ylim(0, 1.12)
    axes[0].axhline(0.5, color="#333333", ls="--", lw=1.2)
    axes[0].text(-0.45, 0.52, "0.5", ha="left", va="bottom", fontsize=16)
    axes[0].set_ylabel("output")
    fig.suptitle(f"the same logits z = ({', '.join(f'{v:g}' for v in z)}): sigmoids vs softmax")
    yes = [n for n, v in zip(names, sig) if v > 0.5]
    cap = (f"Logits ({', '.join(f'{v:g}' for v in z)}) for car, bus, pedestrian: three sigmoids give "
           f"({', '.join(f'{v:.2f}' for v in sig)}), sum {sig.sum():.2f}, so the image holds {' and '.join(yes)}; "
           f"one softmax gives ({', '.join(f'{v:.2f}' for v in soft)}), sum {soft.sum():.2f}, one class only.")
    return Slide(multilabel.slide_name, fig, cap)
