"""The accurate tier's compiled kernels (optional C extensions built by
setup.py), with the NumPy code of :mod:`stabkit.accurate` and
:mod:`stabkit._accurate` as the fallback and the oracle they are tested
against bit for bit.

* ``rows``: loads the fused row passes of ``_rows.c`` with ctypes (float64
  and float32 rows wider than 16), ``np.exp`` staying NumPy's, and the
  narrow-row kernel of ``_narrow.h`` (rows of 16 or fewer; NumPy's own exp
  and log1p loops, from ``npyloops``, called inside);
* ``elementwise``: loads the ufuncs of ``_elementwise.c`` (sigmoid,
  log_sigmoid and softplus for float32, float16 and bfloat16);
* ``status``: which kernel each function and format runs (``kernels()``).

``STABKIT_NATIVE=0`` in the environment turns every kernel off.
"""

import os


def disabled() -> bool:
    """Whether ``STABKIT_NATIVE=0`` turns the compiled code off (read at
    every call, so a test or a user can switch within one process); the
    trainer's C step in :mod:`stabkit.nn._native` obeys it too."""
    return os.environ.get("STABKIT_NATIVE", "1") == "0"
