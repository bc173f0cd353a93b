"""Figures: produced, slide-sized, large type, one colour per implementation."""

import numpy as np
import pytest
from matplotlib.colors import to_hex
from PIL import Image

from stabkit import plots
from stabkit.analysis import analyze
from stabkit.thirdparty import tier_impl

TIERS = [tier_impl(t) for t in ("naive", "stable", "accurate")]


@pytest.fixture(scope="module")
def analyses():
    return [analyze("softplus", f, TIERS, 300, 0, exhaustive=False) for f in ("float32", "float64")]


def _texts(fig):
    return [t for t in fig.findobj(lambda o: hasattr(o, "get_fontsize") and hasattr(o, "get_text")) if t.get_text().strip()]


@pytest.mark.parametrize("kind", ["error", "values", "cdf"])
def test_figures_are_slides(analyses, kind, tmp_path):
    fig = {"error": plots.error_figure, "values": plots.values_figure, "cdf": plots.cdf_figure}[kind](analyses)
    assert min(t.get_fontsize() for t in _texts(fig)) >= 18
    lines = {l.get_label(): to_hex(l.get_color()) for ax in fig.axes for l in ax.get_lines() if l.get_label() in plots.COLORS}
    assert lines and all(c == plots.COLORS[k].lower() for k, c in lines.items())
    (png,) = plots.save(fig, str(tmp_path / kind))
    im = Image.open(png)
    assert im.size == (1920, 1080) and im.info["dpi"][0] >= 149.9
    assert len(set(np.asarray(im.convert("L")).ravel().tolist())) > 10  # not blank
    assert not list(tmp_path.glob(".tmp-*"))


def test_heatmap_and_vector_formats(tmp_path):
    worst = np.array([[2e3, 0.5], [np.nan, 1e16]])
    fig = plots.heatmap_figure(["softplus", "binary_crossentropy:probs"], ["naive", "accurate"], worst, np.array([[3, 0], [0, 0]]))
    texts = [t.get_text() for t in _texts(fig)]
    assert "2e3\n\u27173" in texts and "n/a" in texts and "binary CE (probs)" in texts
    paths = plots.save(fig, str(tmp_path / "h"), ("png", "svg", "pdf"))
    assert [p[-3:] for p in paths] == ["png", "svg", "pdf"]
    assert all((tmp_path / f"h.{e}").stat().st_size > 1000 for e in ("png", "svg", "pdf"))
