"""Float64 logits of the row families the row kernels must handle (offsets
up to 1e300, ties, masked entries, far winners, subnormal terms, cancelling
logsumexps, zero maxima, NaN and +inf), shared by the narrow- and wide-row
kernel tests."""

from __future__ import annotations

import numpy as np

KINDS = ("normal", "offset", "huge", "ties", "masked", "far", "subnormal", "cancelling", "zeros", "special")


def logits(kind: str, rng, rows: int, n: int) -> np.ndarray:
    """Float64 logits of one family, ``rows`` x ``n``."""
    x = rng.standard_normal((rows, n)) * rng.choice([0.5, 5.0, 30.0])
    if kind == "offset":  # a shift with a rounding error in every entry
        x += rng.choice([1e4, -1e4, 3.7, -123.25])
    elif kind == "huge":  # offsets up to 1e300, and shifts that overflow
        x = rng.choice([1e300, -1e300, 1.7e308]) * (1.0 + 1e-14 * x)
        x[::3, rng.integers(n)] = rng.choice([1.79e308, -1.79e308])
    elif kind == "ties":  # equal maxima, integers with repeats
        x = np.round(x / 10.0)
    elif kind == "masked":  # -inf entries, rows with one finite entry, all -inf rows
        x[rng.random((rows, n)) < 0.3] = -np.inf
        x[::3, 1:] = -np.inf
        x[::7] = -np.inf
    elif kind == "far":  # a winner far ahead: L = 0 past a gap of 745
        x[:, 0] = x.max(axis=-1) + rng.choice([40.0, 700.0, 745.0, 760.0, 1500.0], rows)
    elif kind == "subnormal":  # terms exp(d) in the subnormals, tiny sums
        x = -rng.uniform(690.0, 760.0, (rows, n))
        x[np.arange(rows), rng.integers(0, n, rows)] = rng.choice([0.0, 3.0, -2.0], rows)
    elif kind == "cancelling":  # log-probabilities: logsumexp about 0, m < 0
        x = np.log(rng.dirichlet(np.ones(n), size=rows))
    elif kind == "zeros":  # zero maxima, of one sign or both
        x = np.where(rng.random((rows, n)) < 0.4, -0.0, -np.abs(x))
        x[::2, 0] = 0.0
    elif kind == "special":  # NaN and +inf entries mixed into blocks
        x[rng.random((rows, n)) < 0.05] = np.nan
        x[rng.random((rows, n)) < 0.05] = np.inf
    return x
