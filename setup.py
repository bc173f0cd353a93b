"""Build the optional C extension of the trainer (stabkit/nn/_native/_cstep.c).

Everything else is in pyproject.toml. The extension is optional: where it
does not compile (no C compiler), the install goes on without it, says so in
one warning line, and the trainer runs its NumPy step (``fit`` says so too,
and ``stabkit.nn._native.status()`` tells which step is available).
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


class optional_build_ext(build_ext):
    """``build_ext`` that turns a failed build of the C step into one warning line."""

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except (CCompilerError, BaseError, OSError) as e:
            reason = _reason(e)
            print(
                f"WARNING: stabkit: the C extension {ext.name} was not built ({reason}); "
                "the trainer will run its NumPy step",
                file=sys.stderr,
                flush=True,
            )


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
            "stabkit.nn._native._cstep",
            sources=["stabkit/nn/_native/_cstep.c"],
            # listed in MANIFEST.in too: older setuptools leave `depends` out of the sdist
            depends=["stabkit/nn/_native/_cstep_impl.h"],
            extra_compile_args=flags,
            optional=True,  # setuptools then tolerates the missing file (editable installs)
        )
    ],
    cmdclass={"build_ext": optional_build_ext},
)
