"""Input handling shared by the three tiers: formats, axes, labels, shapes."""

from __future__ import annotations

import functools
import operator

import numpy as np

from stabkit.floats import ARITH_FORMATS, Format, get_format, round_float64


def as_input(x, name: str = "x") -> tuple[np.ndarray, Format]:
    """``x`` as an array in one of the arithmetic formats.

    Integers and booleans become float64 (as the contract says); float16,
    bfloat16, float32 and float64 are kept; anything else is a ValueError
    naming the argument and its dtype. Non-native byte order (``>f8`` on a
    little-endian machine) is converted to native order first, exactly; the
    results are then in native order. Complex input is a TypeError instead.
    """
    a = np.asarray(x)
    fmt = _FORMATS.get(a.dtype)
    if fmt is not None:  # a native arithmetic format: nothing to convert or check
        return a, fmt
    if not a.dtype.isnative:
        a = a.astype(a.dtype.newbyteorder("="))
    if a.dtype.kind in "biu":
        a = a.astype(np.float64)
    if a.dtype.kind == "c":
        raise TypeError(f"{name} is complex ({a.dtype}); stabkit's functions take real input only")
    try:
        fmt = get_format(a.dtype)
    except (TypeError, ValueError):
        raise ValueError(f"{name} has unsupported dtype {a.dtype}; use one of {', '.join(ARITH_FORMATS)}") from None
    if fmt.name not in ARITH_FORMATS:
        raise ValueError(f"{name} has unsupported dtype {a.dtype}; use one of {', '.join(ARITH_FORMATS)}")
    _FORMATS[a.dtype] = fmt
    return a, fmt


#: The native arithmetic dtypes seen so far and their formats: a dict lookup
#: instead of get_format's ``dtype.name`` (a Python property, ~1 us) per call
_FORMATS: dict[np.dtype, Format] = {}


def targets_in(y_true, fmt: Format) -> np.ndarray:
    """Soft or binary targets rounded once to the predictions' format (a plain
    ``astype`` rounds float64 -> bfloat16 twice, through float32, with
    ml_dtypes < 0.7)."""
    y = np.asarray(y_true)
    if y.dtype == fmt.dtype:
        return y
    if y.dtype.kind == "c":  # astype would drop the imaginary part with a warning
        raise TypeError(f"y_true is complex ({y.dtype}); stabkit's functions take real input only")
    return round_float64(y.astype(np.float64), fmt)


def last_axis(a: np.ndarray, axis: int) -> np.ndarray:
    """``a`` with ``axis`` moved last (ValueError for a 0-d array or a bad axis)."""
    # the common call, the last axis as an int: ``a`` itself (np.moveaxis would
    # return a view of the same memory in the same order, after ~2 us of checks)
    if type(axis) is int and a.ndim and (axis == -1 or axis == a.ndim - 1):
        return a
    if a.ndim == 0:
        raise ValueError("a row-wise function needs at least a 1-d array, got a scalar")
    try:
        return np.moveaxis(a, axis, -1)
    except np.exceptions.AxisError:
        raise np.exceptions.AxisError(f"axis {axis} is out of bounds for an array of dimension {a.ndim}") from None


def restore_axis(a: np.ndarray, axis: int, ndim: int) -> np.ndarray:
    """Inverse of :func:`last_axis` for an array of the original rank."""
    if type(axis) is int and (axis == -1 or axis == ndim - 1):
        return a
    return np.moveaxis(a, -1, axis if axis >= 0 else ndim + axis)


def check_same_shape(y_true: np.ndarray, y_pred: np.ndarray) -> None:
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true has shape {y_true.shape} but y_pred has shape {y_pred.shape}; they must match")


def sparse_labels(y_true, logits_last: np.ndarray) -> np.ndarray:
    """Validated integer class indices for rows ``logits_last[..., :]``.

    Labels must have the shape of the logits without the class axis, be
    integral (float labels such as 3.0 are accepted, as Keras does) and lie in
    ``[0, n_classes)``; otherwise ValueError naming the offending label.
    """
    y = np.asarray(y_true)
    want = logits_last.shape[:-1]
    if y.shape != want:
        # labels shaped like logits with one more axis, over "logits" shaped
        # like labels: the PyTorch order (logits, target), given to Keras's
        swapped = y.ndim == logits_last.ndim + 1
        hint = (" (the arguments look swapped: the labels come first, then the logits, as in Keras;"
                " torch.nn.functional.cross_entropy takes them the other way round)") if swapped else ""
        raise ValueError(f"labels have shape {y.shape} but the logits need labels of shape {want}{hint}")
    n = logits_last.shape[-1]
    if y.dtype.kind == "f" or y.dtype.kind == "V":
        yf = y.astype(np.float64)
        bad = ~np.isfinite(yf) | (yf != np.round(yf))
        if bad.any():
            raise ValueError(f"label {float(yf[bad].flat[0])!r} is not an integer class index")
        y = yf
    elif y.dtype.kind not in "iub":
        raise ValueError(f"labels have dtype {y.dtype}; expected integer class indices")
    # the range is checked in the labels' own type: a float beyond int64, or
    # a uint64 past 2**63, would wrap in the conversion and be misreported
    out = (y < 0) | (y >= n)
    if out.any():
        raise ValueError(f"label {int(y[out].flat[0])} is out of range for {n} classes")
    return y.astype(np.int64)


def class_key(k, n: int) -> int:
    """A ``class_weight`` dict's key as a class index in ``[0, n)``: an int,
    NumPy's, or a 0-d integer tensor of torch or JAX (all have ``__index__``);
    ValueError otherwise (a bool or a string too)."""
    try:
        c = None if isinstance(k, (bool, np.bool_)) else operator.index(k)
    except TypeError:
        c = None
    if c is None or not 0 <= c < n:
        raise ValueError(f"class_weight has the key {k!r}; its keys must be class indices in [0, {n})")
    return c


def take_label(a: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``a[..., y]`` row by row (``a`` has classes last)."""
    return np.take_along_axis(a, y[..., None], axis=-1)[..., 0]


def xmul(y: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``y * v`` with ``0 * anything = 0`` (the ``0 log 0 = 0`` convention of
    cross-entropy), so a zero label never turns an infinite log into NaN."""
    with np.errstate(invalid="ignore"):
        return np.where(y == 0, np.zeros((), v.dtype), y * v)


def silent(fn):
    """Run a public function under ``np.errstate(all="ignore")``: its edges are
    handled explicitly, so no caller's error state (``all="raise"``) or
    warning filter may turn an intermediate overflow into an exception or a
    RuntimeWarning. (np.errstate is thread- and context-local.)"""

    @functools.wraps(fn)
    def quiet(*args, **kwargs):
        with np.errstate(all="ignore"):
            return fn(*args, **kwargs)

    return quiet
