"""Axes of the report's figures: log and ordinal ticks, and the row-wise
functions' logit-gap axis (one dot per row: the worst element's error
against the row's winner gap)."""

from __future__ import annotations

import math

import numpy as np
from matplotlib.ticker import FixedLocator, NullFormatter

from stabkit.floats import get_format, ordinal

from .style import set_ticks



def _pow10(k: int) -> str:
    return "1" if k == 0 else f"$10^{{{k}}}$"


def _log_ticks(lo: float, hi: float, max_labels: int = 6) -> list[tuple[float, str]]:
    """Decades in [lo, hi], every ``step``-th labelled (1 first), as (tick, label)."""
    k0, k1 = math.ceil(math.log10(lo) - 1e-9), math.floor(math.log10(hi) + 1e-9)
    step = max(1, math.ceil((k1 - k0 + 1) / max_labels))
    ks = [k for k in range(k0, k1 + 1) if k % step == 0]
    ks.sort(key=lambda k: (k != 0, -abs(k)))
    return [(10.0**k, _pow10(k)) for k in ks]


def _log_minor(axis, lo: float, hi: float) -> None:
    k0, k1 = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    m = [d * 10.0**k for k in range(k0, k1 + 1) for d in range(1, 10)]
    axis.set_minor_locator(FixedLocator([v for v in m if lo <= v <= hi]))
    axis.set_minor_formatter(NullFormatter())


def _nice(k: float) -> int:
    return int(round(k / 10) * 10 if k >= 25 else round(k / 5) * 5 if k >= 8 else round(k))


def _one_digit(v: float) -> float:
    """``v`` cut to one significant digit, toward zero (-86.86 -> -80)."""
    if v == 0 or not math.isfinite(v):
        return 0.0
    m = 10.0 ** math.floor(math.log10(abs(v)))
    return math.copysign(math.floor(abs(v) / m) * m, v)


def _ordinal_ticks(fmt, lo: float, hi: float, focus=()) -> list[tuple[float, str]]:
    """Ticks for an axis spaced by ordinal over [lo, hi] (ordinals): 0, a
    round value beside each of ``focus`` (values, e.g. where the worst
    errors are: an ordinal axis squeezes whole decades into a few pixels,
    and powers of ten alone can leave that region unnamed), +-1, then large
    and tiny powers of ten, then the values between 1e-4 and 1e4 that an
    axis of probabilities or log-probabilities needs (an ordinal axis gives
    [1e-3, 1] a third of its height: 0.5 and 0.1 named it, where only 1
    was), in that priority."""
    f = get_format(fmt)
    big, tiny = math.log10(f.max), -math.log10(f.smallest_subnormal)
    vals = [0.0] + [_one_digit(float(v)) for v in focus] + [1.0, -1.0]
    for frac in (0.85, 0.45):
        for v in (10.0 ** _nice(frac * big), 10.0 ** -_nice(frac * tiny)):
            vals += [v, -v]
    for v in (0.5, 0.1, 1e-2, 10.0, 100.0, 1e-4, 1e4):
        vals += [v, -v]
    out, seen = [], set()
    for v in vals:
        o = float(ordinal(np.array([v]).astype(f.dtype), f)[0])
        if lo <= o <= hi and o not in seen:
            seen.add(o)
            out.append((o, _short(v)))
    return out


def _short(v: float) -> str:
    # 0, 1, values written plainly (0.01 to 1000: 0.1, 10), a focus value (-80, 3e30)
    if v == 0 or 1e-2 <= abs(v) <= 1e3 or 10.0 ** round(math.log10(abs(v))) != abs(v):
        return f"{v:g}".replace("e+", "e")
    return f"{'-' if v < 0 else ''}1e{round(math.log10(abs(v)))}"


def _ordinals(v: np.ndarray, fmt) -> np.ndarray:
    """Ordinals as float64; NaN stays NaN."""
    f = get_format(fmt)
    with np.errstate(over="ignore", invalid="ignore"):
        o = ordinal(np.where(np.isnan(v), 0.0, v).astype(f.dtype), f).astype(np.float64)
    return np.where(np.isnan(v), np.nan, o)


# ------------------------------------------------------------ row-wise data


