"""The public signatures, shared by the three tiers.

Each tier writes *cores*: functions of NumPy arrays in one of the four
formats, computing along one int axis. The wrappers here give them the
signatures SciPy, JAX, Keras and PyTorch users write (``axis`` as an int, a
tuple or None; scalars and 0-d arrays; ``keepdims``; ``where=``; ``dtype=``;
torch tensors and JAX arrays in and out) without any arithmetic of their own,
so every tier answers the same call the same way and only the cores differ.
"""

from __future__ import annotations

import functools
import inspect
import operator

import numpy as np

from .arrays import Caller, cast_dtype, to_numpy, values_in
from .hints import loss_keywords, ufunc_options
from .axes import Rows
from .masks import dead_rows, empty_sums, filled, filled_float, revived, where_mask

__all__ = ["elementwise", "softplus", "rowwise", "logsumexp", "loss"]

_OPTIONS_DOC = """
Conventions (all tiers): ``x`` may be a NumPy array or scalar, a (nested)
list, a PyTorch CPU tensor or a JAX CPU array; the result has the caller's
type (a NumPy scalar for a scalar or 0-d input; np.matrix is read as an
ndarray, a masked array refused: pass ``x.data`` with ``where=``). ``dtype``
casts the input to float16, bfloat16, float32 or float64 first (one rounding)."""

_ROW_DOC = """
``axis``: an int, a tuple of ints (those axes together form one row) or None
(the whole array is one row). ``where``: a boolean mask broadcastable to
``x``; entries where it is False are left out, as ``-inf`` logits (softmax 0,
log-softmax -inf there)."""


def _public(core, sig: str, doc: str):
    """Decorate a wrapper: the core's name and docstring, the public
    signature (for ``help`` and ``inspect``), and the conventions appended."""

    def decorate(fn):
        functools.update_wrapper(fn, core)
        del fn.__wrapped__  # inspect must show the public signature, not the core's
        fn.__signature__ = inspect.signature(fn)
        fn.__doc__ = (core.__doc__ or "").rstrip() + "\n" + doc
        fn.__core__ = core
        return fn

    return decorate


def elementwise(core):
    """``f(x, /, *, dtype=None)`` around an elementwise core ``core(x)``."""

    @_public(core, "x", _OPTIONS_DOC)
    def f(x, /, *args, dtype=None, **kwargs):
        if args or kwargs:  # SciPy's expit(x, out) or expit(x, out=, where=): say where they are
            ufunc_options(core.__name__, args, kwargs)
        a, caller = values_in(x, "x")
        return caller.back(core(cast_dtype(a, dtype)))

    # the public signature, (x, /, *, dtype=None): *args and **kwargs only catch a ufunc's options
    sig = f.__signature__
    f.__signature__ = sig.replace(parameters=[p for p in sig.parameters.values()
                                              if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)])
    return f


def softplus(core, beta_core, threshold_default=None):
    """``softplus(x, /, beta=1.0, threshold=...)`` (PyTorch's options).

    ``beta_core(a, beta)`` computes ``log(1 + exp(beta*x)) / beta``;
    ``threshold`` (PyTorch's: ``x`` itself where ``beta*x > threshold``) is
    applied when it is not None, and is the tier's own default otherwise.
    """

    @_public(core, "x", _OPTIONS_DOC + """
``beta``: softplus(beta*x)/beta, beta > 0 (PyTorch's ``beta``). ``threshold``:
where ``beta*x > threshold`` the result is ``x`` itself (PyTorch's
linear regime; None: no threshold).""")
    def f(x, /, beta=1.0, threshold=threshold_default, *, dtype=None):
        a, caller = values_in(x, "x")
        a = cast_dtype(a, dtype)
        beta = _positive(beta, "beta")
        threshold = None if threshold is None else _real(threshold, "threshold")
        y = core(a) if beta == 1.0 else beta_core(a, beta)
        if threshold is not None:
            y = np.asarray(y)
            with np.errstate(over="ignore", invalid="ignore"):
                lin = np.asarray(a, np.float64) * beta > threshold
            if lin.any():
                y = np.where(lin, a, y).astype(y.dtype)
        return caller.back(y)

    return f


