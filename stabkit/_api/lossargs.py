"""The losses' public signature: Keras's functional order, the arrays
converted from the caller's types, the positional slots that two libraries
fill differently refused with a hint, and the class axis checked."""

from __future__ import annotations

import functools
import inspect
import operator

import numpy as np

from .arrays import to_numpy, values_in
from .hints import loss_keywords
from .options import flag as _flag

__all__ = ["loss"]


def loss(core, arrays=("y_true", "y_pred", "sample_weight", "class_weight", "pos_weight")):
    """A loss core with the same signature, its array arguments converted
    from the caller's types, and the result in the type of ``y_pred``."""
    sig = inspect.signature(core)
    # a core's private keywords (accurate's _outer) are not the public function's
    sig = sig.replace(parameters=[p for p in sig.parameters.values() if not p.name.startswith("_")])
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
        if ambiguous_fourth and len(args) == 4 and args[3] is None:
            del args[3]  # keras.losses' ignore_class=None, its default (None is no axis)
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
