"""Run implementations against correctly rounded references -> error statistics.

For one function, one format and each implementation: max, p99, median and
mean ulp error; max bits of error; the share correctly rounded (<= 0.5 ulp)
and faithful (< 1 ulp); *failures* (NaN or an infinity where the exact value
is finite, or the wrong infinity), counted separately and left out of every
average; *spurious zeros* (0 where the correctly rounded result is not zero),
counted but kept in the ulp statistics since their error is finite; the worst
inputs; and the breakdown threshold: the sampled coordinate (x, logit z or
logit gap) nearest to zero at which the implementation first fails, and the
one at which it first exceeds 1 ulp.

*What happened* at a point (:func:`classify`), so that a reader is not left
with an ulp count that only measures an exponent gap: ``"failure"`` as above;
otherwise, where no significant digit is right (relative error
``|y - exact| / |exact| >= 1``), exactly one of ``"flush to 0"`` (``y`` is
+-0 and the correctly rounded value is not 0: a spurious zero), ``"wrong
sign"`` (``y`` and the correctly rounded value are nonzero and of opposite
signs) or ``"too large"`` (the same sign but ``|y| >= 2 |exact|``, or ``y``
nonzero where the exact value is 0, with more than 1 ulp of error, so that
rounding in the subnormal range is not counted); ``""`` for every other
point. Above ``2**p`` ulps (``p`` the format's precision) a point is always
one of these, since every bit is wrong; the ulp counts stay in the
statistics (flushes to 0 and the others are finite errors) and the counts
per kind come beside them.

Points whose exact value is NaN (NaN inputs, rows of only ``-inf``) have no
error and are counted as ``undefined``; points whose reference did not settle
are counted as ``unsettled`` and left out of bits of error.

A third-party implementation (``Impl.fail_soft``) that raises, or returns an
array of the wrong shape, gets no statistics: its error
(``"TypeError: message"``) is kept in :attr:`FunctionAnalysis.errors` and the
other implementations go on. An exception in stabkit's own tiers propagates.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from stabkit.reference.options import DEFAULT_OPTIONS, ReferenceOptions
from stabkit.reference.ziv import Reference, reference
from .sampling import Sample, make_sample
from .thirdparty import Impl, Unsupported

__all__ = ["Points", "Stats", "FunctionAnalysis", "references", "analyze_sample", "analyze", "stats_of", "points_of", "error_text",
           "TOP_K", "KINDS", "classify"]

TOP_K = 5
#: What happened at a point, by code (index): see :func:`classify`.
KINDS = ("", "failure", "flush to 0", "wrong sign", "too large")


@dataclass
class Points:
    """Per-point results of one implementation (flattened over the sample)."""

    coord: np.ndarray
    winner: np.ndarray
    sweep: np.ndarray
    y: np.ndarray  # the implementation's values, float64
    exact: np.ndarray  # the exact values (hi part), float64
    rounded: np.ndarray  # correctly rounded reference, float64
    ulp: np.ndarray
    bits: np.ndarray
    failure: np.ndarray
    undefined: np.ndarray
    unsettled: np.ndarray


@dataclass
class Stats:
    """The summary of one function x format x implementation."""

    function: str
    format: str
    impl: str
    from_logits: bool
    n: int
    undefined: int
    unsettled: int
    failures: int
    spurious_zeros: int
    max_ulp: float
    p99_ulp: float
    median_ulp: float
    mean_ulp: float
    max_bits: float
    pct_correctly_rounded: float
    pct_faithful: float
    first_failure: float | None
    first_over_1ulp: float | None
    worst: list = field(default_factory=list)
    note: str = ""
    wrong_sign: int = 0  # points of each kind of :func:`classify` (flushes to 0 are spurious_zeros)
    too_large: int = 0
    max_point: dict | None = None  # the point of max_ulp, described like a worst entry

    def as_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class FunctionAnalysis:
    """One function in one format: the sample, its references and per
    implementation the points and statistics (``None`` where unsupported or
    where the implementation raised; ``errors`` has the latter's message)."""

    sample: Sample
    refs: list[Reference]
    points: dict[str, Points | None]
    stats: dict[str, Stats | None]
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def function(self) -> str:
        return self.sample.function

    @property
    def fmt(self) -> str:
        return self.sample.fmt.name



def references(sample: Sample, progress: Callable[[int], None] | None = None,
               options: ReferenceOptions = DEFAULT_OPTIONS) -> list[Reference]:
    """Correctly rounded references for every group of ``sample``; ``options``
    (cache, workers, executor) change how long they take, never a value."""
    out = []
    for g in sample.groups:
        out.append(reference(sample.function, *g.args, fmt=sample.fmt, from_logits=sample.from_logits, progress=progress,
                             **options.kwargs()))
    return out


def points_of(sample: Sample, refs: list[Reference], ys: list[np.ndarray]) -> Points:
    cols = {k: [] for k in ("coord", "winner", "sweep", "y", "exact", "rounded", "ulp", "bits", "failure", "undefined", "unsettled")}
    for g, ref, y in zip(sample.groups, refs, ys):
        y = np.asarray(y).astype(sample.fmt.dtype)
        with np.errstate(all="ignore"):
            ulp = ref.ulp_error(y).ravel()
            bits = ref.bits_of_error(y).ravel()
        rounded = ref.rounded.astype(np.float64).ravel()
        y64 = y.astype(np.float64).ravel()
        exact = ref.hi.ravel()
        undefined = np.isnan(exact)
        # a correctly overflowing result (exact finite, rounds to inf) is no failure
        fail = ref.failures(y).ravel() & ~(np.isinf(rounded) & (y64 == rounded)) & ~undefined
        cols["coord"].append(g.coord.ravel())
        cols["winner"].append(g.winner.ravel())
        cols["sweep"].append(g.sweep.ravel())
        cols["y"].append(y64)
        cols["exact"].append(exact)
        cols["rounded"].append(rounded)
        cols["ulp"].append(np.where(fail, np.inf, ulp))
        cols["bits"].append(bits)
        cols["failure"].append(fail)
        cols["undefined"].append(undefined)
        cols["unsettled"].append(ref.unsettled.ravel() & ~undefined)
    return Points(**{k: np.concatenate(v) for k, v in cols.items()})


def classify(p: Points) -> np.ndarray:
    """Per point the index into :data:`KINDS` of what happened there:
    failure, flush to 0, wrong sign, too large (no significant digit right),
    or 0 for an ordinary error. Points with an undefined exact value get 0."""
    y, r, x = p.y, p.rounded, p.exact
    with np.errstate(all="ignore"):  # 2|x| overflows to inf near the format's max: still right
        flush = (y == 0) & (r != 0) & ~np.isnan(r)
        sign = (y != 0) & (r != 0) & (np.sign(y) * np.sign(r) < 0)
        # |y - x| >= |x| with y, x of one sign means |y| >= 2|x|; > 1 ulp
        # keeps honest rounding of a tiny x (a subnormal y for x ~ 0) out
        large = (y != 0) & ~sign & (np.abs(y) >= 2 * np.abs(x)) & (p.ulp > 1.0)
    kind = np.select([p.failure, flush, sign, large], [1, 2, 3, 4], 0)
    return np.where(p.undefined, 0, kind).astype(np.int8)


def _point(sample: Sample, p: Points, i: int, kind: np.ndarray) -> dict:
    return {"input": _describe(sample, i), "value": float(p.y[i]), "reference": float(p.rounded[i]),
            "exact": float(p.exact[i]), "ulp": float(p.ulp[i]), "failure": bool(p.failure[i]), "kind": KINDS[kind[i]]}


def _f(v) -> float:
    return float(v) if v is not None else math.nan


def _describe(sample: Sample, flat: int) -> dict:
    """The inputs behind output element ``flat``, as JSON-ready values."""
    for g in sample.groups:
        if flat >= g.size:
            flat -= g.size
            continue
        a = g.args
        if len(a) == 1 and a[0].ndim == 1:
            return {"x": float(a[0][flat])}
        if len(a) == 2 and a[1].ndim == 1:
            return {"y_true": float(a[0][flat]), "y_pred": float(a[1][flat])}
        x = a[-1]
        # softmax-like outputs have one value per entry, the others one per row
        row, col = divmod(flat, x.shape[1]) if g.size == x.size else (flat, None)
        r = x[row].astype(np.float64)
        d = {"row_length": int(r.size), "max": float(np.max(r)), "gap": float(g.coord[flat])}
        d["row"] = [float(v) for v in r] if r.size <= 4 else None
        if col is not None:
            d["index"] = int(col)
        if len(a) == 2:
            d["label"] = int(a[0][row]) if a[0].ndim == 1 else [float(v) for v in a[0][row]] if r.size <= 4 else "one-hot/soft"
        return d
    raise IndexError(flat)


def _threshold(coord: np.ndarray, bad: np.ndarray) -> float | None:
    """The bad sampled coordinate nearest to zero (signed), or None."""
    if not bad.any():
        return None
    c = coord[bad]
    c = c[~np.isnan(c)]
    if c.size == 0:
        return None
    return float(c[np.argmin(np.abs(c))])


def stats_of(sample: Sample, impl: str, p: Points, note: str = "", top_k: int = TOP_K) -> Stats:
    """The summary statistics of one implementation's points."""
    with np.errstate(all="ignore"):  # means of errors near 1e308 ulps overflow to inf, which is the answer
        return _stats_of(sample, impl, p, note, top_k)


def _stats_of(sample: Sample, impl: str, p: Points, note: str, top_k: int) -> Stats:
    valid = ~p.undefined
    ok = valid & ~p.failure
    u = p.ulp[ok]
    b = p.bits[ok & ~p.unsettled]
    n_ok = int(ok.sum())
    spurious = valid & ~p.failure & (p.y == 0) & (p.rounded != 0) & ~np.isnan(p.rounded)
    order = np.lexsort((-np.where(np.isnan(p.ulp), -1, p.ulp), ~p.failure))  # failures first, then largest error
    order = [i for i in order if valid[i]][:top_k]
    kind = classify(p)
    worst = [_point(sample, p, int(i), kind) for i in order]
    at = np.flatnonzero(ok)
    # the first point of the largest error (NaN ulps, unsettled, rank lowest)
    i_max = int(at[np.argmax(np.where(np.isnan(p.ulp[at]), -1.0, p.ulp[at]))]) if at.size else None
    pct = (lambda m: 100.0 * float(m.sum()) / n_ok if n_ok else math.nan)
    return Stats(
        function=sample.function,
        format=sample.fmt.name,
        impl=impl,
        from_logits=sample.from_logits,
        n=int(valid.sum()),
        undefined=int(p.undefined.sum()),
        unsettled=int(p.unsettled.sum()),
        failures=int(p.failure.sum()),
        spurious_zeros=int(spurious.sum()),
        max_ulp=float(u.max()) if u.size else math.nan,
        p99_ulp=float(np.percentile(u, 99)) if u.size else math.nan,
        median_ulp=float(np.median(u)) if u.size else math.nan,
        mean_ulp=float(u.mean()) if u.size else math.nan,
        max_bits=float(b.max()) if b.size else math.nan,
        pct_correctly_rounded=pct(u <= 0.5),
        pct_faithful=pct(u < 1.0),
        first_failure=_threshold(p.coord, p.failure & valid & p.sweep),
        first_over_1ulp=_threshold(p.coord, (p.failure | (p.ulp > 1.0)) & valid & p.sweep),
        worst=worst,
        note=note,
        wrong_sign=int((kind == 3).sum()),
        too_large=int((kind == 4).sum()),
        max_point=None if i_max is None else _point(sample, p, i_max, kind),
    )


def error_text(e: BaseException, limit: int = 200) -> str:
    """``"TypeError: first line of the message"``, at most ``limit`` characters."""
    lines = [t.strip() for t in str(e).splitlines() if t.strip()]
    text = f"{type(e).__name__}: {lines[0]}" if lines else type(e).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _evaluate(impl: Impl, sample: Sample, refs: list[Reference]) -> list[np.ndarray]:
    ys = []
    for g, ref in zip(sample.groups, refs):
        y = impl.evaluate(sample.function, sample.fmt, g.args, sample.from_logits)
        if np.shape(y) != ref.rounded.shape:
            raise ValueError(f"returned shape {np.shape(y)}, expected {ref.rounded.shape}")
        ys.append(y)
    return ys


def analyze_sample(sample: Sample, impls: list[Impl], refs: list[Reference] | None = None,
                   progress: Callable[[int], None] | None = None,
                   options: ReferenceOptions = DEFAULT_OPTIONS) -> FunctionAnalysis:
    """Evaluate every implementation on ``sample`` against its references
    (computed with ``options`` unless ``refs`` are given)."""
    refs = references(sample, progress, options) if refs is None else refs
    points, stats, errors = {}, {}, {}
    for impl in impls:
        try:
            ys = _evaluate(impl, sample, refs)
        except Unsupported:
            points[impl.name] = stats[impl.name] = None
            continue
        except Exception as e:  # a library's failure is one cell's result; stabkit's own is a bug
            if not impl.fail_soft:
                raise
            points[impl.name] = stats[impl.name] = None
            errors[impl.name] = error_text(e)
            continue
        p = points_of(sample, refs, ys)
        points[impl.name] = p
        stats[impl.name] = stats_of(sample, impl.name, p, impl.notes.get((sample.function, sample.fmt.name), ""))
    return FunctionAnalysis(sample, refs, points, stats, errors)


def analyze(function: str, fmt, impls: list[Impl], n: int = 2000, seed: int = 0, *, from_logits: bool = True,
            exhaustive: bool | None = None, progress: Callable[[int], None] | None = None,
            options: ReferenceOptions = DEFAULT_OPTIONS) -> FunctionAnalysis:
    """Sample ``function`` in ``fmt`` and analyse every implementation."""
    sample = make_sample(function, fmt, n, seed, from_logits=from_logits, exhaustive=exhaustive)
    return analyze_sample(sample, impls, progress=progress, options=options)