def _real(v, name: str) -> float:
    """A real number option as a float: TypeError for strings, bools and
    arrays of more than one value, ValueError for NaN."""
    if type(v) is float and v == v:  # the common call: a float, not NaN
        return v
    if isinstance(v, (str, bytes, bool, np.bool_)) or np.ndim(v) != 0:
        raise TypeError(f"{name} must be a number, got {v!r}")
    try:
        f = float(v)
    except (TypeError, ValueError, OverflowError):
        raise TypeError(f"{name} must be a number, got {v!r}") from None
    if np.isnan(f):
        raise ValueError(f"{name} must be a number, got NaN")
    return f


def _positive(v, name: str) -> float:
    v = _real(v, name)
    if not (v > 0 and np.isfinite(v)):
        raise ValueError(f"{name} must be a positive finite number, got {v!r}")
    return v


def _rows_of(a: np.ndarray, axis) -> Rows:
    """The rows of ``a`` along ``axis``; a 0-d array is one row of one, read
    as a 1-d array (axis 0, -1, None or (), as NumPy's reductions of a 0-d
    array accept; any other axis is out of bounds)."""
    if a.ndim:
        return Rows(a, axis)
    try:
        return Rows(a.reshape(1), axis)
    except ValueError as e:  # "... of dimension 1" would name the row, not the input
        raise type(e)(str(e).replace("for an array of dimension 1",
                                        "for a 0-d input (a row of one: axis 0, -1, None or ())")) from None


def _flag(v, name: str) -> bool:
    """A bool option (True/False, NumPy's bools, 0 or 1); TypeError otherwise."""
    if isinstance(v, (bool, np.bool_)) or (isinstance(v, int) and v in (0, 1)):
        return bool(v)
    raise TypeError(f"{name} must be True or False, got {v!r}")


def _as_rows(x, axis, dtype, where, name="x"):
    """The input, masked by ``where`` (-inf), its rows, the caller and the
    mask (:func:`where_mask`, None for none)."""
    a, caller = values_in(x, name)
    a = cast_dtype(a, dtype)
    w = where_mask(where, a.shape)
    a = filled_float(a, w, -np.inf)
    return a, _rows_of(a, axis), caller, w


def _torch_names(axis, default, dim, keepdims=None, keepdim=None):
    """``axis`` (and ``keepdims``) with PyTorch's spellings ``dim=`` and
    ``keepdim=`` taken as aliases; giving both spellings of one option,
    each other than its default, is a TypeError naming them."""
    if dim is not None:
        if axis is not default and not (isinstance(axis, int) and axis == default):
            raise TypeError(f"give the axis once: axis={axis!r} and dim={dim!r} (dim is PyTorch's name for axis)")
        axis = dim
    if keepdim is not None:
        if keepdims is not False:
            raise TypeError("give keepdims once: keepdims and keepdim (PyTorch's name for it) were both passed")
        keepdims = keepdim
    return axis, keepdims


_DIM_DOC = """
``dim`` (and ``keepdim``): PyTorch's names for ``axis`` (and ``keepdims``)."""


def rowwise(core):
    """``f(x, axis=-1, *, where=None, dtype=None, dim=None)`` around a
    row-wise core ``core(x, axis=-1)`` (softmax, log-softmax)."""

    # what a masked entry gives: exp(-inf) = 0, or its log, -inf
    fill = -np.inf if core.__name__ == "log_softmax" else 0.0

    @_public(core, "x", _OPTIONS_DOC + _ROW_DOC + _DIM_DOC)
    def f(x, axis=-1, *, where=None, dtype=None, dim=None):
        axis, _ = _torch_names(axis, -1, dim)
        a, rows, caller, w = _as_rows(x, axis, dtype, where)
        r, dead = rows.rows, dead_rows(w, axis, rows.rows)
        if dead is not None:  # computed on zeros: no spurious 0/0 warnings from them
            r = revived(r, dead, 0.0)
        # the masked entries of a row masked whole too (its sum is empty),
        # as jax.nn gives them; every other entry is unchanged
        y = filled(rows.spread(core(r, axis=-1)).reshape(a.shape), w, fill)
        return caller.back(y)

    return f


