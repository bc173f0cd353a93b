"""Fit a finished slide inside itself at any font scale and aspect: no text
overlaps another, none is cut off at the figure's edge, and constrained
layout always has room for the panels (it never warns "not applied").

The figures are drawn for 16:9 at scale 1 and :class:`~stabkit.slides.look.Look`
scales their fonts afterwards, so :func:`fit` works on the drawn figure: it
lays it out, lists what collides (:func:`~stabkit.slides.boxes.problems`)
and applies the mildest fix to each collision, until none is left:

- a figure legend wider than the slide loses columns, then its labels wrap;
- a title, axis label or legend label too long for its room wraps onto at
  most two lines of even width (never inside ``$math$``), and shrinks only
  where that is not enough;
- numeric tick labels that collide are thinned (their tick marks stay;
  words such as 'NaN/inf' or 'pedestrian' are never dropped, they shrink);
  an x and a y tick label meeting at a corner are moved apart;
- a note (a text or annotation the figure placed) shrinks;
- of two colliding texts, the one shrunk least so far gives way (notes
  first, ticks last: :data:`RANK`), down to half its size; past that, every
  text shrinks by 10%;
- where the panels have no room left, the suptitle or figure legend that
  takes much of the height shrinks first, then every text;
- a figure without a layout engine (the code slide) moves its texts below
  its title, and scales them down where they then run off the bottom.

A figure with nothing colliding is left exactly as it was drawn, so the
default 16:9 slides at scale 1 are untouched.
"""

from __future__ import annotations

from matplotlib.text import Text
from matplotlib.transforms import Bbox

from .boxes import FIXED, Item, cell, draw, overlap, problems, scale_fonts, text_width, thin, wrapped

__all__ = ["FIXED", "fit", "scale_fonts"]

SHRINK = 0.9  # one step of shrinking
FLOOR = 0.5  # no text shrinks below this share of its size when the fitting began (but see _Fitter.everything)
MAX_PASSES = 80
WIDE = 0.99  # a legend or suptitle wider than this share of the slide is too wide (it would touch the edges)
ROOM = 0.45  # the least share of its grid cell a panel keeps, however large the type (the default slides leave at least 0.57)
BIG = 0.75  # where panels are cramped, the suptitle and figure legend shrink to this share first
#: who gives way when two texts collide: the lower rank (notes first, then
#: legends, then titles and labels); ticks and the suptitle last, fixed texts never
RANK = {"note": 0, "legend": 1, "title": 2, "xlabel": 2, "ylabel": 2, "suptitle": 3, "xtick": 3, "ytick": 3,
        "fixed": 9}
MAX_LINES = {"suptitle": 2, "title": 2, "xlabel": 2, "ylabel": 2, "legend": 2}


