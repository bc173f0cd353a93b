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

import numpy as np

from .arrays import Caller, cast_dtype, to_numpy, values_in
from .hints import ufunc_options, unknown_keyword
from .lossargs import loss
from .options import flag as _flag, positive as _positive, real as _real
from .axes import Rows
from .masks import dead_rows, empty_sums, filled, filled_float, revived, where_mask

__all__ = ["elementwise", "softplus", "rowwise", "logsumexp", "loss"]


class _NoInput:
    """The default of an input that may come by either of two names."""

    def __repr__(self):
        return "<required>"


_NO_INPUT = _NoInput()

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

    @_public(core, "x", _OPTIONS_DOC + """
``x`` may be passed by name too (``x=``, as jax.nn and keras.ops name it, or
``input=``, PyTorch's name).""")
    def f(*args, dtype=None, **kwargs):
        if len(args) != 1 or kwargs:
            args = (_input_by_name(core.__name__, args, kwargs),)
        a, caller = values_in(args[0], "x")
        return caller.back(core(cast_dtype(a, dtype)))

    # the public signature, (x, *, dtype=None): *args and **kwargs only catch
    # x by name and a ufunc's options
    P = inspect.Parameter
    f.__signature__ = inspect.Signature([P("x", P.POSITIONAL_OR_KEYWORD),
                                         P("dtype", P.KEYWORD_ONLY, default=None)])
    return f


def _input_by_name(name: str, args: tuple, kwargs: dict):
    """An elementwise function's input from a call other than ``f(x)``:
    ``x=`` or ``input=`` by name; a ufunc's ``out``/``where`` (SciPy's
    ``expit(x, out)``), a second input or an unknown keyword is the
    TypeError of :func:`ufunc_options`."""
    named = [k for k in ("x", "input") if k in kwargs]
    if args and named:
        raise TypeError(f"{name}() got the input twice: positionally and as {named[0]}=")
    if len(named) > 1:
        raise TypeError(f"{name}() got the input twice: as x= and as input= (PyTorch's name for x)")
    if not args and not named:
        raise TypeError(f"{name}() missing its input x")
    x = args[0] if args else kwargs.pop(named[0])
    if args[1:] or kwargs:  # SciPy's expit(x, out) or expit(x, out=, where=): say where they are
        ufunc_options(name, args[1:], kwargs)
    return x


def softplus(core, beta_core, threshold_default=None):
    """``softplus(x, beta=1.0, threshold=...)`` (PyTorch's options).

    ``beta_core(a, beta)`` computes ``log(1 + exp(beta*x)) / beta``;
    ``threshold`` (PyTorch's: ``x`` itself where ``beta*x > threshold``) is
    applied when it is not None, and is the tier's own default otherwise.
    """

    @_public(core, "x", _OPTIONS_DOC + """
``input=``: PyTorch's name for ``x``.
``beta``: softplus(beta*x)/beta, beta > 0 (PyTorch's ``beta``). ``threshold``:
where ``beta*x > threshold`` the result is ``x`` itself (PyTorch's
linear regime, decided on the float64 product ``beta*x`` as rounded, as
PyTorch decides on its own; None: no threshold).""")
    def f(x=_NO_INPUT, beta=1.0, threshold=threshold_default, *, dtype=None, **kwargs):
        x = _one_input(core.__name__, x, kwargs)
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

    _required_input(f)
    return f


def _one_input(name: str, x, kwargs: dict, first: str = "x", aliases=("input",)):
    """The input of a call that may name it ``first`` (positionally or by
    name) or by one of ``aliases`` (PyTorch's ``input=``, keras.ops' ``x=``),
    popped from ``kwargs``; any other keyword is :func:`unknown_keyword`'s
    TypeError."""
    named = [k for k in aliases if k in kwargs]
    if x is not _NO_INPUT and named:
        raise TypeError(f"{name}() got the input twice: as {first} and as {named[0]}=")
    if len(named) > 1:
        raise TypeError(f"{name}() got the input twice: as {named[0]}= and as {named[1]}=")
    if named:
        x = kwargs.pop(named[0])
    if kwargs:
        unknown_keyword(name, kwargs)
    if x is _NO_INPUT:
        raise TypeError(f"{name}() missing its input {first}")
    return x


def _required_input(f, first: str = "x"):
    """The public signature: ``first`` required (its default only tells a
    missing input from one given by another name), no ``**kwargs``."""
    P = inspect.Parameter
    params = [p.replace(default=P.empty) if p.name == first else p
              for p in inspect.signature(f).parameters.values() if p.kind != P.VAR_KEYWORD]
    f.__signature__ = inspect.Signature(params)


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

    @_public(core, "x", _OPTIONS_DOC + _ROW_DOC + _DIM_DOC + """
``input=``: PyTorch's name for ``x``.""")
    def f(x=_NO_INPUT, axis=-1, *, where=None, dtype=None, dim=None, **kwargs):
        x = _one_input(core.__name__, x, kwargs)
        axis, _ = _torch_names(axis, -1, dim)
        a, rows, caller, w = _as_rows(x, axis, dtype, where)
        r, dead = rows.rows, dead_rows(w, axis, rows.rows)
        if dead is not None:  # computed on zeros: no spurious 0/0 warnings from them
            r = revived(r, dead, 0.0)
        # the masked entries of a row masked whole too (its sum is empty),
        # as jax.nn gives them; every other entry is unchanged
        y = filled(rows.spread(core(r, axis=-1)).reshape(a.shape), w, fill)
        return caller.back(y)

    _required_input(f)
    return f


def logsumexp(core):
    """SciPy's ``logsumexp(a, axis=None, b=None, keepdims=False,
    return_sign=False)``, plus JAX's ``where=`` and ``dtype=``, around a core
    ``core(x, axis=-1, keepdims=False[, b=, return_sign=])``."""

    @_public(core, "a", _OPTIONS_DOC + _ROW_DOC + """
Defaults follow scipy.special.logsumexp, jax.nn.logsumexp and keras.ops.logsumexp:
``axis=None`` reduces the whole array. ``b``: weights broadcastable to ``a``
(``log(sum(b*exp(a)))``); ``return_sign``: also return the sign of the sum.
``x=``: keras.ops' name for ``a``; ``input=``: PyTorch's.""" + _DIM_DOC)
    def f(a=_NO_INPUT, axis=None, b=None, keepdims=False, return_sign=False, *, where=None, dtype=None, dim=None,
          keepdim=None, x=_NO_INPUT, **kwargs):
        if x is not None and x is not _NO_INPUT:  # None: the default the signature shows
            kwargs["x"] = x
        a = _one_input(core.__name__, a, kwargs, "a", ("x", "input"))
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

    # the public signature: a required, x a keyword-only alias of it
    P = inspect.Parameter
    params = [p.replace(default=P.empty) if p.name == "a" else p.replace(default=None) if p.name == "x" else p
              for p in f.__signature__.parameters.values() if p.kind != P.VAR_KEYWORD]
    f.__signature__ = f.__signature__.replace(parameters=params)
    return f
