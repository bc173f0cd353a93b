"""Figures: produced, slide-sized, large type, clean ticks, one colour per
implementation, and the row-wise figure showing the stable tier's breakdown."""

from pathlib import Path

import numpy as np
import pytest
from matplotlib.colors import to_hex
from PIL import Image

from stabkit import registry
from stabkit.report import plots
from stabkit.analysis import analyze
from stabkit.analysis.thirdparty import tier_impl

TIERS = [tier_impl(t) for t in registry.TIERS]
FIGURES = {"error": plots.error_figure, "values": plots.values_figure, "cdf": plots.cdf_figure}


@pytest.fixture(scope="module")
def analyses():
    return [analyze("softplus", f, TIERS, 300, 0, exhaustive=False) for f in ("float32", "float64")]


@pytest.fixture(scope="module")
def rows():
    return [analyze("log_softmax", f, TIERS, 150, 0) for f in ("float32", "float64")]


def _texts(fig):
    return [t for t in fig.findobj(lambda o: hasattr(o, "get_fontsize") and hasattr(o, "get_text")) if t.get_text().strip()]


def _overlapping_ticks(fig):
    """Pairs of tick labels (x and y of one axes together) whose boxes overlap."""
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    bad = []
    for ax in fig.axes:
        labels = [t for t in ax.get_xticklabels() + ax.get_yticklabels() if t.get_visible() and t.get_text()]
        boxes = [t.get_window_extent(r) for t in labels]
        bad += [(labels[i].get_text(), labels[j].get_text()) for i in range(len(boxes))
                for j in range(i + 1, len(boxes)) if boxes[i].overlaps(boxes[j])]
    return bad


def _check_slide(fig, path):
    assert min(t.get_fontsize() for t in _texts(fig)) >= 18
    lines = {l.get_label(): to_hex(l.get_color()) for ax in fig.axes for l in ax.get_lines() if l.get_label() in plots.COLORS}
    assert lines and all(c == plots.COLORS[k].lower() for k, c in lines.items())
    assert not _overlapping_ticks(fig)
    (png,) = plots.save(fig, str(path))
    im = Image.open(png)
    assert im.size == (1920, 1080) and im.info["dpi"][0] >= 149.9
    assert len(set(np.asarray(im.convert("L")).ravel().tolist())) > 10  # not blank
    assert not list(path.parent.glob(".tmp-*"))
    return png


@pytest.mark.parametrize("kind", ["error", "values", "cdf"])
def test_figures_are_slides(analyses, kind, tmp_path):
    _check_slide(FIGURES[kind](analyses), tmp_path / kind)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["error", "values", "cdf"])
def test_rowwise_figures_are_slides(rows, kind, tmp_path):
    _check_slide(FIGURES[kind](rows), tmp_path / kind)


@pytest.mark.slow
def test_figures_are_deterministic(rows, tmp_path):
    a = plots.save(plots.error_figure(rows), str(tmp_path / "a"))[0]
    b = plots.save(plots.error_figure(rows), str(tmp_path / "b"))[0]
    assert Path(a).read_bytes() == Path(b).read_bytes()


