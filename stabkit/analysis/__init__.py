"""Analysis: samples of inputs, error statistics against the references,
third-party implementations (SciPy, NumPy, PyTorch, JAX, Keras, TensorFlow)
and exhaustive sweeps.

The names below are loaded on first use (PEP 562).
"""

from .._lazy import exports

#: public name -> (submodule, name there)
_EXPORTS = {
    "Points": ("stats", "Points"),
    "Stats": ("stats", "Stats"),
    "FunctionAnalysis": ("stats", "FunctionAnalysis"),
    "references": ("stats", "references"),
    "analyze_sample": ("stats", "analyze_sample"),
    "analyze": ("stats", "analyze"),
    "stats_of": ("stats", "stats_of"),
    "points_of": ("stats", "points_of"),
    "error_text": ("stats", "error_text"),
    "TOP_K": ("stats", "TOP_K"),
    "Group": ("sampling", "Group"),
    "Sample": ("sampling", "Sample"),
    "make_sample": ("sampling", "make_sample"),
    "rng_for": ("sampling", "rng_for"),
    "from_ordinal": ("sampling", "from_ordinal"),
    "ordinal_uniform": ("sampling", "ordinal_uniform"),
    "edge_cases": ("sampling", "edge_cases"),
    "ROW_LENGTHS": ("sampling", "ROW_LENGTHS"),
    "dense_elementwise": ("sampling", "dense_elementwise"),
    "winner_rows": ("sampling", "winner_rows"),
    "cancelling_rows": ("sampling", "cancelling_rows"),
    "extreme_rows": ("sampling", "extreme_rows"),
    "soft_targets": ("sampling", "soft_targets"),
    "loser_mass_cutoffs": ("sampling", "loser_mass_cutoffs"),
    "Impl": ("thirdparty", "Impl"),
    "Unsupported": ("thirdparty", "Unsupported"),
    "DeviceUnavailable": ("thirdparty", "DeviceUnavailable"),
    "CALLS": ("thirdparty", "CALLS"),
    "FRAMEWORKS": ("thirdparty", "FRAMEWORKS"),
    "resolve": ("thirdparty", "resolve"),
    "tier_impl": ("thirdparty", "tier_impl"),
    "framework_impl": ("thirdparty", "framework_impl"),
    "available": ("thirdparty", "available"),
    "KNOWN_IMPLS": ("thirdparty", "KNOWN_IMPLS"),
    "DEFAULT_IMPLS": ("sweep", "DEFAULT_IMPLS"),
    "SweepResult": ("sweep", "SweepResult"),
    "state_dir": ("sweep", "state_dir"),
}

__all__ = list(_EXPORTS)


__getattr__, __dir__ = exports(__name__, _EXPORTS)