def logsumexp(core):
    """SciPy's ``logsumexp(a, axis=None, b=None, keepdims=False,
    return_sign=False)``, plus JAX's ``where=`` and ``dtype=``, around a core
    ``core(x, axis=-1, keepdims=False[, b=, return_sign=])``."""

    @_public(core, "a", _OPTIONS_DOC + _ROW_DOC + """
Defaults follow scipy.special.logsumexp, jax.nn.logsumexp and keras.ops.logsumexp:
``axis=None`` reduces the whole array. ``b``: weights broadcastable to ``a``
(``log(sum(b*exp(a)))``); ``return_sign``: also return the sign of the sum.""" + _DIM_DOC)
    def f(a, axis=None, b=None, keepdims=False, return_sign=False, *, where=None, dtype=None, dim=None,
          keepdim=None):
        axis, keepdims = _torch_names(axis, None, dim, keepdims, keepdim)
        keepdims = _flag(keepdims, "keepdims" if keepdim is None else "keepdim")
        return_sign = _flag(return_sign, "return_sign")  # "False" is a true string
        arr, caller = values_in(a, "a")
        if caller.kind == "pandas":  # a reduction is NumPy's, as in SciPy (keepdims or not)
            caller = Caller()
        arr = cast_dtype(arr, dtype)
        kwargs = {}
        if isinstance(b, (bool, np.bool_)):
            # a weight of True or False is a slip: torch.logsumexp(x, dim, keepdim)
            # and keras.ops.logsumexp(x, axis, keepdims) pass keepdims third,
            # where SciPy's order (kept here) has b; as a weight it would
            # silently give -inf (False) or drop keepdims (True)
            raise TypeError(f"b is {b!r}, a bool: the third argument is SciPy's weights b, not torch's keepdim; "
                            f"write keepdims={b!r} by name")
        if b is not None:
            bw, _ = to_numpy(b, "b")
            try:  # both may grow, as in SciPy
                shape = np.broadcast_shapes(arr.shape, bw.shape)
            except ValueError:
                raise ValueError(f"b has shape {bw.shape}, which does not broadcast with a's {arr.shape}") from None
            arr, bw = np.broadcast_to(arr, shape), np.broadcast_to(bw, shape)
        w = where_mask(where, arr.shape)
        if b is not None:
            # a masked entry is left out of the sum: weight 0 as well as -inf
            kwargs["b"] = _rows_of(filled_float(bw, w, 0.0), axis).rows
        arr = filled_float(arr, w, -np.inf)
        rows = _rows_of(arr, axis)
        r, dead = rows.rows, dead_rows(w, axis, rows.rows)
        if dead is not None:
            # a row masked whole is an empty sum: -inf, sign 0 (jax.nn's,
            # and SciPy's with b = 0), set below; the core computes it from
            # zeros (weights 1), not from log(0) and its divide warning
            r = revived(r, dead, 0.0)
            if b is not None:
                kwargs["b"] = revived(kwargs["b"], dead, 1.0)
        if return_sign:
            kwargs["return_sign"] = True
        out = core(r, axis=-1, keepdims=False, **kwargs)
        if dead is not None:
            out = empty_sums(out, dead, return_sign)

        def fix(v):
            return v.reshape(()) if arr.ndim == 0 else rows.reduced(v, keepdims)

        if return_sign:
            return caller.back(tuple(fix(np.asarray(v)) for v in out))
        return caller.back(fix(np.asarray(out)))

    return f


