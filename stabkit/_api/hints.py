"""Calls spelled for another library, answered with stabkit's spelling: a
ufunc's ``out=``/``where=`` on an elementwise function, and the keywords of
PyTorch's and optax's losses."""

from __future__ import annotations

__all__ = ["ufunc_options", "loss_keywords", "unknown_keyword"]


def ufunc_options(name: str, args: tuple, kwargs: dict):
    """The TypeError for a ufunc's call on an elementwise function: Python's
    own words, and where ``out=`` and ``where=`` are taken."""
    hint = f"; stabkit.ufuncs.{name} is the same function (the accurate tier's bits) as a NumPy ufunc, with out= and where="
    if args:
        raise TypeError(f"{name}() takes 1 positional argument but {1 + len(args)} were given{hint}")
    key = next(iter(kwargs))
    raise TypeError(f"{name}() got an unexpected keyword argument {key!r}" + (hint if key in ("out", "where") else ""))


#: keywords of other libraries' losses that stabkit spells differently: the hint
_LOSS_HINTS = {
    "weight": "PyTorch's weight= is class_weight= here (one weight per class; per-sample weights: sample_weight=)",
    "target": "the labels come first, as y_true (Keras's order), then the predictions, y_pred",
    "input": "the labels come first, as y_true (Keras's order), then the predictions, y_pred",
    "logits": "the predictions are y_pred, with from_logits=True",
    "labels": "the labels are y_true (the first argument)",
}


def loss_keywords(name: str, kwargs: dict, has_axis: bool) -> None:
    """PyTorch's ``dim=`` as ``axis=`` on the categorical losses (in place),
    and a TypeError that names stabkit's spelling for a keyword of another
    library's loss."""
    if "dim" in kwargs and has_axis:
        if "axis" in kwargs:
            raise TypeError(f"{name}(): give the axis once: axis={kwargs['axis']!r} and dim={kwargs['dim']!r}"
                            " (dim is PyTorch's name for axis)")
        kwargs["axis"] = kwargs.pop("dim")
    for k in kwargs:
        if k in _LOSS_HINTS:
            hint = _LOSS_HINTS[k]
            if k == "weight" and not has_axis:  # binary_cross_entropy's weight: per element
                hint = "PyTorch's weight= is sample_weight= here (positive-class weights: pos_weight=)"
            raise TypeError(f"{name}() got an unexpected keyword argument {k!r}: {hint}")


def unknown_keyword(name: str, kwargs: dict) -> None:
    """The TypeError for an unknown keyword of a row-wise function: Python's
    own words, and for ``out=`` (torch.logsumexp's) that the result is a new
    array."""
    key = next(iter(kwargs))
    hint = ""
    if key == "out":
        hint = f"; the result is a new array: assign it (buf[...] = stabkit.{name}(...))"
    raise TypeError(f"{name}() got an unexpected keyword argument {key!r}{hint}")
