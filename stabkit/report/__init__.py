"""Reports: the build (samples, references, statistics), the Markdown and JSON
writers, the figures, and the figure style shared with the slides.

The names below are loaded on first use (PEP 562).
"""

import importlib

#: public name -> (submodule, name there)
_EXPORTS = {
    "ReportConfig": ("build", "ReportConfig"),
    "Report": ("build", "Report"),
    "run": ("build", "run"),
    "write": ("build", "write"),
    "to_json": ("build", "to_json"),
    "DEFAULT_SAMPLES": ("build", "DEFAULT_SAMPLES"),
    "DEFAULT_FUNCTIONS": ("build", "DEFAULT_FUNCTIONS"),
    "SCHEMA_VERSION": ("build", "SCHEMA_VERSION"),
    "parse_function": ("build", "parse_function"),
    "rows_for": ("build", "rows_for"),
    "reference_points": ("build", "reference_points"),
    "jsonable": ("build", "jsonable"),
    "variant_name": ("build", "variant_name"),
    "COLORS": ("style", "COLORS"),
    "MARKERS": ("style", "MARKERS"),
    "TIERS": ("style", "TIERS"),
    "STYLE": ("style", "STYLE"),
    "color": ("style", "color"),
    "legend": ("style", "legend"),
    "subplots": ("style", "subplots"),
    "set_ticks": ("style", "set_ticks"),
    "declutter": ("style", "declutter"),
    "render": ("style", "render"),
    "save": ("style", "save"),
    "KINDS": ("plots", "KINDS"),
    "error_figure": ("plots", "error_figure"),
    "values_figure": ("plots", "values_figure"),
    "cdf_figure": ("plots", "cdf_figure"),
    "heatmap_figure": ("plots", "heatmap_figure"),
    "rowwise_errors": ("plots", "rowwise_errors"),
}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    """A public name, imported from its submodule on first use."""
    try:
        module, attr = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(importlib.import_module(f".{module}", __name__), attr)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
