"""The options of the cross-entropy losses, decided once for the three tiers.

Each tier computes its per-sample losses its own way; what the options mean is
decided here, so that ``naive``, ``stable`` and ``accurate`` agree on it:

* validation: one ValueError or TypeError naming the argument and what it
  accepts; targets outside [0, 1] and predictions that are not probabilities
  (``from_logits=False``) are rejected, NaN is not (it propagates);
* label smoothing (Keras): ``y (1 - ls) + ls / k`` with ``k = 2`` for the
  binary loss and ``k = n_classes`` for the categorical ones;
* weights: class weights (PyTorch's ``weight=``, or Keras's ``class_weight``
  dict) scale the targets; sample weights (Keras) multiply the per-sample
  losses; labels equal to ``ignore_index`` give 0 and do not count;
* the reductions ``none``, ``sum``, ``mean`` (``sum(w l) / sum(w)``, PyTorch's
  with ``weight=``, Keras's ``mean_with_sample_weight``) and
  ``sum_over_batch_size`` (Keras's default, ``sum(w l) / n``), with an
  accurate sum for the accurate tier.
"""

from __future__ import annotations

import numpy as np

from stabkit.floats import ARITH_FORMATS, Format, get_format

from .bcetail import BinaryProbTail, BinaryTail
from .inputs import as_input, class_key, sparse_labels
from .reduction import Plan
from .rowtail import RowTail, take_rows
from .targets64 import binary_parts, categorical_lost, categorical_parts, categorical_targets64, categorical_tiny

REDUCTIONS = ("none", "sum", "mean", "sum_over_batch_size")
#: A row of probabilities may miss a sum of 1 by this much plus ``n``
#: machine epsilons of its format: a float16 softmax of a 1000-class row,
#: divided by a sum rounded in float16, is off by up to ~n eps.
ROW_SUM_SLACK = 1e-2
_LOGITS_HINT = "; if y_pred holds logits, pass from_logits=True"
_F64 = get_format("float64")
#: The bits of 1.0 per dtype, as an unsigned integer (see ``_in_unit_interval``)
_ONE_BITS: dict[np.dtype, np.generic] = {}


# ------------------------------------------------------------ scalar options


def smoothing(value) -> float:
    """``label_smoothing`` as a float in [0, 1]."""
    if type(value) is not float:
        a = np.asarray(value) if not isinstance(value, (str, bytes)) else np.asarray(None)
        if a.ndim != 0 or a.dtype.kind not in "iuf":
            raise TypeError(f"label_smoothing must be a number in [0, 1], got {value!r}")
        value = float(a)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"label_smoothing must lie in [0, 1], got {value!r}")
    return value


def reduction(value) -> str:
    """``reduction`` checked against :data:`REDUCTIONS` (None means ``"none"``,
    as in Keras)."""
    if value is None:
        return "none"
    if not isinstance(value, str) or value not in REDUCTIONS:
        # Keras 3's name for the weighted mean (its "mean" is sum_over_batch_size)
        hint = " (Keras's 'mean_with_sample_weight' is 'mean' here)" if value == "mean_with_sample_weight" else ""
        raise ValueError(f"reduction must be one of {', '.join(map(repr, REDUCTIONS))}; got {value!r}{hint}")
    return value


def ignored_label(ignore_index, ignore_class=None):
    """The ignored label (PyTorch's ``ignore_index``, Keras's ``ignore_class``)
    as an int, or None."""
    name, value = "ignore_index", ignore_index
    if ignore_class is not None:
        if ignore_index is not None and ignore_index != ignore_class:
            raise ValueError(f"ignore_index={ignore_index!r} and ignore_class={ignore_class!r} disagree; pass one of them")
        name, value = "ignore_class", ignore_class
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer label or None, got {value!r}")
    return int(value)


# ------------------------------------------------------------ weights


def _numbers(value, name: str) -> np.ndarray:
    a, _ = as_input(value, name)
    return np.asarray(a, dtype=np.float64)


def _non_negative(w: np.ndarray, name: str) -> np.ndarray:
    if (w < 0).any():
        raise ValueError(f"{name} must be non-negative, got {float(w[w < 0].flat[0])!r}")
    return w


