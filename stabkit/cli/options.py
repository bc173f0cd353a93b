"""The options and argument checks shared by the analysis commands
(:mod:`stabkit.cli.report`): each option declared once as an ``Annotated``
type, each check raising ``typer.BadParameter`` (one ``error: Invalid value``
line, exit code 2)."""

from __future__ import annotations

import os
from typing import Annotated, Optional

import typer

from .common import Device, Failure, invalid

__all__ = ["QuietOpt", "SeedOpt", "check_seed", "DeviceOpt", "WorkersOpt", "AnalyzeWorkersOpt", "CacheOpt",
           "SchedulerOpt", "AnalyzeSchedulerOpt", "check_list",
           "check_formats", "check_function", "check_functions", "check_samples", "reference_options"]

QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars or status lines.")]
def check_seed(value: int) -> int:
    """A seed is a non-negative integer (NumPy's generators take no other)."""
    if value is not None and value < 0:
        raise typer.BadParameter("must be >= 0")
    return value


SeedOpt = Annotated[int, typer.Option(callback=check_seed, help="Seed of every random sample, a non-negative integer (same seed, same report).")]
DeviceOpt = Annotated[Device, typer.Option(help="Device for PyTorch, JAX, Keras and TensorFlow (SciPy and NumPy run on the CPU).")]
WorkersOpt = Annotated[int, typer.Option(min=1, max=256, help="Processes for the mpmath references (results do not depend on it).")]
AnalyzeWorkersOpt = Annotated[int, typer.Option(min=1, max=256, help="Processes for the mpmath references (results do not depend on it); the float32 --exhaustive sweep uses one per CPU unless this is given.")]
CacheOpt = Annotated[bool, typer.Option("--cache/--no-cache", help="Reuse references from the on-disk cache ($STABKIT_CACHE_DIR, else ~/.cache/stabkit).")]


# "\\[dask]": rich's markup would read [dask] as a style and drop it from the help
SchedulerOpt = Annotated[Optional[str], typer.Option(help="Run the references on Dask: 'local' for a LocalCluster here, or a scheduler address such as tcp://host:8786 (needs stabkit\\[dask]).")]
AnalyzeSchedulerOpt = Annotated[Optional[str], typer.Option(help="Run the references (and the float32 --exhaustive sweep) on Dask: 'local' for a LocalCluster here, or a scheduler address such as tcp://host:8786 (needs stabkit\\[dask]).")]


def reference_options(ctx: typer.Context, workers: int, cache: bool, scheduler: str | None = None):
    """How references are computed for this command (a ReferenceOptions passed
    down, never a global); with a scheduler, connect (or start a LocalCluster)
    and close it when the command ends (``ctx.with_resource``)."""
    from stabkit.reference import ReferenceOptions

    executor = None
    if scheduler is not None and not scheduler.strip():
        raise invalid("--scheduler", "empty; use 'local' or a scheduler address such as tcp://host:8786")
    if scheduler:
        from stabkit.reference.executors import DistributedError, executor_for

        from .cluster import quiet_on_interrupt

        try:
            executor = ctx.with_resource(quiet_on_interrupt(
                executor_for(scheduler, workers if workers > 1 else None), local=scheduler == "local"))
        except DistributedError as e:
            # Dask's ValueError is an address it cannot parse ('foo', 'tcp://host'): the user's
            # spelling, a usage error; an OSError or a timeout is a scheduler that did not answer
            if isinstance(e.__context__, ValueError):
                raise invalid("--scheduler", f"{e}; use 'local' or an address such as tcp://host:8786") from None
            raise Failure(str(e)) from None
    return ReferenceOptions(cache=cache, workers=workers, executor=executor)


def _items(option: str, text: str) -> list[str]:
    """The items of a comma-separated option; an empty list or item
    (``naive,,stable``) is refused, as train's --hidden refuses one: more
    likely a slip than the shorter list."""
    items = [t.strip() for t in text.split(",")]
    if not any(items):
        raise invalid(option, f"empty list {text!r}")
    if not all(items):
        raise invalid(option, f"empty item in {text!r}")
    return items


