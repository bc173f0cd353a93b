"""The lecture's slide figures: ``base`` (Slide, data, budget) and the figure
modules that import it (``numeric``, ``tiers``, ``training``, ``code``);
``look`` (theme, font scale, aspect); ``build`` makes and writes them and
``gallery`` the gallery's index and README.

The names below are loaded on first use (PEP 562).
"""

from .._lazy import exports

#: public name -> (submodule, name there)
_EXPORTS = {
    "FORMATS": ("base", "FORMATS"),
    "FORMAT_COLORS": ("base", "FORMAT_COLORS"),
    "NEEDS": ("base", "NEEDS"),
    "ASPECTS": ("look", "ASPECTS"),
    "FONT_SCALES": ("look", "FONT_SCALES"),
    "THEMES": ("look", "THEMES"),
    "Look": ("look", "Look"),
    "NEUTRAL": ("base", "NEUTRAL"),
    "Budget": ("base", "Budget"),
    "Data": ("base", "Data"),
    "Result": ("base", "Result"),
    "Slide": ("base", "Slide"),
    "fmt_number": ("base", "fmt_number"),
    "load_data": ("base", "load_data"),
    "slide": ("base", "slide"),
    "command": ("build", "command"),
    "figure_names": ("build", "figure_names"),
    "make_slides": ("build", "make_slides"),
    "run": ("build", "run"),
    "select": ("build", "select"),
    "render": ("build", "render"),
    "keras_programs": ("code", "keras_programs"),
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
    "train_until_nan": ("training", "train_until_nan"),
}

__all__ = list(_EXPORTS)


__getattr__, __dir__ = exports(__name__, _EXPORTS)