def sample_weights(value, shape: tuple) -> np.ndarray | None:
    """``sample_weight`` broadcast to the per-sample loss shape (float64).

    Broadcasting is NumPy's (trailing axes), after dropping a trailing axis
    of size 1 that the losses lack (Keras's ``(batch, 1)`` weights). Weights
    with fewer axes than the loss whose shape is the loss's leading axes
    (``(N,)`` on an ``(N, C)`` loss: Keras weighs rows) are never read
    NumPy's way silently: where NumPy's rules would also fit (``N == C``)
    the weights are refused as ambiguous, elsewhere the error says to
    reshape them to ``(N, 1)``."""
    if value is None:
        return None
    w = _numbers(value, "sample_weight")
    if w.ndim == len(shape) + 1 and w.shape[-1] == 1:
        w = w[..., 0]
    # Keras's reading: w along the leading axes (its shape padded with 1s)
    lead = 0 < w.ndim < len(shape) and w.shape == shape[: w.ndim] and any(d != 1 for d in w.shape)
    per_sample = w.shape + (1,) * (len(shape) - w.ndim)
    try:
        out = np.broadcast_to(w, shape)
    except ValueError:
        hint = f"; for one weight per sample pass shape {per_sample}" if lead else ""
        raise ValueError(f"sample_weight has shape {w.shape}, which does not broadcast to the per-sample "
                         f"loss shape {shape} (NumPy's rules: trailing axes){hint}") from None
    if lead and per_sample != (1,) * (len(shape) - w.ndim) + w.shape:
        per_output = (1,) * (len(shape) - w.ndim) + w.shape
        raise ValueError(f"sample_weight of shape {w.shape} is ambiguous for the per-sample loss shape {shape}: "
                         f"pass shape {per_sample} for one weight per sample (Keras's reading, leading axes) "
                         f"or {per_output} for one weight per output (NumPy's, trailing axes)")
    return out


def class_weights(value, n: int) -> np.ndarray | None:
    """One non-negative float64 weight per class from a sequence of ``n``
    weights or a dict ``{class: weight}`` (missing classes weigh 1, as in
    Keras's ``fit(class_weight=...)``)."""
    if value is None:
        return None
    if isinstance(value, dict):
        w = np.ones(n)
        for k, v in value.items():
            c = class_key(k, n)
            w[c] = _numbers(v, f"class_weight[{c}]")
    else:
        w = _numbers(value, "class_weight")
        if w.shape != (n,):
            raise ValueError(f"class_weight needs one weight per class ({n}), got shape {w.shape}")
    return _non_negative(w, "class_weight")


def pos_weights(value, shape: tuple) -> np.ndarray | None:
    """``pos_weight`` (PyTorch's): non-negative, broadcast to the predictions'
    shape over the trailing axes (one weight per output column)."""
    if value is None:
        return None
    w = _non_negative(_numbers(value, "pos_weight"), "pos_weight")
    try:
        return np.broadcast_to(w, shape)
    except ValueError:
        raise ValueError(f"pos_weight has shape {w.shape}, which does not broadcast to y_pred's shape {shape}") from None


# ------------------------------------------------------------ targets and predictions


def _range(a: np.ndarray) -> tuple[float, float]:
    """Smallest and largest entry, NaN ignored (NaN, NaN for all-NaN)."""
    if a.size == 0:
        return 0.0, 0.0
    lo, hi = float(np.min(a)), float(np.max(a))
    if lo != lo or hi != hi:
        # a NaN somewhere: the rest's range. Not np.fmin/np.fmax: a signalling
        # NaN makes their reduction drop other entries (fmax.reduce([sNaN, 2,
        # 0.5]) is 0.5), which let a probability of 2 through
        rest = a[~np.isnan(a)]
        lo, hi = (float(np.min(rest)), float(np.max(rest))) if rest.size else (np.nan, np.nan)
    return lo, hi


def _in_unit_interval(a: np.ndarray) -> bool:
    """True if every entry of ``a`` is surely in [+0, 1], in one pass over
    memory; False means "look closer" (an entry out of range, a NaN, a -0.0,
    or a dtype this test does not read)."""
    if a.size == 0:
        return True
    one = _ONE_BITS.get(a.dtype)
    if one is None:
        if not (a.dtype.isnative and a.dtype.name in ARITH_FORMATS):
            return False
        one = _ONE_BITS[a.dtype] = np.ones((), a.dtype).view(f"u{a.dtype.itemsize}")
    # IEEE patterns of non-negative floats, read as unsigned integers, are
    # ordered as the values; every negative value (-0.0 too) has its sign bit
    # set and every NaN lies above +inf, so all patterns <= that of 1.0 means
    # all values in [+0, 1]: one integer maximum (SIMD, any format) instead of
    # a float minimum and maximum (two passes; 100x slower in float16)
    return bool(np.maximum.reduce(a.view(one.dtype), axis=None) <= one)  # np.max, without its Python layer


def check_targets(y: np.ndarray) -> None:
    """Binary or soft targets must lie in [0, 1] (NaN passes, and propagates)."""
    if _in_unit_interval(y):
        return
    lo, hi = _range(y)
    if lo < 0 or hi > 1:
        # values past both ends look like logits: PyTorch's (input, target) order
        hint = (" (the targets come first, then the predictions, as in Keras; PyTorch's losses take them the other"
                " way round)") if lo < 0 and hi > 1 else ""
        raise ValueError(f"y_true must hold targets in [0, 1]; it holds values in [{lo:g}, {hi:g}]{hint}")


