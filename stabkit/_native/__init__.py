"""stabkit's compiled kernels: one optional C extension,
``stabkit._native._kernels``, which setup.py compiles from every C file of
this folder, with the NumPy code of :mod:`stabkit.accurate`,
:mod:`stabkit._accurate` and the trainer as the fallback and the oracle they
are tested against.

* ``load``: the one loader (imports the extension once, opens the same file
  with ctypes, says "not built" or "cannot be loaded");
* ``rows``: binds the fused row passes of ``_rows.c`` (float64 and float32
  rows wider than 16), ``np.exp`` staying NumPy's, and the narrow-row
  kernel of ``_narrow.h`` (rows of 16 or fewer; NumPy's own exp and log1p
  loops, from ``npyloops``, called inside);
* ``rounding``: binds ``_round.c``, the rounding of float64 results to
  float16 and bfloat16 that :func:`stabkit.floats.round_float64` runs;
* ``elementwise``: the ufuncs of ``_elementwise.c`` (sigmoid, log_sigmoid
  and softplus in every format, the binary cross-entropy from logits);
* ``step``: binds the trainer's step and Adam update of ``_cstep.c``
  (:mod:`stabkit.nn._native` runs them);
* ``status``: which kernel each function and format runs (``kernels()``);
  ``paths``: that and the trainer's step, :func:`stabkit.kernels`.

``STABKIT_NATIVE=0`` in the environment turns every kernel off.
"""

import os


def disabled() -> bool:
    """Whether ``STABKIT_NATIVE=0`` turns the compiled code off (read at
    every call, so a test or a user can switch within one process); the
    trainer's C step in :mod:`stabkit.nn._native` obeys it too."""
    return os.environ.get("STABKIT_NATIVE", "1") == "0"
