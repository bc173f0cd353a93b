"""Build the optional C extension of the trainer (stabkit/nn/_cstep.c).

Everything else is in pyproject.toml. The extension is optional: where it
does not compile (no C compiler), the install goes on without it and the
trainer runs its NumPy step.
"""

import sys

from setuptools import Extension, setup

# -ffp-contract=off: no fused multiply-adds, so the C Adam is bit-identical to
# the NumPy one; -fno-math-errno: sqrt need not set errno, and
# -fno-trapping-math: a comparison may be evaluated on both arms of a select,
# so that those loops vectorise. None of the three changes a computed value.
flags = (
    []
    if sys.platform == "win32"
    else ["-O3", "-ffp-contract=off", "-fno-math-errno", "-fno-trapping-math", "-std=gnu11", "-Wno-psabi"]
)

setup(
    ext_modules=[
        Extension(
            "stabkit.nn._cstep",
            sources=["stabkit/nn/_cstep.c"],
            depends=["stabkit/nn/_cstep_impl.h"],
            extra_compile_args=flags,
            optional=True,
        )
    ]
)