class _Fitter:
    """One figure's fitting: its renderer, every text's size when the
    fitting began (``start``, by the text's id; tick labels by their axis),
    how much :meth:`everything` has shrunk everything (``g``), and whether
    this pass changed anything."""

    def __init__(self, fig):
        self.fig = fig
        self.r = fig.canvas.get_renderer()
        self.start = {id(t): t.get_fontsize() for t in fig.findobj(Text)}  # sizes when the fitting began
        self.g = 1.0  # how much everything() has shrunk everything
        for ax in fig.axes:
            for axis in (ax.xaxis, ax.yaxis):
                labels = axis.get_ticklabels()
                self.start[id(axis)] = labels[0].get_fontsize() if labels else axis.label.get_fontsize()
        self.changed = False

    # ---------------------------------------------------------- sizes

    def floor(self, key) -> float:
        """The size below which the text (or axis's tick labels) ``key`` does not shrink."""
        return self.start.get(key, 0.0) * FLOOR * self.g

    def ratio(self, it: Item) -> float:
        """How large ``it`` is against its size when the fitting began."""
        if it.kind in ("xtick", "ytick"):
            axis = getattr(it.ax, f"{it.kind[0]}axis")
            return it.artist.get_fontsize() / self.start.get(id(axis), it.artist.get_fontsize())
        t = it.artist.get_texts()[0] if it.kind == "legend" else it.artist
        return t.get_fontsize() / self.start.get(id(t), t.get_fontsize())

    def shrink(self, t, factor: float = SHRINK, floored: bool = True) -> bool:
        """``t``'s font times ``factor``, not below its floor (where ``floored``);
        False if it was at its floor already."""
        size = t.get_fontsize()
        new = max(size * factor, self.floor(id(t)) if floored else 0.0)
        if new >= size - 1e-3:
            return False
        t.set_fontsize(new)
        self.changed = True
        return True

    def everything(self) -> None:
        """Every text, and every floor, 10% smaller: for when nothing else can give way."""
        scale_fonts(self.fig, SHRINK)
        self.g *= SHRINK
        for leg in [*self.fig.legends, *(ax.get_legend() for ax in self.fig.axes)]:
            if leg is not None and getattr(leg, "stabkit_args", None) is not None:
                # its spacing too, not only its type; and the columns it began with, as many as
                # now fit: a legend cut to one tall column at the larger type need not stay one
                leg = self.remake(leg, ncol=getattr(leg, "stabkit_ncol", leg.stabkit_args[2].get("ncol", 1)))
                while leg.get_window_extent(self.r).width > self.fig.bbox.width * WIDE and leg.stabkit_args[2].get("ncol", 1) > 1:
                    leg = self.remake(leg, ncol=leg.stabkit_args[2]["ncol"] - 1)
        self.changed = True

    # ---------------------------------------------------------- wrapping

    def fit_text(self, t, limit: float, max_lines: int) -> bool:
        """Wrap ``t`` (from the text the figure gave it; its own line breaks
        kept) onto lines of even width, as few as fit ``limit`` pixels but at
        most ``max_lines`` (see :func:`~stabkit.slides.boxes.wrapped`);
        shrink it where it is still too wide. Where it fits already, and
        collides all the same, shrink it."""
        text = t.get_text()
        before = text_width(self.r, t, text)
        source = getattr(t, "stabkit_text", text)  # as the figure wrote it, before any wrapping here
        new = wrapped(self.r, t, source, limit, max_lines)
        after = text_width(self.r, t, new)
        done = new != text and after < before - 1
        if done:
            t.stabkit_text = source
            t.set_text(new)
            self.changed = True
        else:
            after = before
        if after > limit:  # a word too long, or more lines than it may have
            return self.shrink(t, limit / after) or done
        return done or self.shrink(t)  # it fits, and collides all the same: it gives way

    # ---------------------------------------------------------- fixes

    def remake(self, leg, **changes):
        """``leg`` made again (a legend lays out its columns and spacing once,
        when made) with ``changes`` to its arguments; legends the figure did
        not make through :mod:`stabkit.slides.base` are left as they are."""
        args = getattr(leg, "stabkit_args", None)
        if args is None:
            return leg
        handles, labels, kw = args
        texts = leg.get_texts()
        kw = {**kw, "fontsize": texts[0].get_fontsize(), **changes}
        if "labels" in kw:
            labels = kw.pop("labels")
        ncol0 = getattr(leg, "stabkit_ncol", args[2].get("ncol", 1))  # the columns it was made with
        # its distance from the slide's edge in points as first drawn: the pad is in font sizes,
        # and constrained layout leaves room for the legend but not for a larger pad, so the
        # legend would run into the panels' x labels
        pad = getattr(leg, "stabkit_pad", leg.borderaxespad * leg.prop.get_size_in_points())
        kw["borderaxespad"] = pad / kw["fontsize"]
        leg.remove()
        new = leg.parent.legend(handles, labels, **kw)
        new.stabkit_args, new.stabkit_ncol, new.stabkit_pad = (handles, labels, kw), ncol0, pad
        for t, old in zip(new.get_texts(), texts):
            self.start[id(t)] = self.start.get(id(old), t.get_fontsize())
            if hasattr(old, "stabkit_text"):
                t.stabkit_text = old.stabkit_text
        self.changed = True
        return new

    def legend(self, leg, squeeze: bool = False) -> bool:
        """A legend as wide as the figure loses columns until it is not, and
        at one column has its labels wrapped; one that collides with
        something else (or ``squeeze``) is made in smaller type, with all
        the columns it began with (it loses them again where too wide).
        False if it could not change."""
        r, width = self.r, self.fig.bbox.width * WIDE
        if getattr(leg, "stabkit_args", None) is None:
            return False
        texts, changed = leg.get_texts(), False
        if squeeze or leg.get_window_extent(r).width <= width:
            size = texts[0].get_fontsize()
            new = max(size * SHRINK, self.floor(id(texts[0])))
            if new >= size - 1e-3:
                return False
            ncol = getattr(leg, "stabkit_ncol", leg.stabkit_args[2].get("ncol", 1))
            leg, changed = self.remake(leg, fontsize=new, ncol=ncol), True
        while leg.get_window_extent(r).width > width and leg.stabkit_args[2].get("ncol", 1) > 1:
            leg, changed = self.remake(leg, ncol=leg.stabkit_args[2].get("ncol", 1) - 1), True
        box = leg.get_window_extent(r)
        if box.width > width:  # one column: wrap the labels too long for what the handles leave
            texts = leg.get_texts()
            room = width - (box.width - max(t.get_window_extent(r).width for t in texts))
            if any([self.fit_text(t, room, MAX_LINES["legend"]) for t in texts if t.get_window_extent(r).width > room]):
                self.remake(leg, labels=[t.get_text() for t in texts], fontsize=min(t.get_fontsize() for t in texts))
                changed = True
        return changed

    def shrink_ticks(self, ax, name: str) -> bool:
        axis = getattr(ax, f"{name}axis")
        labels = axis.get_ticklabels()
        if not labels:
            return False
        size = labels[0].get_fontsize()
        new = max(size * SHRINK, self.floor(id(axis)))
        if new >= size - 1e-3:
            return False
        ax.tick_params(axis=name, labelsize=new)
        self.changed = True
        return True

    def give_way(self, it: Item, other: Item | None) -> bool:
        """The fix of one item that sticks out of the figure (``other`` None)
        or collides with ``other``; False if it cannot give way any more."""
        t, ax, fig = it.artist, it.ax, self.fig
        if it.kind == "note":  # shrink by about as much as it overlaps, the cheaper way
            box, f = it.box, fig.bbox
            if other is None:
                w, h = max(box.x1 - f.x1, f.x0 - box.x0, 0), max(box.y1 - f.y1, f.y0 - box.y0, 0)
            else:
                w, h = overlap(box, other.box)
            factor = min(SHRINK, max(0.5, 1 - (w + 4) / max(box.width, 1), 1 - (h + 4) / max(box.height, 1)))
            panel = ax is not None and not ax.axison
            for n in ax.texts if panel else [t]:
                # a note sits at a point of its panel: left in the layout, constrained layout makes
                # room for what sticks out of the panel, which moves the panel and the note with
                # it and never settles; out of it, it shrinks where it collides
                n.set_in_layout(False)
            if panel:
                # a text panel (no axes drawn: the round-off slide's left half): its notes are its
                # content, shrunk together (as they were sized) and with no floor, as the code
                # slide sizes its code
                return any([self.shrink(n, factor, floored=False) for n in ax.texts])
            return self.shrink(t, factor)
        if it.kind == "legend":
            return self.legend(t)
        if it.kind == "suptitle":
            return self.fit_text(t, fig.bbox.width * WIDE, MAX_LINES["suptitle"])
        if it.kind in ("title", "xlabel", "ylabel"):
            return self.fit_text(t, ax.bbox.height if it.kind == "ylabel" else ax.bbox.width, MAX_LINES[it.kind])
        if it.kind in ("xtick", "ytick"):
            same = other is not None and other.kind == it.kind and other.ax is ax
            if same and thin(getattr(ax, f"{it.kind[0]}axis"), self.r):
                self.changed = True
                return True
            return self.shrink_ticks(ax, it.kind[0])
        return False

    def fix(self, found) -> None:
        """One fix for each item that gives way in ``found`` (see :data:`RANK`);
        where the one that should give way cannot, the other does."""
        done = {}

        def once(it, other):
            if it.kind == "fixed":
                return False
            key = id(it.artist)
            if it.kind in ("xtick", "ytick") or (it.kind == "note" and it.ax is not None and not it.ax.axison):
                key = (it.kind, id(it.ax))  # an axis's ticks, a text panel's notes: as one
            if key not in done:
                done[key] = self.give_way(it, other)
            return done[key]

        for a, b in found:
            if b is None:
                once(a, None)
            elif {a.kind, b.kind} == {"xtick", "ytick"} and a.ax is b.ax:
                # an x and a y tick label meeting at the axes' corner: the x labels move down clear of it
                x = a if a.kind == "xtick" else b
                if ("pad", id(x.ax)) not in done:
                    done[("pad", id(x.ax))] = True
                    pad = x.ax.xaxis.get_major_ticks()[0].get_pad() + overlap(a.box, b.box)[1] * 72 / self.fig.dpi
                    x.ax.tick_params(axis="x", pad=pad + 1)
                    self.changed = True
            else:
                # the one that has shrunk least gives way, notes before titles and labels before
                # ticks (see RANK) while within 10% a rank; one at a time, as both would overshoot
                sa, sb = (self.ratio(x) - 0.1 * RANK[x.kind] for x in (a, b))
                first, then = (a, b) if (sa, a.box.width * a.box.height) >= (sb, b.box.width * b.box.height) else (b, a)
                once(first, then) or once(then, first)

    def cramped(self) -> bool:
        """Whether a panel was left less than :data:`ROOM` of its grid cell
        in either direction (panels of images, whose shape is fixed, and
        panels with no axes drawn aside)."""
        fig = self.fig
        for ax in fig.axes:
            spec = ax.get_subplotspec()
            if spec is None or not ax.get_visible() or not ax.axison or ax.get_aspect() != "auto":
                continue
            w, h = cell(fig, spec)
            if ax.bbox.width < ROOM * w or ax.bbox.height < ROOM * h:
                return True
        return False

    def collapsed(self) -> None:
        """Constrained layout found no room, or left a panel cramped: shrink
        a figure legend or the suptitle that takes much of the height (to
        :data:`BIG` of its size at most), else everything."""
        fig, h, r = self.fig, self.fig.bbox.height, self.r
        legs = [Item("legend", leg, leg.get_window_extent(r)) for leg in fig.legends]
        sup = fig._suptitle
        sups = [Item("suptitle", sup, sup.get_window_extent(r))] if sup is not None and sup.get_text() else []
        done = [self.legend(it.artist, squeeze=True) if it.kind == "legend" else self.shrink(it.artist)
                for it in legs + sups if it.box.height > 0.15 * h and self.ratio(it) > BIG * self.g]
        if not any(done):
            self.everything()

    def place_below_title(self) -> bool:
        """A figure with no layout engine places its texts itself under a
        title whose height it could not know (the data stamp and the font
        scale come later): move them below the title, and scale them
        (positions and sizes, about their top) to fit above the bottom
        edge. True if anything moved."""
        fig, r, sup = self.fig, self.r, self.fig._suptitle
        texts = [t for t in fig.texts if t is not sup and t.get_visible() and t.get_text().strip()]
        if sup is None or not sup.get_text().strip() or not texts:
            return False
        block = Bbox.union([t.get_window_extent(r) for t in texts])
        gap = sup.get_fontsize() * 0.3 * fig.dpi / 72
        below = sup.get_window_extent(r).y0
        top = below - gap if block.y1 > below else block.y1
        k = min(1.0, (top - gap) / block.height)
        if top == block.y1 and k >= 1.0:
            return False
        if k < 1.0 and self.shrink(sup, max(k, SHRINK)):  # the title gives way before the content
            return True
        h = fig.bbox.height
        for t in texts:  # positions in figure fractions, as fig.text takes them
            x, y = t.get_position()
            t.set_position((x, (top - (block.y1 - y * h) * k) / h))
            t.set_fontsize(t.get_fontsize() * k)
        return True

    def preflight(self) -> None:
        """Before the first layout: wrap what is longer than its grid cell
        whatever the layout does (a suptitle wider than the slide; a title,
        x or y label longer than its cell), so that constrained layout lays
        it out wrapped from the start."""
        fig = self.fig
        sup = fig._suptitle
        if sup is not None and sup.get_text() and text_width(self.r, sup, sup.get_text()) > fig.bbox.width * WIDE:
            self.fit_text(sup, fig.bbox.width * WIDE, MAX_LINES["suptitle"])
        for ax in fig.axes:
            spec = ax.get_subplotspec()
            if spec is None or not ax.get_visible():
                continue
            w, h = cell(fig, spec)
            for t, limit, kind in ((ax.title, w * 0.95, "title"), (ax.xaxis.label, w * 0.95, "xlabel"),
                                   (ax.yaxis.label, h * 0.8, "ylabel")):
                if t.get_text() and text_width(self.r, t, t.get_text()) > limit:
                    self.fit_text(t, limit, MAX_LINES[kind])