def unknown_function(e: ValueError, spec: str) -> str:
    """The registry's message for ``spec``, with Click's "Did you mean" for
    a near miss of a function's name (as a misspelled command gets)."""
    import difflib

    from stabkit.registry import PRIMITIVES

    name = spec.strip().lower().replace("-", "_").partition(":")[0]
    close = difflib.get_close_matches(name, list(PRIMITIVES), n=1)
    return f"{e}. Did you mean {close[0]!r}?" if close and str(e).startswith("unknown function") else str(e)


#: the other names of the libraries (--impls, --frameworks)
_LIBRARY_NAMES = {"pytorch": "torch", "tf": "tensorflow"}


def check_list(option: str, text: str, known, what: str) -> list[str]:
    """The items of a comma-separated option, each one of ``known`` (in any
    case; pytorch is torch, tf tensorflow), without repeats; else a usage
    error listing ``known``."""
    items = _items(option, text)
    out = []
    for t in items:
        key = t.lower()
        key = _LIBRARY_NAMES.get(key, key)
        if key not in known:
            raise invalid(option, f"unknown {what} {t!r}; known: {', '.join(known)}")
        out.append(key)
    return list(dict.fromkeys(out))


def not_arithmetic(name: str) -> str | None:
    """Why no function runs in ``name``, for a format stabkit knows only for
    ulps, rounding and references (float8); None for any other name."""
    from stabkit.floats import ARITH_FORMATS, FORMATS

    if name.lower() in FORMATS and name.lower() not in ARITH_FORMATS:
        return (f"{name} is for ulps, rounding and references only (see `stabkit list`): no function runs in it; "
                f"use one of {', '.join(ARITH_FORMATS)}")
    return None


def check_formats(option: str, text: str) -> list[str]:
    """Formats the functions run in; a float8 format, which stabkit knows
    only for ulps, rounding and references, is refused with that reason."""
    from stabkit.floats import ARITH_FORMATS

    for t in _items(option, text):
        why = not_arithmetic(t)
        if why:
            raise invalid(option, why)
    return check_list(option, text, ARITH_FORMATS, "format")


def check_functions(option: str, text: str) -> list[str]:
    """The function specs of a comma-separated ``--functions``, each spelled
    as the registry spells it (``log-softmax`` is ``log_softmax``), without
    repeats."""
    from stabkit.report.build import PROBS, parse_function

    specs = []
    for t in _items(option, text):
        try:
            name, from_logits = parse_function(t)
        except ValueError as e:
            raise invalid(option, unknown_function(e, t)) from None
        specs.append(name if from_logits else name + PROBS)
    return list(dict.fromkeys(specs))


def check_function(option: str, text: str) -> str:
    """One function spec (:func:`check_functions` of a one-item list); a
    comma-separated list is a usage error that names ``report``, which
    takes several."""
    specs = check_functions(option, text)
    if len(specs) != 1:
        raise invalid(option, f"one function only, got {text!r}; `stabkit report --functions {text}` takes several")
    return specs[0]


#: Bytes held per sampled point and format: the float64 inputs, the reference
#: (rounded, hi, lo, flags, precision) and each implementation's output and error.
_BYTES_PER_POINT = 64
_BYTES_PER_POINT_IMPL = 24


def _memory_limit() -> int:
    """This machine's physical memory in bytes (16 GiB when it cannot be read)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 16 << 30


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.3g} {unit}"
        n /= 1024


def check_samples(n: int, impls: int = 1) -> int:
    """A positive sample count whose arrays fit in memory; rejected up front
    with the estimate otherwise (nothing is allocated or computed)."""
    if n <= 0:
        raise invalid("--samples", f"must be a positive number of samples, got {n}")
    need = n * (_BYTES_PER_POINT + _BYTES_PER_POINT_IMPL * max(1, impls))
    have = _memory_limit()
    if need > have:
        raise invalid("--samples", f"{n} samples need about {_size(need)} of memory per format; this machine has {_size(have)}")
    return n
