"""Build stabkit's one optional C extension, ``stabkit._native._kernels``:
every C file of stabkit/_native compiled into one library, whose module init
(in _elementwise.c, which needs NumPy's C headers) registers the accurate
tier's elementwise ufuncs, and whose plain C functions (the fused row passes
of _rows.c, the trainer's step of _cstep.c) are loaded from the same file
with ctypes (stabkit/_native/load.py).

Everything else is in pyproject.toml. The extension is optional: where it
does not compile (no C compiler, no NumPy headers), the install goes on
without it, says so in one warning line, and the NumPy code runs instead
(``stabkit.kernels()`` tells which path each function runs; ``stabkit list``
prints it).
"""

import glob
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


NAME = "stabkit._native._kernels"
#: every C file here is one translation unit of the extension (a fragment
#: that another file includes is a .h); sorted, so that builds are repeatable
_HERE = os.path.dirname(os.path.abspath(__file__))
SOURCES = sorted(glob.glob("stabkit/_native/*.c", root_dir=_HERE))
DEPENDS = sorted(glob.glob("stabkit/_native/*.h", root_dir=_HERE))


def _warn(reason: str) -> None:
    print(f"WARNING: stabkit: the C extension {NAME} was not built ({reason}); "
          "the accurate tier and the trainer will run their NumPy code", file=sys.stderr, flush=True)


class optional_build_ext(build_ext):
    """``build_ext`` that turns a failed build of the extension into one warning line."""

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except (CCompilerError, BaseError, OSError) as e:
            _warn(_reason(e))


def _numpy_include() -> str | None:
    """NumPy's C headers (a build requirement in pyproject.toml), or None."""
    try:
        import numpy
    except ImportError:
        _warn("NumPy is not importable at build time, so its C headers are missing")
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
    ext_modules=(
        []
        if _NUMPY_INCLUDE is None
        else [
            Extension(
                NAME,
                sources=SOURCES,
                # listed in MANIFEST.in too: older setuptools leave `depends` out of the sdist
                depends=DEPENDS,
                include_dirs=[_NUMPY_INCLUDE],
                define_macros=[("NPY_NO_DEPRECATED_API", "NPY_2_0_API_VERSION")],
                extra_compile_args=flags,
                optional=True,  # setuptools then tolerates a missing file (editable installs)
            )
        ]
    ),
    cmdclass={"build_ext": optional_build_ext},
)