class BlockTargets:
    """:func:`check_targets` of ``y`` one block of rows at a time, where the
    block is about to be read anyway (a separate pass over the targets of a
    1000x1000 float32 loss cost 7-9% of the call, the labels coming from
    memory twice): the one-pass bit test per block, and :func:`check_targets`
    of the whole ``y`` (its message, its range) the first time a block does
    not pass it; blocks holding NaN or -0.0 then cost nothing more."""

    def __init__(self, y: np.ndarray):
        self.y, self.whole = y, False

    def __call__(self, block: np.ndarray) -> None:
        if not self.whole and not _in_unit_interval(block):
            check_targets(self.y)
            self.whole = True


def check_probabilities(p: np.ndarray) -> None:
    """Predictions taken as probabilities must lie in [0, 1]."""
    if _in_unit_interval(p):
        return
    lo, hi = _range(p)
    if lo < 0 or hi > 1:
        raise ValueError(f"y_pred must hold probabilities in [0, 1] with from_logits=False; "
                         f"it holds values in [{lo:g}, {hi:g}]" + _LOGITS_HINT)


def check_rows(p_last: np.ndarray, fmt: Format) -> None:
    """Rows of probabilities (classes last) must lie in [0, 1] and sum to 1
    within ``ROW_SUM_SLACK + n eps``; rows holding a NaN pass."""
    n = p_last.shape[-1]
    if n == 0 or p_last.size == 0:
        return
    check_probabilities(p_last)
    s = np.sum(p_last, axis=-1, dtype=np.float64)
    tol = ROW_SUM_SLACK + n * 2.0 ** (1 - fmt.precision)
    bad = np.abs(s - 1.0) > tol
    if bad.any():
        at = np.unravel_index(np.flatnonzero(bad)[0], bad.shape)
        row = f"the row at {tuple(map(int, at))}" if at else "the row"
        raise ValueError(f"y_pred rows must sum to 1 with from_logits=False (within {tol:.3g}); {row} sums "
                         f"to {float(s[at]):.6g}: normalise the rows" + _LOGITS_HINT)


def labels(y_true, p_last: np.ndarray, ignore: int | None) -> tuple[np.ndarray, np.ndarray | None]:
    """Validated int64 labels for rows ``p_last`` and the mask of the kept
    ones (None when nothing is ignored). Labels of shape ``(batch, 1)`` for
    rows ``(batch, n)`` are accepted (Keras pipelines); ignored labels may lie
    outside ``[0, n)`` (PyTorch's -100) and become 0 here."""
    y = np.asarray(y_true)
    want = p_last.shape[:-1]
    if y.shape == want + (1,):
        y = y[..., 0]
    if ignore is None or y.dtype.kind not in "biuf":
        return sparse_labels(y, p_last), None
    keep = y != ignore
    return sparse_labels(np.where(keep, y, 0), p_last), keep


# ------------------------------------------------------------ smoothing


def smooth(y: np.ndarray, ls: float, k: int) -> np.ndarray:
    """Keras's smoothing ``y (1 - ls) + ls / k`` in ``y``'s format (the naive
    and stable tiers)."""
    if ls == 0.0:
        return y
    one = np.ones((), y.dtype)
    return y * (one - y.dtype.type(ls)) + y.dtype.type(ls / k)


def one_hot(y: np.ndarray, n: int, keep: np.ndarray | None, dtype) -> np.ndarray:
    """One-hot rows of ``n`` classes for labels ``y``; ignored rows all 0."""
    out = np.zeros(y.shape + (n,), dtype=dtype)
    np.put_along_axis(out, y[..., None], np.ones((), dtype), axis=-1)
    if keep is not None:
        out[~keep] = 0
    return out


def _along(w: np.ndarray, axis: int, ndim: int) -> np.ndarray:
    """Per-class weights shaped to broadcast along ``axis`` of an ``ndim`` array."""
    shape = [1] * ndim
    shape[axis] = w.size
    return w.reshape(shape)