def loss(core, arrays=("y_true", "y_pred", "sample_weight", "class_weight", "pos_weight")):
    """A loss core with the same signature, its array arguments converted
    from the caller's types, and the result in the type of ``y_pred``."""
    sig = inspect.signature(core)
    bind = _binder(sig)

    has_axis = "axis" in sig.parameters
    # the sparse loss: its axis is the fourth parameter, where keras.losses has ignore_class
    ambiguous_fourth = "ignore_class" in sig.parameters and bind.index.get("axis") == 3

    @functools.wraps(core)
    def f(*args, **kwargs):
        args = list(args)
        loss_keywords(core.__name__, kwargs, has_axis)
        if not bind(args, kwargs):
            # inspect's binding, for its error message (a call the quick check
            # accepts binds the same way)
            try:
                bound = sig.bind(*args, **kwargs)
            except TypeError as e:
                raise TypeError(f"{core.__name__}(): {e}") from None
            args, kwargs = list(bound.args), bound.kwargs
        caller = None
        for name in arrays:
            i = bind.index.get(name, len(args))
            value = args[i] if i < len(args) else kwargs.get(name)
            if isinstance(value, dict) and name != "class_weight":
                raise TypeError(f"{name} must be an array or a number, got a dict (only class_weight takes "
                                "{class: weight})")
            # a dict of class weights ({class: weight}, as Keras's fit takes) stays a dict
            if (value is not None or name in ("y_true", "y_pred")) and not isinstance(value, dict):
                value, c = values_in(value, name) if name == "y_pred" else to_numpy(value, name)
                if value.dtype.kind in "USO":  # strings: NumPy's own message would not name the argument
                    raise TypeError(f"{name} must hold numbers, got an array of {value.dtype}")
                if i < len(args):
                    args[i] = value
                else:
                    kwargs[name] = value
                if name == "y_pred":
                    caller = c
        if ambiguous_fourth and len(args) > 3:
            # keras.losses' order puts ignore_class fourth, keras.ops' puts the
            # axis there: both ints, so either reading would silently misread
            # the other library's call (class 1 not ignored, or rows taken
            # along the batch axis)
            v = int(args[3]) if isinstance(args[3], (int, np.integer)) else args[3]
            raise TypeError(f"{core.__name__}(): a fourth positional argument is ambiguous: keras.losses passes "
                            f"ignore_class there, keras.ops the axis; write ignore_class={v!r} or axis={v!r} by name")
        i = bind.index.get("label_smoothing", len(args))
        if has_axis and i < len(args) and isinstance(args[i], (int, np.integer)) and not isinstance(args[i], bool):
            # keras.losses' order puts label_smoothing fourth, keras.ops' puts
            # the axis there: an int is an axis, which as a smoothing would
            # silently smooth every row (1) or leave the axis at -1 (0)
            v = int(args[i])
            raise TypeError(f"{core.__name__}(): the fourth argument is label_smoothing (keras.losses' order), got "
                            f"the int {v}; keras.ops passes the axis there: write axis={v} by name "
                            f"(or label_smoothing={float(v)!r} to smooth)")
        i = bind.index["from_logits"]
        if i < len(args):
            args[i] = _flag(args[i], "from_logits")
        elif "from_logits" in kwargs:
            kwargs["from_logits"] = _flag(kwargs["from_logits"], "from_logits")
        if has_axis:
            i, y_pred = bind.index["axis"], args[1] if len(args) > 1 else kwargs.get("y_pred")
            if i < len(args):
                args[i] = _class_axis(args[i], y_pred)
            elif "axis" in kwargs:
                kwargs["axis"] = _class_axis(kwargs["axis"], y_pred)
        y = core(*args, **kwargs)
        return caller.back(y) if caller is not None else y

    del f.__wrapped__
    f.__signature__ = sig
    f.__core__ = core
    return f


def _class_axis(axis, y_pred) -> int:
    """A loss's class axis: one int within ``y_pred``'s rank (a 0-d
    ``y_pred`` counts as 1-d), else ValueError; TypeError for anything but
    an int (None, a tuple, a float, and a bool, as NumPy refuses it)."""
    try:
        if isinstance(axis, (bool, np.bool_)):
            raise TypeError
        ax = operator.index(axis)
    except TypeError:
        raise TypeError(f"axis must be one int (the class axis), got {axis!r}") from None
    ndim = max(np.ndim(y_pred), 1)
    if not -ndim <= ax < ndim:
        raise np.exceptions.AxisError(f"axis {ax} is out of bounds for predictions of dimension {ndim}")
    return ax


def _binder(sig: inspect.Signature):
    """``bind(args, kwargs)``: True if the call binds to ``sig`` (at most as
    many positional arguments as it has, known keywords not given twice, every
    required parameter given), as ``sig.bind`` would decide in ~10 us.
    ``bind.index`` maps each positional parameter to its position."""
    params = list(sig.parameters.values())
    P = inspect.Parameter
    positional = [p.name for p in params if p.kind in (P.POSITIONAL_ONLY, P.POSITIONAL_OR_KEYWORD)]
    keywords = {p.name for p in params if p.kind in (P.POSITIONAL_OR_KEYWORD, P.KEYWORD_ONLY)}
    required = [p.name for p in params if p.default is P.empty and p.kind not in (P.VAR_POSITIONAL, P.VAR_KEYWORD)]
    index = {name: i for i, name in enumerate(positional)}
    variadic = any(p.kind in (P.VAR_POSITIONAL, P.VAR_KEYWORD) for p in params)

    def bind(args, kwargs) -> bool:
        n = len(args)
        if variadic or n > len(positional):
            return False
        for k in kwargs:
            if k not in keywords or index.get(k, n) < n:
                return False
        return all(index.get(r, n) < n or r in kwargs for r in required)

    bind.index = index
    return bind
