"""Reports: the build (samples, references, statistics), the Markdown and JSON
writers, the figures, and the figure style shared with the slides.

The names below are loaded on first use (PEP 562).
"""

from .._lazy import exports

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
    "ErrorScale": ("plots", "ErrorScale"),
    "read_errors": ("errors_csv", "read_errors"),
    "recompute": ("errors_csv", "recompute"),
}

__all__ = list(_EXPORTS)


__getattr__, __dir__ = exports(__name__, _EXPORTS)
