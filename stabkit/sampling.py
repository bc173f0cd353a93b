"""Reproducible inputs for error analysis.

* One-argument functions: every value of a 16-bit format (exhaustive), or for
  float32/float64 samples uniform over *ordinals* (every float equally likely,
  as Herbie samples), plus samples in each named regime of the function, plus
  named edge cases (+-0, thresholds, the largest finite value, subnormals).
* Row-wise functions: rows of a controlled length (2 to 10**4), spread and
  offset (up to +-1e4), a single winner with a chosen logit gap, ties, all
  equal, masked (``-inf``) entries; labels are the winner, the loser or random.
* Losses from probabilities: the same rows pushed through a float64 softmax
  (or ordinal-uniform probabilities for binary cross-entropy).

Every sample is a pure function of ``(function, format, seed, n)``: the random
stream of each (function, format) pair is seeded from the seed and the pair's
name, so a report restricted to some functions reproduces exactly the entries
of the full report.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

import numpy as np

from .floats import Format, get_format, ordinal, round_float64, round_to_format
from .registry import get

__all__ = [
    "Group", "Sample", "make_sample", "rng_for", "from_ordinal", "ordinal_uniform", "edge_cases", "ROW_LENGTHS",
    "dense_elementwise", "winner_rows", "cancelling_rows", "extreme_rows", "soft_targets", "loser_mass_cutoffs",
]

#: Row lengths of the row-wise samples and the share of rows each gets.
ROW_LENGTHS = ((2, 0.3), (3, 0.2), (10, 0.25), (100, 0.17), (1000, 0.06), (10000, 0.02))
_MAX_LONG_ROWS = {1000: 4, 10000: 1}  # the reference cost grows with the row


@dataclass
class Group:
    """Inputs of one call: ``args`` as the function takes them, and per
    output element (flattened, C order) its plotting coordinate, whether it
    belongs to the row's winner, and whether it is in the *sweep*: the points
    whose coordinate alone controls the difficulty (every point of a
    one-argument function; for rows, the winner's output in single-winner
    rows at offset 0), over which breakdown thresholds are taken."""

    args: tuple
    coord: np.ndarray
    winner: np.ndarray
    sweep: np.ndarray | None = None  # the controlled subset for breakdown thresholds

    def __post_init__(self):
        if self.sweep is None:
            self.sweep = np.ones(self.coord.shape, bool)

    @property
    def size(self) -> int:
        return int(self.coord.size)


@dataclass
class Sample:
    """All inputs for one function in one format."""

    function: str
    fmt: Format
    from_logits: bool
    coord_name: str
    groups: list[Group]
    exhaustive: bool = False

    @property
    def size(self) -> int:
        return sum(g.size for g in self.groups)

    def __repr__(self) -> str:
        return f"Sample({self.function}, {self.fmt.name}, {len(self.groups)} groups, {self.size} outputs)"


def rng_for(seed: int, *key: str) -> np.random.Generator:
    """A generator seeded from ``seed`` and a stable hash of ``key``."""
    return np.random.default_rng([int(seed), zlib.crc32("/".join(key).encode())])


# ------------------------------------------------------------ ordinals


def from_ordinal(o, fmt) -> np.ndarray:
    """Inverse of :func:`stabkit.floats.ordinal` (0 maps to +0)."""
    f = get_format(fmt)
    o = np.asarray(o, dtype=np.int64)
    sign = np.uint64(1) << np.uint64(f.width - 1)
    bits = np.abs(o).astype(np.uint64) | np.where(o < 0, sign, np.uint64(0))
    return bits.astype(f.unsigned_view).view(f.dtype)


def ordinal_uniform(fmt, n: int, rng: np.random.Generator, lo: float | None = None, hi: float | None = None) -> np.ndarray:
    """``n`` finite values of ``fmt`` in ``[lo, hi]``, every float equally likely."""
    f = get_format(fmt)
    lo = -f.max if lo is None else max(lo, -f.max)
    hi = f.max if hi is None else min(hi, f.max)
    a, b = (int(ordinal(np.array([v]).astype(f.dtype), f)[0]) for v in (lo, hi))
    if a > b or n <= 0:
        return np.zeros(0, f.dtype)
    return from_ordinal(rng.integers(a, b, size=n, endpoint=True, dtype=np.int64), f)


def _neighbours(v: float, f: Format) -> list[float]:
    o = int(ordinal(np.array([v]).astype(f.dtype), f)[0])
    return [float(x) for x in from_ordinal(np.array([o - 1, o, o + 1]), f).astype(np.float64)]


def edge_cases(fmt, thresholds=()) -> np.ndarray:
    """Named edge cases of ``fmt``: +-0, +-1, +-smallest subnormal and normal,
    +-max, +-inf, the overflow and underflow points of ``exp`` in the format,
    and each threshold with its two neighbours."""
    f = get_format(fmt)
    vals = [0.0, -0.0, 1.0, -1.0, f.smallest_subnormal, f.smallest_normal, f.max]
    vals += [math.log(f.max), math.log(f.smallest_subnormal), math.log(f.smallest_normal)]
    vals += [v for t in thresholds if math.isfinite(t) and abs(t) <= f.max for v in _neighbours(t, f)]
    vals += [-v for v in vals]
    if f.has_inf:
        vals += [math.inf, -math.inf]
    with np.errstate(over="ignore"):
        return round_float64(np.array(vals), f)


def _unique_sorted(x: np.ndarray, f: Format) -> np.ndarray:
    """Distinct values by bit pattern (keeps -0 beside +0), sorted by value."""
    bits = np.unique(np.ascontiguousarray(x.astype(f.dtype)).view(f.unsigned_view))
    v = bits.view(f.dtype)
    return v[np.argsort(v.astype(np.float64), kind="stable")]


# ------------------------------------------------------------ one argument


def elementwise_inputs(function: str, fmt, n: int, rng: np.random.Generator, exhaustive: bool | None = None) -> tuple[np.ndarray, bool]:
    """Inputs for a one-argument function: all values of a 16-bit format
    (``exhaustive`` None or True), else ``n`` values: a quarter
    ordinal-uniform, half spread over the regimes, a quarter dense in value
    (:func:`dense_elementwise`), plus the edge cases."""
    from .floats import enumerate_format

    f = get_format(fmt)
    if exhaustive is None:
        exhaustive = f.width <= 16
    if exhaustive:
        if f.width > 16:
            raise ValueError(f"{f.name} has 2**{f.width} values; exhaustive runs are for 16-bit formats")
        return enumerate_format(f), True
    regimes = get(function).regimes
    parts = [ordinal_uniform(f, n - n // 2 - n // 4, rng), dense_elementwise(function, f, n // 4, rng)]
    per = (n // 2) // max(1, len(regimes))
    for r in regimes:
        parts.append(ordinal_uniform(f, per, rng, r.lo, r.hi))
    bounds = [b for r in regimes for b in (r.lo, r.hi)]
    parts.append(edge_cases(f, bounds))
    return _unique_sorted(np.concatenate([p.astype(f.dtype) for p in parts]), f), False


def _binary_inputs(function: str, f: Format, n: int, rng, from_logits: bool) -> Group:
    """(y_true, y_pred) pairs: labels 0/1 with 10% soft labels; logits sampled
    like a one-argument input plus a dense [-50, 50] band, with the
    confident-and-right label in the regime samples; or probabilities
    ordinal-uniform in [0, 1] and just below 1."""
    if from_logits:
        z, _ = elementwise_inputs(function, f, max(2, n - n // 4), rng, exhaustive=False)
        z = np.concatenate([z, ordinal_uniform(f, n // 4, rng, -50.0, 50.0)])
        z64 = z.astype(np.float64)
        lo, hi = get(function).regimes[0].lo, get(function).regimes[0].hi
        confident = (z64 >= lo) & (z64 <= hi) | (z64 >= -hi) & (z64 <= -lo)
        coord = z64
    else:
        m = max(2, n // 2)
        p = np.concatenate([
            ordinal_uniform(f, m, rng, 0.0, 1.0),
            ordinal_uniform(f, n - m, rng, 0.5, 1.0),
            round_float64(np.array([0.0, 1.0, f.smallest_subnormal, 0.5, 1e-7, 1 - 1e-7]), f),
        ])
        z, z64 = p, p.astype(np.float64)
        confident = np.zeros(z.shape, bool)
        with np.errstate(divide="ignore"):
            coord = np.log(z64) - np.log1p(-z64)  # logit(p), the plotting axis
    y = rng.integers(0, 2, size=z.shape).astype(np.float64)
    soft = rng.random(z.shape) < 0.1
    y = np.where(soft, rng.random(z.shape), y)
    right = (z64 > 0) if from_logits else (z64 > 0.5)
    y = np.where(confident, right.astype(np.float64), y)
    return Group((round_float64(y, f), z.astype(f.dtype)), coord, np.ones(z.shape, bool))


# ------------------------------------------------------------ adversarial families
# Inputs that ordinal-uniform samples and random rows almost never produce,
# each aimed at a cut-off inside the accurate tier (stabkit/accurate.py and
# its _eft, _accrows, _unshifted, _lse_exact modules). Pure functions of
# their arguments and ``rng``.

#: Cut-offs of the accurate tier in the loser mass ``s = sum_{i != k}
#: exp(x_i - m)`` of a row of n entries (the n**2 * 2**-39 floor of the
#: extraction sum, the n * 2**-1020 switch to scaled tiny sums, log1p(s) = s
#: below 2**-53, ties at 1), which :func:`winner_rows` samples densely around.
def loser_mass_cutoffs(n: int) -> list[float]:
    return [n * n * 2.0**-39, n * 2.0**-1020, 2.0**-53, 2.0**-26, 1.0]


def _band_thresholds(function: str, f: Format) -> list[float]:
    """Both signs of: the accurate tier's series switch (|x| < 2**-10), the
    registry's regime bounds, where ``1 + exp(-|x|)`` rounds to 1 (p ln 2 and
    (p + 1) ln 2), PyTorch's softplus threshold 20, and the points where exp
    overflows or leaves the normal and subnormal range of ``f``."""
    ln2 = math.log(2.0)
    t = [2.0**-10, 2.0**-30, 20.0, f.precision * ln2, (f.precision + 1) * ln2]
    t += [math.log(f.max), -math.log(f.smallest_normal), -math.log(f.smallest_subnormal)]
    t += [abs(b) for r in get(function).regimes for b in (r.lo, r.hi) if 0 < abs(b) < 1e3]
    return sorted({s * v for v in t for s in (1.0, -1.0) if v <= f.max})


def dense_elementwise(function: str, fmt, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` inputs of a one-argument function, uniform in *value* (not bit
    pattern: ordinal sampling puts 1 float64 in 600 in [-10, 0]) over the bands
    [-2, 2], [-40, 0], [0, 40] and [-750, 750], and on both sides of every
    threshold of :func:`_band_thresholds`: half of each threshold's points in
    [t - |t|/16, t], half in [t, t + |t|/16], plus its 16 neighbours by
    ordinal on each side. Half the points go to the bands, half to the
    thresholds."""
    f = get_format(fmt)
    bands = [(-2.0, 2.0), (-40.0, 0.0), (0.0, 40.0), (-750.0, 750.0)]
    ts = _band_thresholds(function, f)
    per_band = max(1, (n // 2) // len(bands))
    per_side = max(1, (n - per_band * len(bands)) // (2 * len(ts)))
    parts = [rng.uniform(lo, hi, per_band) for lo, hi in bands]
    for t in ts:
        w = abs(t) / 16
        parts += [rng.uniform(t - w, t, per_side), rng.uniform(t, t + w, per_side)]
        o = int(ordinal(np.array([t]).astype(f.dtype), f)[0])
        parts.append(from_ordinal(np.arange(o - 16, o + 17), f).astype(np.float64))
    with np.errstate(over="ignore"):
        x = round_float64(np.clip(np.concatenate(parts), -f.max, f.max), f)
    return _unique_sorted(x, f)


def winner_rows(fmt, n: int, count: int, rng: np.random.Generator, s_range=(1e-20, 1e4)) -> np.ndarray:
    """``count`` rows of ``n`` entries: one winner at a random column over
    n - 1 losers at ``winner - gap``, the gap chosen so that the loser mass
    ``s = (n - 1) exp(-gap)`` is within a factor 2**-3..2**4 of one of
    :func:`loser_mass_cutoffs` (even rows, the cut-offs in turn, the
    extraction floor first) or log-uniform over ``s_range`` (odd rows); s is
    capped at n - 1 (gap >= 0). Losers are exactly equal in two rows of three
    (their rounding errors then add up in one direction instead of
    averaging out) and carry noise of 1e-15 to 0.1 otherwise. The winner sits
    at 0 (two rows in five), at a random offset up to +-1e4, past 650 (where
    softmax must shift), or at ``-log1p(s)``, where logsumexp cancels to
    about 0. Rounded to ``fmt``."""
    f = get_format(fmt)
    out = np.empty((count, n))
    cuts = [c for c in loser_mass_cutoffs(n) if 1e-300 < c < n - 1]
    for i in range(count):
        if i % 2 == 0 and cuts:
            s = cuts[(i // 2) % len(cuts)] * 2.0 ** rng.uniform(-3, 4)
        else:
            s = 10.0 ** rng.uniform(math.log10(s_range[0]), math.log10(s_range[1]))
        s = min(s, n - 1.0)
        gap = max(0.0, math.log((n - 1) / s)) if n > 1 else 0.0
        noise = 0.0 if i % 3 != 2 else 10.0 ** rng.uniform(-15, -1)
        row = -gap + noise * rng.standard_normal(n)
        row[int(rng.integers(n))] = 0.0
        m = (0.0, 0.0, float(rng.choice([-1, 1]) * 10.0 ** rng.uniform(0, 4)), 650.0 + rng.uniform(0, 60), -math.log1p(s))[int(rng.integers(5))]
        out[i] = row + m
    with np.errstate(over="ignore"):
        return round_float64(out, f)


def cancelling_rows(fmt, n: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` rows of ``n`` log-probabilities whose logsumexp is tiny by
    construction: n - 1 entries ``b_j = log(eps * w_j)`` rounded to ``fmt``
    (w from a Dirichlet), eps log-uniform from ~1e-284 (float64; the format's
    tiny * 2**(p + 20) otherwise, 1e-2 at most) to 0.95, and one entry
    ``a = log1p(-S)`` correctly rounded, with S = sum exp(b_j) exactly
    (mpmath), then moved by -2..2 ulps. logsumexp = log(exp(a) + S) is then
    within (|moved| + 1/2) ulp(a) ~ eps * 2**-p of 0: down to 1e-300 in
    float64 (eps > 1/2 makes a b_j the maximum, the other cancelling form)."""
    import mpmath

    f = get_format(fmt)
    lo = math.log10(min(f.smallest_normal * 2.0 ** (f.precision + 20), 1e-2))
    out = np.empty((count, n))
    for i in range(count):
        eps = 10.0 ** rng.uniform(lo, math.log10(0.95))
        w = rng.dirichlet(np.ones(n - 1)) if n > 2 else np.ones(1)
        with np.errstate(divide="ignore"):
            b = round_float64(math.log(eps) + np.log(w), f).astype(np.float64)
        with mpmath.workprec(f.precision + 200):
            S = mpmath.fsum(mpmath.exp(mpmath.mpf(float(v))) for v in b)
            a = round_to_format(mpmath.log1p(-S), f) if S < 1 else -0.0
        a = float(from_ordinal(ordinal(np.array([a]).astype(f.dtype), f) + int(rng.integers(-2, 3)), f)[0])
        k = int(rng.integers(n))
        out[i] = np.insert(b, k, min(a, 0.0))
    return round_float64(out, f)


def extreme_rows(fmt, n: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` rows of ``n`` finite logits at the edge of ``fmt``'s range:
    each entry +-max, +-max/2, +-max * (1 - 2**-p), 0 or uniform in
    [-max, max], with at least one +max or -max per row, so that shifted
    logits ``x_i - m`` overflow although the softmax, log-softmax and (soft-
    label) losses are finite."""
    f = get_format(fmt)
    top = f.max * (1 - 2.0**-f.precision)
    choices = np.array([f.max, -f.max, f.max / 2, -f.max / 2, top, -top, 0.0])
    out = rng.choice(choices, size=(count, n))
    wild = rng.random((count, n)) < 0.2
    out[wild] = f.max * rng.uniform(-1.0, 1.0, size=int(wild.sum()))  # uniform(-max, max) overflows its width
    out[np.arange(count), rng.integers(n, size=count)] = rng.choice([f.max, -f.max], size=count)
    return round_float64(out, f)


def soft_targets(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Per row, cycling: uniform 1/n, Dirichlet(1), one-hot at the maximum,
    one-hot at the minimum, label-smoothed (0.9 one-hot + 0.1/n) at the
    maximum. float64, rows of ``x``'s shape."""
    count, n = x.shape
    y = np.zeros((count, n))
    finite = np.where(np.isfinite(x), x, np.nan)
    for i in range(count):
        kind = i % 5
        if kind == 0:
            y[i] = 1.0 / n
        elif kind == 1:
            y[i] = rng.dirichlet(np.ones(n))
        else:
            j = np.nanargmin(finite[i]) if kind == 3 else np.nanargmax(finite[i])
            y[i, j] = 1.0
            if kind == 4:
                y[i] = 0.9 * y[i] + 0.1 / n
    return y


# ------------------------------------------------------------ rows

_ROW_KINDS = ("random", "winner", "winner", "regime", "ties", "equal", "masked", "overflow")


def _row(L: int, kind: str, rng, regimes) -> tuple[np.ndarray, bool]:
    """One row of length ``L`` (float64, before rounding to the format) and
    whether it is a clean gap sweep (a single winner, offset 0, no mask)."""
    spread = 10.0 ** rng.uniform(-3, 2)
    offset = 0.0 if rng.random() < 0.5 else float(rng.choice([-1, 1]) * 10.0 ** rng.uniform(0, 4))
    x = offset + spread * rng.standard_normal(L)
    if kind in ("winner", "regime", "overflow"):
        if kind == "regime" and regimes:
            r = regimes[rng.integers(len(regimes))]
            gap = rng.uniform(r.lo, min(r.hi, 1e3)) if r.name != "naive overflow" else 10.0 ** rng.uniform(-3, 2.5)
        else:
            gap = 10.0 ** rng.uniform(-3, 3)
        if kind == "overflow":
            x += 709.8 + 10.0 ** rng.uniform(0, 4) - x.max()
        k = rng.integers(L)
        x[k] = np.delete(x, k).max() + gap
    elif kind == "ties":
        k = rng.choice(L, size=2, replace=False)
        x[k] = x.max()
    elif kind == "equal":
        x[:] = offset
    elif kind == "masked":
        mask = rng.random(L) < 0.5
        mask[rng.integers(L)] = False
        x[mask] = -np.inf
    return x, kind in ("winner", "regime") and offset == 0.0


def _gap(row: np.ndarray) -> float:
    """Winner minus runner-up over the finite entries (inf with one finite).
    Gaps past ``GAP_INF`` (logits near the format's range) count as infinite:
    every loser's exp underflows alike, and a plot axis cannot reach 1e308."""
    fin = np.sort(row[np.isfinite(row)])
    if fin.size == 0:
        return math.nan
    # Python floats: max - (-max) is inf without a warning
    gap = math.inf if fin.size == 1 else float(fin[-1]) - float(fin[-2])
    return math.inf if gap > GAP_INF else gap


#: Gaps above this are reported as infinite (see :func:`_gap`).
GAP_INF = 1e5


def _row_counts(n: int) -> list[tuple[int, int]]:
    out = []
    for L, share in ROW_LENGTHS:
        k = max(1, round(n * share))
        out.append((L, min(k, _MAX_LONG_ROWS.get(L, k))))
    return out


#: The adversarial families in the row-wise samples: (family, row length,
#: share of the ``n`` rows, cap). Lengths 16 and 17 sit on both sides of the
#: accurate tier's narrow-row path (``_eft.NARROW``); the audit's winner over
#: many losers breaks from n = 150.
FAMILY_ROWS = (
    ("winner", 2, 0.01, 40), ("winner", 3, 0.01, 40), ("winner", 16, 0.008, 32), ("winner", 17, 0.008, 32),
    ("winner", 150, 0.004, 12), ("winner", 1000, 0.0015, 3), ("winner", 10000, 0.0005, 1),
    ("cancel", 2, 0.01, 40), ("cancel", 3, 0.005, 20), ("cancel", 10, 0.005, 20), ("cancel", 100, 0.002, 4),
    ("extreme", 2, 0.005, 20), ("extreme", 3, 0.005, 20), ("extreme", 10, 0.002, 8),
)
FAMILIES = {"winner": winner_rows, "cancel": cancelling_rows, "extreme": extreme_rows}


def _row_groups(function: str, f: Format, n: int, rng, from_logits: bool) -> list[Group]:
    """One group per row length: the random kinds of :func:`_row`, then the
    rows of :data:`FAMILY_ROWS` of that length (never in the sweep; soft
    targets for categorical cross-entropy)."""
    prim = get(function)
    by_len: dict[int, list] = {}
    for L, count in _row_counts(n):
        made = [_row(L, _ROW_KINDS[i % len(_ROW_KINDS)], rng, prim.regimes) for i in range(count)]
        by_len[L] = [(r, c, False) for r, c in made]
    for fam, L, share, cap in FAMILY_ROWS:
        rows = FAMILIES[fam](f, L, min(cap, max(1, round(n * share))), rng).astype(np.float64)
        by_len.setdefault(L, []).extend((r, False, True) for r in rows)
    groups = []
    for L in sorted(by_len):
        rows = np.stack([r for r, _, _ in by_len[L]])
        clean = np.array([c for _, c, _ in by_len[L]])
        soft = np.array([s for _, _, s in by_len[L]])
        count = len(rows)
        with np.errstate(over="ignore"):
            x = round_float64(rows, f)
        x64 = x.astype(np.float64)
        gaps = np.array([_gap(r) for r in x64])
        win = np.zeros(x.shape, bool)
        for i, r in enumerate(x64):
            if np.isfinite(r).any():
                win[i, np.argmax(np.where(np.isfinite(r), r, -np.inf))] = True
        labels = _labels(x64, rng)
        if not from_logits:
            # probabilities: a float64 softmax of the row, rounded to the format
            with np.errstate(invalid="ignore", over="ignore"):
                e = np.exp(x64 - np.nanmax(np.where(np.isfinite(x64), x64, -np.inf), axis=1, keepdims=True))
                x = round_float64(e / e.sum(axis=1, keepdims=True), f)
        if prim.kind == "rowwise":
            groups.append(Group((x,), np.repeat(gaps, L), win.ravel(), (win & clean[:, None]).ravel()))
        elif prim.kind == "rowwise_scalar":
            groups.append(Group((x,), gaps, np.ones(count, bool), clean))
        elif prim.kind == "sparse_loss":
            lw = win[np.arange(count), labels]
            groups.append(Group((labels, x), gaps, lw, lw & clean))
        else:  # categorical: one-hot, every fifth row label-smoothed; families soft
            y = np.zeros(x.shape)
            y[np.arange(count), labels] = 1.0
            smooth = np.arange(count) % 5 == 4
            y[smooth] = 0.9 * y[smooth] + 0.1 / L
            if soft.any():
                y[soft] = soft_targets(x64[soft], rng)
            lw = win[np.arange(count), labels] & ~smooth & ~soft
            groups.append(Group((round_float64(y, f), x), gaps, lw, lw & clean))
    return groups


def _labels(x64: np.ndarray, rng) -> np.ndarray:
    """Per row, cycling: the winner, the loser (smallest finite entry), random."""
    out = np.empty(len(x64), np.int64)
    for i, r in enumerate(x64):
        fin = np.isfinite(r)
        if i % 3 == 0 and fin.any():
            out[i] = int(np.argmax(np.where(fin, r, -np.inf)))
        elif i % 3 == 1 and fin.any():
            out[i] = int(np.argmin(np.where(fin, r, np.inf)))
        else:
            out[i] = int(rng.integers(len(r)))
    return out


# ------------------------------------------------------------ entry point


def make_sample(function: str, fmt, n: int, seed: int = 0, *, from_logits: bool = True, exhaustive: bool | None = None) -> Sample:
    """Inputs for ``function`` in ``fmt``: ``n`` points (one-argument
    functions and binary cross-entropy) or about ``n`` rows (row-wise ones).

    ``exhaustive`` (one-argument functions only): None means all values of a
    16-bit format and ``n`` samples otherwise.
    """
    if n <= 0:
        raise ValueError(f"the number of samples must be positive, got {n}")
    prim = get(function)
    f = get_format(fmt)
    variant = "logits" if from_logits or not prim.is_loss else "probs"
    rng = rng_for(seed, function, f.name, variant)
    if prim.kind == "elementwise":
        x, ex = elementwise_inputs(function, f, n, rng, exhaustive)
        x64 = x.astype(np.float64)
        return Sample(function, f, True, "x", [Group((x,), x64, np.ones(x.shape, bool))], ex)
    if exhaustive:
        raise ValueError(f"{function} takes rows or two arguments; exhaustive runs are for one-argument functions")
    if prim.kind == "binary_loss":
        return Sample(function, f, from_logits, "logit z" if from_logits else "logit(p)", [_binary_inputs(function, f, n, rng, from_logits)])
    return Sample(function, f, from_logits, "logit gap", _row_groups(function, f, n, rng, from_logits))
