"""Every slide fits inside itself at both ends of the font scales
``--font-scale`` accepts and at both aspects: no two texts (suptitle,
titles, axis labels, tick labels, notes and bar labels, legends) overlap,
none is cut off at the figure's edge, and matplotlib never warns that
constrained layout was not applied. Before the fitting of
:mod:`stabkit.slides.fit`, ``--font-scale 2`` overlapped titles, ticks and
notes on every slide and collapsed the layout of six of them, and 4:3 ran
notes into the neighbouring panel.

The boxes are measured here, independently of the fitting's own
:mod:`stabkit.slides.boxes`, on the figure drawn as ``render`` draws it
(inside the report style, whose tick label size sets how many automatic
ticks there are)."""

from __future__ import annotations

import warnings

import matplotlib
import pytest
from test_slides import _draw, _mnist_dir

from stabkit.report.style import STYLE
from stabkit.slides import Look, build
from stabkit.slides.base import load_data
from stabkit.slides.boxes import numeric, wrapped
from stabkit.slides.look import ASPECTS, FONT_SCALES

LOOKS = [(s, a) for a in ASPECTS for s in (FONT_SCALES[0], 1.0, FONT_SCALES[1])]
TOL = 1.0  # pixels at 150 dpi: boxes that only touch do not count
DIGITS = [m.slide_name.split("-")[0] for m in build.select(None) if m.needs != "mnist"]
MNIST = [m.slide_name.split("-")[0] for m in build.select(None) if m.needs == "mnist"]


@pytest.fixture(scope="module")
def digits():
    return load_data(None, quick=True, digits=True)


@pytest.fixture(scope="module")
def mnist():
    return load_data(_mnist_dir(), quick=True)


def _boxes(fig) -> list[tuple[str, object]]:
    """(what, window extent) of every text drawn on ``fig`` (a legend as a
    whole), drawn as :func:`stabkit.report.style.render` draws it: inside
    the report style, where a collapsed layout is an error."""
    with matplotlib.rc_context(STYLE), warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*constrained_layout not applied")
        fig.canvas.draw()
        r = fig.canvas.get_renderer()
        out = []

        def add(what, t):
            if t.get_visible() and t.get_text().strip():
                out.append((f"{what} {t.get_text()!r}", t.get_window_extent(r)))

        for t in fig.texts:  # the suptitle among them
            add("figure text", t)
        out += [("figure legend", leg.get_window_extent(r)) for leg in fig.legends]
        for i, ax in enumerate(fig.axes):
            add(f"axes {i} title", ax.title)
            for t in ax.texts:
                add(f"axes {i} note", t)
            if ax.get_legend() is not None:
                out.append((f"axes {i} legend", ax.get_legend().get_window_extent(r)))
            if not ax.axison:
                continue
            for name, axis in (("x", ax.xaxis), ("y", ax.yaxis)):
                add(f"axes {i} {name} label", axis.label)
                lo, hi = sorted(axis.get_view_interval())
                for tick in axis.get_major_ticks():
                    if lo <= tick.get_loc() <= hi:
                        add(f"axes {i} {name} tick", tick.label1)
    return out


def _collisions(fig) -> list[str]:
    boxes, f = _boxes(fig), fig.bbox
    bad = [f"{what} leaves the figure" for what, b in boxes
           if b.x0 < f.x0 - TOL or b.y0 < f.y0 - TOL or b.x1 > f.x1 + TOL or b.y1 > f.y1 + TOL]
    for i, (wa, a) in enumerate(boxes):
        for wb, b in boxes[i + 1:]:
            w, h = min(a.x1, b.x1) - max(a.x0, b.x0), min(a.y1, b.y1) - max(a.y0, b.y0)
            if w > TOL and h > TOL:
                bad.append(f"{wa} overlaps {wb} ({w:.0f} x {h:.0f} px)")
    return bad


@pytest.mark.slow
@pytest.mark.parametrize("scale, aspect", LOOKS)
@pytest.mark.parametrize("number", DIGITS)
def test_every_slide_fits_at_every_scale_and_aspect(digits, number, scale, aspect):
    s = _draw(number, digits, Look(font_scale=scale, aspect=aspect))
    assert _collisions(s.fig) == [], s.name


@pytest.mark.slow
@pytest.mark.parametrize("scale, aspect", LOOKS)
@pytest.mark.parametrize("number", MNIST)
def test_every_mnist_slide_fits_at_every_scale_and_aspect(mnist, number, scale, aspect):
    """The quick run's title stamp ran into the code slide's program titles
    even at 16:9 and scale 1; its one legend entry ran off both edges."""
    s = _draw(number, mnist, Look(font_scale=scale, aspect=aspect))
    assert _collisions(s.fig) == [], s.name