def test_values_ticks_do_not_crowd_zero(analyses):
    """The values axis is spaced by ordinal: a handful of labels, none overlapping near 0."""
    fig = plots.values_figure(analyses)
    for ax in fig.axes:
        labels = [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
        assert "NaN/inf" in labels and "0" in labels and 3 <= len(labels) <= 8


@pytest.mark.slow
def test_rowwise_errors_per_row(rows):
    """One value per row (the worst element), failures marked, the gap kept."""
    a = rows[0]
    gap, worst, fail = plots.rowwise_errors(a, "stable")
    n_rows = sum(g.args[0].shape[0] for g in a.sample.groups)
    assert gap.size == worst.size == fail.size == n_rows
    p = a.points["stable"]
    assert worst.max() == p.ulp[~p.undefined].max()
    g2, _, f2 = plots.rowwise_errors(a, "naive")
    assert f2.any() and np.array_equal(gap, g2) and (gap == 0).any()


@pytest.mark.slow
def test_rowwise_figure_shows_the_stable_breakdown(rows):
    """The stable tier returns 0 for the winner's log-probability past a gap
    of about 17 (float32) / 36 (float64): the plotted step reaches > 1e6 ulp
    (float32) and > 1e14 (float64) there, while the accurate tier stays < 1 ulp;
    ties (gap 0) are drawn in their own band left of the log axis."""
    fig = plots.error_figure(rows)
    for ax, big, past in zip(fig.axes, (1e6, 1e14), ((20, 100), (40, 700))):
        lines = {l.get_label(): l for l in ax.get_lines()}
        assert ax.get_xscale() == "log"
        x, y = (np.asarray(v) for v in lines["stable"].get_data())
        assert y[(x > past[0]) & (x < past[1])].max() > big and y[x < 1].max() < 10
        x, y = (np.asarray(v) for v in lines["accurate"].get_data())
        assert y.max() < 1
        labels = [t.get_text() for t in ax.get_xticklabels()]
        assert labels[0] == "0" and "1" in labels
    assert "worst ulp error of each row" in fig._suptitle.get_text()


def test_heatmap_and_vector_formats(tmp_path):
    worst = np.array([[2e3, 0.5], [np.nan, 1e16]])
    fig = plots.heatmap_figure(["softplus", "binary_crossentropy:probs"], ["naive", "accurate"], worst, np.array([[3, 0], [0, 0]]))
    texts = [t.get_text() for t in _texts(fig)]
    assert "2e3\n\u27173" in texts and "n/a" in texts and "binary CE (probs)" in texts
    paths = plots.save(fig, str(tmp_path / "h"), ("png", "svg", "pdf"))
    assert [p[-3:] for p in paths] == ["png", "svg", "pdf"]
    assert all((tmp_path / f"h.{e}").stat().st_size > 1000 for e in ("png", "svg", "pdf"))


def test_heatmap_cells_keep_their_text_inside():
    # the report's full table (12 functions x 8 implementations) at 1920x1080:
    # "9e15 \u21920" in bold ran across into the next cell's text
    rows = ["sigmoid", "log_sigmoid", "softplus", "softmax", "log_softmax", "logsumexp", "binary_crossentropy",
            "sparse_categorical_crossentropy", "categorical_crossentropy", "binary_crossentropy:probs",
            "sparse_categorical_crossentropy:probs", "categorical_crossentropy:probs"]
    impls = ["naive", "stable", "accurate", "scipy", "numpy", "torch", "jax", "keras"]
    worst = np.full((12, 8), 9e15)
    worst[:, 2] = 1.4
    fails = np.where(np.arange(8) % 2 == 0, 40000, 0)[None, :].repeat(12, 0)
    fails[:, 2] = 0
    texts = np.full(worst.shape, "9e15 \u21920", dtype=object)
    texts[:, 2] = ""
    texts[5, 1] = "\u00d74e292"
    fig = plots.heatmap_figure(rows, impls, worst, fails, texts=texts)
    ax = fig.axes[0]
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    box = ax.get_window_extent(r)
    cw, ch = box.width / 8, box.height / 12
    cells = [(t, t.get_window_extent(r)) for t in ax.texts]
    assert len(cells) == 96
    for t, e in cells:
        x, y = t.get_position()
        cx, cy = ax.transData.transform((x, y))
        assert e.x0 >= cx - cw / 2 and e.x1 <= cx + cw / 2, t.get_text()
        assert e.y0 >= cy - ch / 2 and e.y1 <= cy + ch / 2, t.get_text()
    assert not [(a.get_text(), b.get_text()) for i, (a, ea) in enumerate(cells) for b, eb in cells[i + 1:] if ea.overlaps(eb)]
    # shrunk only as far as the cell needs: the accurate column's "1.4" keeps the slide size
    sizes = {t.get_text(): t.get_fontsize() for t in ax.texts}
    assert sizes["1.4"] == 18 and 13 <= min(sizes.values()) < 18


def test_heatmap_shows_an_error_not_a_number():
    # a library that raised in some format has no worst error: "error", not the other formats' worst
    worst, fails = np.array([[2e3, 0.5]]), np.array([[3, 0]])
    fig = plots.heatmap_figure(["logsumexp"], ["scipy", "accurate"], worst, fails, errors=np.array([[True, False]]))
    texts = [t.get_text() for t in _texts(fig)]
    assert "error" in texts and "0.5" in texts and not any(t.startswith("2e3") for t in texts)


@pytest.mark.slow
def test_saved_files_are_byte_identical_across_saves(tmp_path):
    # SVG ids come from a hash salt and PDFs carry dates unless stripped:
    # saving the same figure twice must give the same bytes in every format
    worst = np.array([[2e3, 0.5], [np.nan, 1e16]])
    out = {}
    for run in ("a", "b"):
        fig = plots.heatmap_figure(["softplus", "sigmoid"], ["naive", "accurate"], worst, np.array([[3, 0], [0, 0]]))
        for p in plots.save(fig, str(tmp_path / run), ("png", "svg", "pdf")):
            out.setdefault(p[-3:], []).append((tmp_path / p).read_bytes())
    for ext, (a, b) in out.items():
        assert a == b, ext


def test_error_scale_covers_every_error():
    """Counts up to 2**p on the axis, past it (inf included: an overflowed
    count, no failure) in a band, failures in the band above; all inside
    the limits."""
    s = plots.ErrorScale([np.array([0.3, 2.1e6]), np.array([0.5])], "float32")
    assert s.cap == 2.1e6 and s.band is None and s.limits[1] > s.top > s.cap
    assert s.y(np.array([2.1e6, 1e-9]), np.array([False, False])).tolist() == [2.1e6, plots.ULP_FLOOR]
    s = plots.ErrorScale([np.array([1.0, 8.5e37, np.inf])], "float32")
    assert s.cap == 2.0**24 and s.band > 30 * 2.0**24 and s.limits[1] > s.top > s.band
    y = s.y(np.array([8.5e37, np.inf, 3.0, np.inf]), np.array([False, False, False, True]))
    assert y.tolist() == [s.band, s.band, 3.0, s.top]


@pytest.fixture(scope="module")
def worst_cases():
    # sigmoid: the naive tier's flush to 0 at x = -88.72 (2.1e6 ulp in float32);
    # from probabilities: the clipped 1e-7 for a loss of 1e-38 (8.5e37 ulp)
    return {"sigmoid": [analyze("sigmoid", "float32", TIERS, 400, 0, exhaustive=False)],
            "binary_crossentropy:probs": [analyze("binary_crossentropy", f, TIERS, 400, 0, from_logits=False)
                                          for f in ("float32", "float64")]}


@pytest.mark.parametrize("name", ["sigmoid", "binary_crossentropy:probs"])
def test_error_figure_shows_the_worst_case_of_the_table(worst_cases, name):
    from stabkit.report.cells import max_cell

    analyses = worst_cases[name]
    fig = plots.error_figure(analyses, subject=name)
    for ax, a in zip(fig.axes, analyses):
        scale = plots.ErrorScale([p.ulp[~p.undefined & ~p.failure] for p in a.points.values()], a.fmt)
        lo, hi = ax.get_ylim()
        texts = [t.get_text() for t in ax.texts]
        big = max(st.max_ulp for st in a.stats.values())
        assert big > 1e6  # the case this test is about is in the sample
        for impl, st in a.stats.items():
            y = scale.y(np.array([st.max_ulp]), np.array([False]))[0]
            assert lo < y < hi
            if st.max_ulp <= 2.0 ** a.sample.fmt.precision:
                assert y == st.max_ulp  # drawn at its value, not clipped
            else:
                assert y == scale.band and st.max_point["kind"]  # in the band, with what happened
            # the implementation's worst point, drawn solid in its colour
            solid = [l for l in ax.get_lines() if len(l.get_ydata()) == 1 and l.get_ydata()[0] == y
                     and l.get_color() == plots.COLORS[impl]]
            assert solid, (a.fmt, impl)
        # the panel's worst case named as the tables write it
        top = max(a.stats.values(), key=lambda st: st.max_ulp)
        assert any(t.startswith("worst: " + max_cell(top.max_ulp, top.max_point, a.fmt)) for t in texts), texts
        if big > 2.0 ** a.sample.fmt.precision:
            assert f"$>2^{{{a.sample.fmt.precision}}}$ ulp" in texts  # the band is named


def test_naive_fails_legend_patch_shows_and_matches_the_shading(analyses):
    """The shaded runs where naive fails were named in the legend by a patch
    at alpha 0.08 and no edge, which did not show at a legend's size: the
    patch has a firm edge, and face and edge are those of the shading."""
    from matplotlib.colors import to_rgba

    fig = plots.error_figure(analyses)
    (leg,) = fig.legends
    names = [t.get_text() for t in leg.get_texts()]
    assert "naive fails" in names
    patch = leg.legend_handles[names.index("naive fails")]
    face, edge = to_rgba(patch.get_facecolor()), to_rgba(patch.get_edgecolor())
    assert face[3] >= 0.1 and edge[3] >= 0.5 and patch.get_linewidth() >= 1, (face, edge, patch.get_linewidth())
    assert to_hex(edge[:3]) == plots.COLORS["naive"].lower()
    spans = [p for ax in fig.axes for p in ax.patches if p.get_label() == "naive fails"]
    assert spans
    for s in spans:
        assert to_rgba(s.get_facecolor()) == face and to_rgba(s.get_edgecolor()) == edge


def _line_points(ax, step=2.0):
    """Pixels every ``step`` along each implementation's line (steps drawn
    as steps), and its markers: what a label must not cover."""
    from matplotlib.cbook import STEP_LOOKUP_MAP

    out = []
    for line in ax.get_lines():
        if to_hex(line.get_color()) not in {c.lower() for c in plots.COLORS.values()} or line.get_transform() != ax.transData:
            continue
        x, y = np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float)
        if line.get_drawstyle() != "default":
            x, y = STEP_LOOKUP_MAP[line.get_drawstyle()](x, y)
        px = ax.transData.transform(np.column_stack([x, y]))
        px = px[np.isfinite(px).all(axis=1)]
        for a, b in zip(px[:-1], px[1:]):
            n = max(1, int(np.hypot(*(b - a)) / step))
            out += [a + (b - a) * k / n for k in range(n + 1)]
        out += list(px)
    return np.array(out)


