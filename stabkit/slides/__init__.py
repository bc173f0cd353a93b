"""The lecture's slide figures: ``base`` (Slide, data, budget) and the figure
modules that import it (``numeric``, ``training``); ``build`` makes and writes them.

The names below are loaded on first use (PEP 562).
"""

from .._lazy import exports

#: public name -> (submodule, name there)
_EXPORTS = {
    "FORMATS": ("base", "FORMATS"),
    "FORMAT_COLORS": ("base", "FORMAT_COLORS"),
    "NEUTRAL": ("base", "NEUTRAL"),
    "Budget": ("base", "Budget"),
    "Data": ("base", "Data"),
    "Result": ("base", "Result"),
    "Slide": ("base", "Slide"),
    "fmt_number": ("base", "fmt_number"),
    "load_data": ("base", "load_data"),
    "slide": ("base", "slide"),
    "figure_names": ("build", "figure_names"),
    "make_slides": ("build", "make_slides"),
    "run": ("build", "run"),
    "write_gallery": ("build", "write_gallery"),
    "render": ("build", "render"),
    "gradient_descent": ("numeric", "gradient_descent"),
    "loss_curves": ("numeric", "loss_curves"),
    "multilabel": ("numeric", "multilabel"),
    "roundoff": ("numeric", "roundoff"),
    "softmax_example": ("numeric", "softmax_example"),
    "adam_step_sizes": ("training", "adam_step_sizes"),
    "adam_vs_sgd": ("training", "adam_vs_sgd"),
    "digits_grid": ("training", "digits_grid"),
    "float16_training": ("training", "float16_training"),
    "lecture_model": ("training", "lecture_model"),
}

__all__ = list(_EXPORTS)


__getattr__, __dir__ = exports(__name__, _EXPORTS)