def fit(fig) -> None:
    """Fit ``fig`` inside itself (see the module's docstring)."""
    f = _Fitter(fig)
    wide = lambda: [leg for leg in fig.legends if leg.get_window_extent(f.r).width > fig.bbox.width * WIDE]
    collapsed = draw(fig)
    while not collapsed and (legends := wide()) and any([f.legend(leg) for leg in legends]):
        collapsed = draw(fig)  # a legend wider than the slide first, with as few layouts as before
    if not collapsed and not f.cramped() and not problems(fig, f.r):
        return  # nothing (more) to fit: the figure stays exactly as drawn (and laid out as often)
    f.preflight()
    where = None
    for _ in range(MAX_PASSES):
        f.changed = False
        if draw(fig) | draw(fig) or f.cramped():
            f.collapsed()  # it would warn on every save, or leave a panel too small to read
            continue
        if fig.get_layout_engine() is None and f.place_below_title():
            continue
        if legends := wide():  # legends first (they change the layout most), the other texts once they fit
            for leg in legends:
                f.legend(leg)
            continue
        found = problems(fig, f.r)
        if not found:
            # constrained layout places the panels from the ticks of the draw before (and the
            # ticks follow the panels' size): done only once a draw leaves them where they were
            now = [ax.bbox.extents for ax in fig.axes]
            if where is not None and all(abs(a - b).max() < 0.5 for a, b in zip(now, where)):
                return
            where = now
            continue
        where = None
        f.fix(found)
        if not f.changed:  # everything that collides is as small as it may be
            f.everything()