@pytest.mark.parametrize("number", ["04", "05a", "08", "11"])
def test_the_largest_type_on_the_narrow_slide_fits(digits, number):
    """The hardest look, not marked slow: the four slides that collapsed
    (04, 05a, 08) or overlapped their own titles (11) at font scale 2 on 4:3."""
    s = _draw(number, digits, Look(font_scale=FONT_SCALES[1], aspect="4:3"))
    assert _collisions(s.fig) == [], s.name


def test_larger_type_stays_larger(digits):
    """Fitting gives way where texts collide, not everywhere: at scale 2 the
    loss curve's tick labels and axis labels keep twice their size."""
    base, big = _draw("03", digits), _draw("03", digits, Look(font_scale=2.0))
    for a, b in zip(base.fig.axes, big.fig.axes):
        assert b.yaxis.label.get_fontsize() == pytest.approx(2 * a.yaxis.label.get_fontsize())
        assert b.yaxis.get_ticklabels()[0].get_fontsize() == pytest.approx(2 * a.yaxis.get_ticklabels()[0].get_fontsize())


@pytest.mark.parametrize("number", ["02", "08", "11"])
def test_a_slide_with_nothing_colliding_is_left_as_drawn(digits, number, monkeypatch):
    """At 16:9 and scale 1 these slides collide nowhere: the fitting leaves
    them exactly as drawn (the same PNG as with no fitting at all)."""
    from stabkit.report.style import render
    from stabkit.slides import look

    fitted = render(_draw(number, digits).fig, "png")
    monkeypatch.setattr(look, "fit", lambda fig: None)
    assert render(_draw(number, digits).fig, "png") == fitted


def test_corner_tick_labels_are_moved_apart(digits):
    """The loss curve's '0' (y) and '0.0' (x) met at the axes' corner: the x
    labels move down, by the few pixels they overlapped."""
    s = _draw("03", digits)
    ax = s.fig.axes[0]
    assert ax.xaxis.get_major_ticks()[0].get_pad() > ax.yaxis.get_major_ticks()[0].get_pad()
    assert _collisions(s.fig) == []


def test_wrapping_keeps_math_whole_and_lines_even():
    from stabkit.report.style import subplots

    fig, _ = subplots(figsize=(12.8, 7.2))
    t = fig.text(0, 0, "", fontsize=20)
    r = fig.canvas.get_renderer()
    text = "the same logits $z = (2, -1, 1.5)$: sigmoids vs softmax, one more time"
    two = wrapped(r, t, text, 600, 2)
    assert two.count("\n") == 1 and "$z = (2, -1, 1.5)$" in two.replace("\n", " ")
    a, b = (r.get_text_width_height_descent(s, t.get_fontproperties(), ismath=True)[0] for s in two.split("\n"))
    assert abs(a - b) < 0.3 * max(a, b)  # even lines, not a full one and a stub
    assert wrapped(r, t, text, 10_000, 2) == text  # fits: unchanged
    assert wrapped(r, t, text + "\n[a stamp]", 600, 2).count("\n") == 2  # its own break kept, a line more
    assert wrapped(r, t, "y = 6", 5, 2) == "y = 6"  # too short to break: it shrinks instead


@pytest.mark.parametrize("label, number", [("0.5", True), ("\u2212100", True), ("$\\mathdefault{10^{-16}}$", True),
                                           ("$10^{-2}$", True), ("16.0", True), ("NaN/inf", False),
                                           ("pedestrian", False), ("$a_1$", False)])
def test_only_numeric_tick_labels_may_be_left_out(label, number):
    assert numeric(label) is number


@pytest.mark.parametrize("number", ["05a", "05b", "06", "08"])
def test_larger_type_leaves_the_panels_most_of_half_their_room(digits, number):
    """At font scale 2 on 4:3 the legends, titles and ticks squeezed these
    panels to a third of their grid cell (05b, 06: 0.34 of its height, 08:
    0.40): every plotted panel keeps at least 45% of its cell's width and
    height (fit.ROOM; scale 1.5 on 16:9 leaves 02 its 0.49 as drawn)."""
    s = _draw(number, digits, Look(font_scale=FONT_SCALES[1], aspect="4:3"))
    with matplotlib.rc_context(STYLE):
        s.fig.canvas.draw()
    for ax in s.fig.axes:
        spec = ax.get_subplotspec()
        if spec is None or not ax.axison or ax.get_aspect() != "auto":
            continue
        rows, cols = spec.get_gridspec().get_geometry()
        box = ax.get_position()  # in figure fractions
        share_w = box.width / (len(spec.colspan) / cols)
        share_h = box.height / (len(spec.rowspan) / rows)
        assert min(share_w, share_h) >= 0.45, (s.name, ax.get_title(), round(share_w, 2), round(share_h, 2))