def _row_ids(sample) -> tuple[np.ndarray, np.ndarray]:
    """Per output element the index of its row (over all groups), and per row
    its logit gap."""
    ids, gaps, off = [], [], 0
    for g in sample.groups:
        x = g.args[-1]
        per_entry = x.ndim == 2 and g.size == x.size  # softmax-like: one output per entry
        n = x.shape[0] if per_entry else g.size
        ids.append((np.repeat(np.arange(n), x.shape[1]) if per_entry else np.arange(n)) + off)
        gaps.append(g.coord.ravel()[:: x.shape[1]] if per_entry else g.coord.ravel())
        off += n
    return np.concatenate(ids), np.concatenate(gaps)


def rowwise_errors(a, impl: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row with a defined output: (logit gap, ulp error of the row's worst
    element, whether any element failed). Failures have infinite error."""
    p = a.points[impl]
    rid, gaps = _row_ids(a.sample)
    ok = ~p.undefined
    worst = np.full(gaps.size, -np.inf)
    np.maximum.at(worst, rid[ok], np.where(np.isnan(p.ulp[ok]), 0.0, p.ulp[ok]))
    fail = np.zeros(gaps.size, bool)
    np.logical_or.at(fail, rid[ok], p.failure[ok])
    has = np.zeros(gaps.size, bool)
    has[rid[ok]] = True
    return gaps[has], worst[has], fail[has]


class _GapAxis:
    """A log axis over the positive finite logit gaps of ``analyses``, with a
    band at the left for ties (gap 0) and one at the right for rows with a
    single finite entry (gap inf); inside a band each implementation has its
    own column."""

    def __init__(self, analyses, impls: list[str]):
        g = np.concatenate([_row_ids(a.sample)[1] for a in analyses])
        pos = g[(g > 0) & np.isfinite(g)]
        self.lo = 10.0 ** math.floor(math.log10(pos.min())) if pos.size else 1e-3
        self.hi = 10.0 ** math.ceil(math.log10(pos.max())) if pos.size else 1e3
        span = math.log10(self.hi / self.lo)
        self.width, sep = max(0.7, 0.09 * span), max(0.3, 0.04 * span)
        self.tie = (math.log10(self.lo) - sep - self.width, math.log10(self.lo) - sep)
        self.has_inf = bool(np.isinf(g).any())
        r = math.log10(self.hi) + sep
        self.inf = (r, r + self.width) if self.has_inf else None
        self.impls = impls

    def slot(self, impl: str, band) -> tuple[float, float]:
        """The (left, right) log10 edges of ``impl``'s column in ``band``."""
        k, n = self.impls.index(impl), len(self.impls)
        w = (band[1] - band[0]) / n
        return band[0] + w * (k + 0.2), band[0] + w * (k + 0.8)

    def x(self, gaps: np.ndarray, impl: str) -> np.ndarray:
        """Positions: positive gaps as they are, 0 and inf spread over the
        implementation's column of their band (deterministic jitter)."""
        out = gaps.astype(np.float64).copy()
        for band, sel in ((self.tie, gaps == 0), (self.inf, np.isinf(gaps))):
            if band is None or not sel.any():
                continue
            a, b = self.slot(impl, band)
            jitter = (np.arange(int(sel.sum())) * 0.6180339887) % 1.0
            out[sel] = 10.0 ** (a + (b - a) * jitter)
        return out

    def centre(self, impl: str, band) -> float:
        a, b = self.slot(impl, band)
        return 10.0 ** ((a + b) / 2)

    def apply(self, ax) -> None:
        ax.set_xscale("log")
        right = self.inf[1] if self.inf else math.log10(self.hi)
        ax.set_xlim(10.0 ** self.tie[0], 10.0**right)
        ticks = [(10.0 ** ((self.tie[0] + self.tie[1]) / 2), "0")]
        for band in (self.tie, self.inf):
            if band is not None:
                ax.axvspan(10.0 ** band[0], 10.0 ** band[1], color="#EEEEEE", lw=0, zorder=0)
        if self.inf:
            ticks.append((10.0 ** ((self.inf[0] + self.inf[1]) / 2), "\u221e"))
        set_ticks(ax.xaxis, ticks + _log_ticks(self.lo, self.hi, 5))
        _log_minor(ax.xaxis, self.lo, self.hi)
        ax.set_xlabel("logit gap of the row")


def _binned(x: np.ndarray, v: np.ndarray, lo: float, hi: float, per_decade: int = 4):
    """Geometric bin centres and the mean of ``v`` per 1/per_decade decade
    (bins with at least two points)."""
    edges = 10.0 ** np.arange(math.log10(lo), math.log10(hi) + 1e-9, 1.0 / per_decade)
    k = np.digitize(x, edges) - 1
    cs, ms = [], []
    for i in range(edges.size - 1):
        s = k == i
        if s.sum() >= 2:
            cs.append(math.sqrt(edges[i] * edges[i + 1]))
            ms.append(float(v[s].mean()))
    return np.array(cs), np.array(ms)


# ------------------------------------------------------------ error against input


# ------------------------------------------------------------ the ulp axis

ULP_FLOOR = 1e-2  # errors below are drawn at the floor (all "correct")


class ErrorScale:
    """The y axis of an error panel, from the ulp errors of its
    implementations: a log axis from ``ULP_FLOOR`` up to ``cap``, the largest
    finite error but at most ``2**p`` (``p`` the format's precision); above
    it a band at ``band`` for errors past ``2**p`` (every bit wrong: what
    happened there is a flush, a sign or a factor, see
    :func:`stabkit.analysis.stats.classify`), then one at ``top`` for
    failures (NaN/inf). Every error is drawn at or inside the axis limits,
    so no worst case falls off the figure."""

    def __init__(self, ulps: list[np.ndarray], fmt):
        f = get_format(fmt)
        self.ceiling = math.ldexp(1.0, f.precision)
        finite = [u[np.isfinite(u)] for u in ulps]
        self.max = max([float(u.max()) for u in finite if u.size] + [0.0])
        # counts past 2**p, and overflowed ones (inf ulps that are no failure)
        self.over = any((u > self.ceiling).any() for u in finite) or self.max > self.ceiling
        self.cap = max(10.0, min(self.max, self.ceiling))
        # with a band, room for its name between it and the failures' line:
        # 2 decades, or 20% of the axis's decades each (a tall axis packs decades tightly)
        step = 10.0 ** max(2.0, 0.2 * math.log10(self.cap / ULP_FLOOR)) if self.over else 30.0
        self.band = self.cap * step if self.over else None
        self.top = (self.band or self.cap) * step

    def y(self, ulp: np.ndarray, failure: np.ndarray) -> np.ndarray:
        """Where each error is drawn: failures at ``top``, counts past
        ``2**p`` (inf included) at ``band``, the others at their value (at
        least the floor)."""
        past = (ulp > self.ceiling) & ~failure
        return np.where(failure, self.top, np.where(past, self.band or self.top, np.clip(ulp, ULP_FLOOR, self.cap)))

    @property
    def band_label(self) -> str:
        return f"$>2^{{{int(math.log2(self.ceiling))}}}$ ulp"

    @property
    def limits(self) -> tuple[float, float]:
        return ULP_FLOOR / 2, self.top * 4

    def apply(self, ax) -> None:
        ax.set_yscale("log")
        ax.set_ylim(*self.limits)
        # the floor holds every smaller error, exact results (0 ulp) included: said on its tick
        floor = (ULP_FLOOR, "\u2264" + _pow10(round(math.log10(ULP_FLOOR))))
        decades = [t for t in _log_ticks(ULP_FLOOR, self.cap, 5) if t[0] not in (1, ULP_FLOOR)]
        set_ticks(ax.yaxis, [(self.top, "NaN/inf"), (1.0, "1"), floor] + decades)
        bands = [(self.top, "NaN/inf")]
        if self.band:
            bands.append((self.band, self.band_label))
            # named inside, at its right end: as a tick label it would crowd "NaN/inf" out
            ax.text(0.99, self.band, self.band_label, transform=ax.get_yaxis_transform(), ha="right", va="bottom",
                    color="#333333", zorder=7)
        if math.log10(self.cap / ULP_FLOOR) < 6:
            _log_minor(ax.yaxis, ULP_FLOOR, self.cap)
        else:
            ax.yaxis.set_minor_locator(FixedLocator([10.0**k for k in range(-2, int(math.log10(self.cap)) + 1)]))
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.axhline(1.0, color="#333333", lw=1, ls="--", zorder=1)
        for y, _ in bands:
            ax.axhline(y, color="#333333", lw=0.8, ls=":", zorder=1)