class Options:
    """The checked options of one call: ``ls`` (label smoothing), ``cw``
    (class weights), ``pos`` (positive-class weights), ``plan`` (weights and
    reduction), ``targets`` (the categorical loss's :class:`BlockTargets`);
    ``plain`` when none is used (the tiers' fast path)."""

    def __init__(self, ls=0.0, cw=None, pos=None, plan=None, targets=None):
        self.ls, self.cw, self.pos, self.plan, self.targets = ls, cw, pos, plan, targets
        self.plain = ls == 0.0 and cw is None and pos is None and (plan is None or plan.trivial)

    def binary_targets(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The weights ``(a, b)`` of ``-(a log p + b log(1 - p))`` in ``y``'s
        format: ``a = pos_weight * y'``, ``b = 1 - y'`` (``y'`` smoothed)."""
        y = smooth(y, self.ls, 2)
        a = y if self.pos is None else self.pos.astype(y.dtype) * y
        return a, np.ones((), y.dtype) - y

    def categorical_targets(self, y: np.ndarray, axis: int) -> np.ndarray:
        """Smoothed, class-weighted targets in ``y``'s format (classes on ``axis``)."""
        y = smooth(y, self.ls, y.shape[axis])
        return y if self.cw is None else y * _along(self.cw, axis, y.ndim).astype(y.dtype)

    def per_sample(self, fmt: Format) -> Format:
        """The format the accurate tier keeps the weighed per-sample losses
        in: ``fmt`` itself, or float64 where a reduction follows (rounding
        each term to a narrower format first rounded twice, 1.25 ulp, and
        let a term under a tiny or huge weight underflow or overflow there:
        a float16 mean of 708.5 came out inf)."""
        return fmt if self.plan is None or self.plan.serves == "none" else _F64

    def finish(self, loss: np.ndarray, fmt: Format, accurate: bool = False, weighed: bool = False) -> np.ndarray:
        """Weigh (unless the accurate tier did, ``weighed``) and reduce."""
        if self.plan is None or self.plan.trivial:
            return loss
        return self.plan.reduce(loss if weighed else self.plan.weigh(loss), fmt, accurate)


def binary_options(y, p, from_logits, label_smoothing, sample_weight, pos_weight, red) -> Options:
    """Checks of the binary loss's targets, predictions and options."""
    check_targets(y)
    if not from_logits:
        check_probabilities(p)
    ls, red = smoothing(label_smoothing), reduction(red)
    plan = Plan(red, p.shape, sample=sample_weights(sample_weight, p.shape))
    pos = pos_weights(pos_weight, p.shape)
    # read by the accurate tier only (Plan.apply64)
    plan.tail = (BinaryTail if from_logits else BinaryProbTail)(y, p, ls, pos, binary_parts)
    return Options(ls, None, pos, plan)


def categorical_options(y, p_last, fmt, from_logits, label_smoothing, class_weight, sample_weight, red, axis,
                        by_block=False) -> Options:
    """Checks of the categorical loss's inputs and options; the ``mean``
    divisor's class weight of a row is ``sum_c w_c y_c`` (``w_y`` for one-hot
    rows, as PyTorch's with class indices). With ``by_block`` the targets
    are checked by the caller, block by block, through ``Options.targets``
    (a :class:`BlockTargets`)."""
    targets = BlockTargets(y)
    if not by_block:
        targets(y)
    if not from_logits:
        check_rows(p_last, fmt)
    ls, red = smoothing(label_smoothing), reduction(red)
    shape = p_last.shape[:-1]
    cw = class_weights(class_weight, p_last.shape[-1])
    class_of = None
    if cw is not None and red == "mean":
        class_of = np.moveaxis(np.asarray(y, dtype=np.float64), axis, -1) @ cw
    plan = Plan(red, shape, sample=sample_weights(sample_weight, shape), class_of=class_of)
    # read by the accurate tier only (Plan.apply64): subnormal row losses under large weights
    y_last = np.moveaxis(np.asarray(y), axis, -1)
    tiny = categorical_tiny(y_last, ls, cw)
    plan.tail = RowTail(p_last, 1.0 if cw is None else float(cw.max(initial=1.0)),
                        targets=lambda rows: categorical_targets64(take_rows(y_last, rows), ls, cw),
                        probs=not from_logits,
                        parts=(lambda rows: categorical_parts(take_rows(y_last, rows), ls, cw)) if tiny else None,
                        lost=(lambda rows: categorical_lost(take_rows(y_last, rows), ls, cw).any(axis=-1)) if tiny else None)
    return Options(ls, cw, None, plan, targets)


def sparse_options(y_true, p_last, fmt, from_logits, ignore, class_weight, sample_weight, label_smoothing, red):
    """Labels (int64, ignored ones 0) and the checked options of the sparse
    loss; the ``mean`` divisor's class weight of a sample is ``w_y``."""
    y, keep = labels(y_true, p_last, ignore)
    if not from_logits:
        check_rows(p_last, fmt)
    ls, red = smoothing(label_smoothing), reduction(red)
    shape = p_last.shape[:-1]
    cw = class_weights(class_weight, p_last.shape[-1])
    class_of = cw[y] if cw is not None else None
    plan = Plan(red, shape, sample=sample_weights(sample_weight, shape), keep=keep, class_of=class_of)
    if not ls:  # with smoothing, the categorical loss runs (and its tail)
        plan.tail = RowTail(p_last, 1.0, labels=y.reshape(-1), cw=cw, probs=not from_logits)
    return y, Options(ls, cw, None, plan)