@pytest.mark.parametrize("name, fmts", [("softmax", ["float32"]),
                                        ("log_softmax", ["float16", "bfloat16", "float32", "float64"])])
def test_worst_case_label_covers_no_line(name, fmts):
    """The worst case's label sat over the lines it names (softmax in
    float32, each panel of log_softmax): its text box holds no point of an
    implementation's line."""
    from matplotlib.text import Text

    fig = plots.error_figure([analyze(name, f, TIERS, 2000, 0) for f in fmts])
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    for ax in fig.axes:
        labels = [t for t in ax.texts if t.get_text().startswith("worst: ")]
        assert len(labels) == 1, ax.get_title()
        box = Text.get_window_extent(labels[0], r)
        pts = _line_points(ax)
        inside = (pts[:, 0] > box.x0) & (pts[:, 0] < box.x1) & (pts[:, 1] > box.y0) & (pts[:, 1] < box.y1)
        assert not inside.any(), (ax.get_title(), int(inside.sum()))
        assert ax.bbox.x0 <= box.x0 and box.x1 <= ax.bbox.x1 and ax.bbox.y0 <= box.y0 and box.y1 <= ax.bbox.y1


@pytest.mark.parametrize("kind", ["values", "cdf"])
def test_from_probabilities_titles_say_so(worst_cases, kind):
    """The values and cdf figures of binary_crossentropy:probs were titled
    as the loss from logits."""
    fig = FIGURES[kind](worst_cases["binary_crossentropy:probs"])
    assert "prob" in fig.get_suptitle(), fig.get_suptitle()


