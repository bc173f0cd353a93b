"""Build the optional C extensions: the trainer's step
(stabkit/nn/_native/_cstep.c), the accurate tier's fused row passes
(stabkit/_native/_rows.c) and its elementwise ufuncs
(stabkit/_native/_elementwise.c, which needs NumPy's C headers).

Everything else is in pyproject.toml. The extensions are optional: where one
does not compile (no C compiler, no NumPy headers), the install goes on
without it, says so in one warning line, and the NumPy code runs instead
(``stabkit.nn._native.status()``, ``stabkit._native.rows.status()`` and
``stabkit._native.status.kernels()`` tell which is available; ``stabkit
list`` prints them).
"""

import os
import subprocess
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.errors import BaseError, CCompilerError


def _reason(e: BaseException) -> str:
    """A short reason for a failed build: which command failed, or the error."""
    cause = e
    while cause is not None:
        if isinstance(cause, subprocess.CalledProcessError):  # the compiler's own messages are above
            cmd = cause.cmd if isinstance(cause.cmd, str) else cause.cmd[0]
            return f"{os.path.basename(cmd.split()[0])} exited with status {cause.returncode}"
        cause = cause.__cause__ or cause.__context__
    text = " ".join(str(e).split()) or type(e).__name__
    return text if len(text) <= 200 else text[:197] + "..."


#: what runs instead of each extension when it is not built
_FALLBACK = {
    "stabkit.nn._native._cstep": "the trainer will run its NumPy step",
    "stabkit._native._elementwise": "the accurate tier will run its NumPy path",
    "stabkit._native._rows": "the accurate tier will run its NumPy row passes",
}


def _warn(name: str, reason: str) -> None:
    fallback = _FALLBACK.get(name, "its NumPy code runs instead")
    print(f"WARNING: stabkit: the C extension {name} was not built ({reason}); {fallback}",
          file=sys.stderr, flush=True)


class optional_build_ext(build_ext):
    """``build_ext`` that turns a failed build of an extension into one warning line."""

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except (CCompilerError, BaseError, OSError) as e:
            _warn(ext.name, _reason(e))


def _numpy_include() -> str | None:
    """NumPy's C headers (a build requirement in pyproject.toml), or None."""
    try:
        import numpy
    except ImportError:
        _warn("stabkit._native._elementwise", "NumPy is not importable at build time, so its C headers are missing")
        return None
    return numpy.get_include()


_NUMPY_INCLUDE = _numpy_include()


# -ffp-contract=off: no fused multiply-adds, so the C Adam and the row passes
# are bit-identical to the NumPy ones (never -ffast-math either); -fno-math-errno: sqrt need not set errno, and
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
            "stabkit.nn._native._cstep",
            sources=["stabkit/nn/_native/_cstep.c"],
            # listed in MANIFEST.in too: older setuptools leave `depends` out of the sdist
            depends=["stabkit/nn/_native/_cstep_impl.h"],
            extra_compile_args=flags,
            optional=True,  # setuptools then tolerates the missing file (editable installs)
        ),
        Extension(
            "stabkit._native._rows",
            sources=["stabkit/_native/_rows.c"],
            depends=["stabkit/_native/_narrow.h"],  # included by _rows.c
            extra_compile_args=flags,
            optional=True,
        ),
    ]
    + (
        []
        if _NUMPY_INCLUDE is None
        else [
            Extension(
                "stabkit._native._elementwise",
                sources=["stabkit/_native/_elementwise.c"],
                include_dirs=[_NUMPY_INCLUDE],
                define_macros=[("NPY_NO_DEPRECATED_API", "NPY_2_0_API_VERSION")],
                extra_compile_args=flags,
                optional=True,
            )
        ]
    ),
    cmdclass={"build_ext": optional_build_ext},
)
