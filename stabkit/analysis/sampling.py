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

from stabkit.floats import Format, get_format, round_float64
from stabkit.registry import get
from .adversarial import (
    cancelling_rows,
    dense_elementwise,
    extreme_rows,
    loser_mass_cutoffs,
    soft_targets,
    winner_rows,
)
from .ordinals import edge_cases, from_ordinal, ordinal_uniform, unique_sorted

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


# ------------------------------------------------------------ one argument


def elementwise_inputs(function: str, fmt, n: int, rng: np.random.Generator, exhaustive: bool | None = None) -> tuple[np.ndarray, bool]:
    """Inputs for a one-argument function: all values of a 16-bit format
    (``exhaustive`` None or True), else ``n`` values: a quarter
    ordinal-uniform, half spread over the regimes, a quarter dense in value
    (:func:`dense_elementwise`), plus the edge cases."""
    from stabkit.floats import enumerate_format

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
    return unique_sorted(np.concatenate([p.astype(f.dtype) for p in parts]), f), False


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
#: accurate tier's narrow-row path (``_accurate.eft.NARROW``); the audit's winner over
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
