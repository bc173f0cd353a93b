"""Where a note goes on a finished panel: the spot where it covers the least
of what is drawn (the data lines first, then the dots, then the guide
lines), never another text, and never past the axes.

A note is an annotation whose text sits at a position in axes fractions
(``textcoords="axes fraction"``); :func:`place_clear` tries a grid of such
positions, each anchored so that the text grows into the panel from it,
on the laid-out figure, and keeps the one that covers least. Where every
spot covers a data line (a crowded panel), :func:`make_room` raises the
panel's top limit to leave an empty strip for it.
"""

from __future__ import annotations

import numpy as np
from matplotlib.cbook import STEP_LOOKUP_MAP
from matplotlib.collections import PathCollection
from matplotlib.text import Text

__all__ = ["STOPS", "WORST", "place_clear", "place_notes", "make_room", "covered", "fit_width"]

WORST = "stabkit-worst"  # the gid of a panel's worst-case label
STOPS = "stabkit-stops"  # the gid of a cdf panel's note on curves that stop at NaN/inf

#: what covering one sampled point costs: a data line's, a dot's, a guide's (the 1 ulp line, a band)
LINE, DOT, GUIDE = 1.0, 0.05, 0.2
STEP_PX = 3.0  # lines are sampled every this many pixels
PAD_PX = 6.0  # the note's box, grown by its white frame and a margin

_XS = (0.03, 0.5, 0.97)  # left, middle, right: each with its own alignment
_HA = {0.03: "left", 0.5: "center", 0.97: "right"}
_YS = (0.55, 0.97, 0.03, 0.78, 0.3, 0.88, 0.66, 0.44, 0.18)  # the middle first, as the label was placed
_VA = {0.97: "top", 0.03: "bottom"}
_SHIFTS = (0.0, 0.1, 0.2, 0.3)  # how far in from its side (fractions of the panel) a left/right text may sit


def _dense(xy: np.ndarray) -> np.ndarray:
    """Points every :data:`STEP_PX` pixels along a polyline (pixels); NaN breaks it."""
    xy = xy[np.isfinite(xy).all(axis=1)]
    if len(xy) < 2:
        return xy
    seg = np.diff(xy, axis=0)
    n = np.maximum(1, np.ceil(np.hypot(seg[:, 0], seg[:, 1]) / STEP_PX).astype(int))
    n = np.minimum(n, 2000)  # a segment that runs off the axes far away
    t = np.concatenate([np.arange(k) / k for k in n])
    start = np.repeat(xy[:-1], n, axis=0)
    return np.vstack([start + np.repeat(seg, n, axis=0) * t[:, None], xy[-1:]])


def _line_pixels(line) -> np.ndarray:
    x, y = (np.asarray(v, dtype=float) for v in (line.get_xdata(), line.get_ydata()))
    if x.size == 0:
        return np.empty((0, 2))
    step = STEP_LOOKUP_MAP.get(line.get_drawstyle())
    if step is not None and line.get_drawstyle() != "default":
        x, y = step(x, y)
    with np.errstate(all="ignore"):
        px = line.get_transform().transform(np.column_stack([x, y]))
    return _dense(px) if line.get_linestyle() not in ("None", "none", "", " ") else px[np.isfinite(px).all(axis=1)]


def _obstacles(ax, skip) -> tuple[np.ndarray, np.ndarray]:
    """(pixels, cost of covering each) of what ``ax`` draws, ``skip`` aside."""
    pts, cost = [], []
    for line in ax.get_lines():
        if line is skip or not line.get_visible():
            continue
        guide = not line.get_transform().contains_branch(ax.transData)
        p = _line_pixels(line)
        pts.append(p)
        cost.append(np.full(len(p), GUIDE if guide else LINE))
    for c in ax.collections:
        if isinstance(c, PathCollection) and c.get_visible():
            with np.errstate(all="ignore"):
                p = c.get_offset_transform().transform(np.asarray(c.get_offsets(), dtype=float))
            p = p[np.isfinite(p).all(axis=1)]
            pts.append(p)
            cost.append(np.full(len(p), DOT))
    if not pts:
        return np.empty((0, 2)), np.empty(0)
    return np.vstack(pts), np.concatenate(cost)