def test_cdf_says_where_a_curve_stops_at_nan(analyses):
    """Naive softplus overflows to inf: its curve stops below 1, and a note
    on the panel says at which share and why (it said nothing)."""
    fig = plots.cdf_figure(analyses)
    for ax, a in zip(fig.axes, analyses):
        p = a.points["naive"]
        u = p.ulp[~p.undefined]
        share = np.isfinite(u).mean()
        assert share < 1
        texts = [t.get_text() for t in ax.texts]
        assert f"naive stops at {share:.0%}:\nNaN/inf beyond" in texts, texts
        assert not any(t.startswith(("stable stops", "accurate stops")) for t in texts)


def test_ordinal_ticks_name_the_worst_region(worst_cases):
    """On binary_crossentropy:probs in float32 the worst errors sit at
    logit(p) = -86.9, squeezed by the ordinal axis beside the -1 tick, the
    nearest label: a kept tick label names a value within a factor 2 of the
    worst input's, on its side of 0. (In float64, -690 and -1 are 4 pixels
    apart at the axis's corner, where the y labels win: not checked.)"""
    analyses = worst_cases["binary_crossentropy:probs"][:1]
    fig = plots.error_figure(analyses, subject="binary_crossentropy:probs")
    fig.canvas.draw()
    for ax, a in zip(fig.axes, analyses):
        best, who = plots._panel_max(a)
        name, i = who[0]
        c = float(a.points[name].coord[i])
        assert abs(c) > 10  # far past the -1 tick
        values = []
        for t in ax.get_xticklabels():
            try:
                values.append(float(t.get_text().replace("\u2212", "-")))
            except ValueError:
                pass
        assert any(v * c > 0 and 0.5 <= v / c <= 1 for v in values), (a.fmt, c, values)


def test_a_worst_label_wider_than_its_panel_is_shrunk_to_fit():
    """In a 2x2 figure the float64 panel's label of binary_crossentropy:probs
    ('at logit(p) = -689.77877 (stable, keras)') was wider than the panel and
    reached into the figure's legend; its type now shrinks until it fits."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from stabkit.report import notes

    fig, axes = plt.subplots(2, 2, figsize=(8, 4.5))
    for ax in axes.flat:
        ax.plot(np.arange(10), np.arange(10) ** 2)
        ax.annotate("worst: too large (x3.7e+292)\nat logit(p) = -689.77877 (stable, keras, torch)", xy=(5, 25),
                    xytext=(0.5, 0.5), textcoords="axes fraction", gid=notes.WORST, fontsize=14)
    notes.place_notes(fig)
    r = fig.canvas.get_renderer()
    for ax in axes.flat:
        (label,) = [t for t in ax.texts if t.get_gid() == notes.WORST]
        box = label.get_window_extent(r)
        assert ax.bbox.x0 <= box.x0 and box.x1 <= ax.bbox.x1, (box, ax.bbox)
        assert label.get_fontsize() < 14
    plt.close(fig)


def test_values_axes_name_the_decades_below_1():
    """softmax's values figure (--kind values) had one tick, 1, on the
    bfloat16 and float32 panels' ordinal y axes, where the winners'
    probabilities spread from 1e-2 to 1: a reader could not tell 0.5 from
    0.01. Now 0.1 and 0.01 (and 0.5 where it fits) are named."""
    # float16 and float32 (a bfloat16 analysis here crashed CI's Python 3.10 run with ml_dtypes 0.4 and
    # NumPy 2.0 inside np.where on bfloat16 arrays, once, in the whole suite's order)
    fig = plots.values_figure([analyze("softmax", f, TIERS, 300, 0) for f in ("float16", "float32")])
    fig.canvas.draw()
    for ax in fig.axes:
        labels = {t.get_text() for t in ax.get_yticklabels() if t.get_visible()}
        assert {"0.1", "0.01"} <= labels, (ax.get_title(), labels)
    assert not _overlapping_ticks(fig)