def _box(note, r):
    """The note's text box in pixels (its arrow left out), grown by :data:`PAD_PX`."""
    if hasattr(note, "update_positions"):  # an annotation: its text placed from its xy
        note.update_positions(r)
    return Text.get_window_extent(note, r).padded(PAD_PX)


def covered(box, pts: np.ndarray, cost: np.ndarray) -> float:
    """The cost of the points of ``pts`` inside ``box``."""
    if not len(pts):
        return 0.0
    inside = (pts[:, 0] >= box.x0) & (pts[:, 0] <= box.x1) & (pts[:, 1] >= box.y0) & (pts[:, 1] <= box.y1)
    return float(cost[inside].sum())


def place_clear(ax, note, prefer_right: bool = True) -> float:
    """Move ``note``'s text to the spot of ``ax`` where it covers least (see
    the module's docstring); on a tie the first of the right-hand side
    (``prefer_right``; else the left), the middle height, then the top.
    Call it on a laid-out figure. Returns what the spot covers (0: nothing)."""
    fig = ax.figure
    r = fig.canvas.get_renderer()
    pts, cost = _obstacles(ax, note)
    others = [t.get_window_extent(r) for t in ax.texts if t is not note and t.get_visible() and t.get_text().strip()]
    frame = ax.bbox
    sides = _XS[::-1] if prefer_right else _XS
    spots = [(side, shift, fy) for fy in _YS for shift in _SHIFTS for side in sides]
    best, where = None, None
    for side, shift, fy in spots:
        if side == 0.5 and shift:
            continue
        fx = side + (shift if side < 0.5 else -shift if side > 0.5 else 0.0)
        _put(note, fx, _HA[side], fy)
        box = _box(note, r)
        out = max(frame.x0 - box.x0, box.x1 - frame.x1, frame.y0 - box.y0, box.y1 - frame.y1, 0.0)
        score = covered(box, pts, cost) + 1e3 * sum(box.overlaps(o) for o in others) + 10.0 * out
        if best is None or score < best - 1e-9:
            best, where = score, (fx, _HA[side], fy)
    _put(note, *where)
    return best


def make_room(ax, note) -> None:
    """Raise ``ax``'s top limit so that a strip as tall as ``note`` (and a
    margin) is left empty above everything drawn: for a panel too full to
    hold the note anywhere (its tick labels do not change)."""
    r = ax.figure.canvas.get_renderer()
    need = (_box(note, r).height + PAD_PX) / ax.bbox.height  # the strip, as a share of the panel
    tr = ax.yaxis.get_transform()
    lo, hi = tr.transform(ax.get_ylim())
    top = hi + (hi - lo) * need / max(1.0 - need, 0.2)
    ax.set_ylim(ax.get_ylim()[0], float(tr.inverted().transform(top)))


def fit_width(ax, note, floor: float = 0.6) -> None:
    """Shrink ``note``'s type (to ``floor`` of its size at most) until its
    box is no wider than ``ax``: a label wider than a half-width panel
    otherwise reaches into its neighbour or the figure's legend."""
    r = ax.figure.canvas.get_renderer()
    size = start = note.get_fontsize()
    while _box(note, r).width > ax.bbox.width and size > floor * start:
        size *= 0.9
        note.set_fontsize(size)


def _put(note, fx: float, ha: str, fy: float) -> None:
    note.set_position((fx, fy))
    note.set_ha(ha)
    note.set_va(_VA.get(fy, "center"))


def place_notes(fig, gid: str = WORST) -> None:
    """Each panel's note with ``gid`` (the worst-case label, or the cdf's
    :data:`STOPS`) moved where it covers least of the data, on the laid-out
    figure; where every spot covers a line, into a strip made for it above
    the data."""
    fig.canvas.draw()
    for ax in fig.axes:
        for t in ax.texts:
            if t.get_gid() == gid:
                fit_width(ax, t)
            if t.get_gid() == gid and place_clear(ax, t, prefer_right=t.get_ha() == "right") >= LINE:
                make_room(ax, t)
                place_clear(ax, t, prefer_right=t.get_ha() == "right")
