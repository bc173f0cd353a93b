"""The ``stabkit`` app: one Typer app per command module, merged here, and
the one place where errors become what a user reads.

Every failure a user can cause ends in exactly one line on stderr
(``error: ...``) and a non-zero exit code: 2 for usage errors, 1 for
failures (:mod:`stabkit.cli.common` has the exceptions). Tracebacks are
shown only with ``STABKIT_DEBUG=1``.
"""

from __future__ import annotations

import os
import sys
from enum import Enum
from typing import Annotated

import typer
from typer.core import TyperGroup
from typer.exceptions import Abort, TyperException

from .. import _interrupt
from . import functions, report, slides, train
from .common import PENDING

__all__ = ["app"]

#: what a value of an option is called in "unknown NOUN 'x'" (default: the option's name)
_NOUNS = {"dtype": "format", "on_nonfinite": "choice"}


def _choices(e: TyperException) -> tuple[str, ...] | None:
    """The values of the Enum behind the option ``e`` rejects, if it has one."""
    desc = getattr(getattr(e, "param", None), "type_descriptor", None)
    kind = getattr(desc, "annotation", None)
    if isinstance(kind, type) and issubclass(kind, Enum):
        return tuple(str(c.value) for c in kind)
    return None


def _with_value(e: TyperException) -> str:
    """The error's message, with the rejected value when typer's pydantic
    check left it out ("Input should be a valid integer" names no value);
    a value outside an Enum's choices reads ``unknown NOUN 'x'; use one of a, b``."""
    msg = e.format_message()
    errors = getattr(e.__cause__, "errors", None)
    try:
        first = errors()[0] if callable(errors) else None
    except Exception:  # noqa: BLE001 - a message, never a second error
        first = None
    choices = _choices(e)
    if first and "input" in first and choices is not None:
        from .options import not_arithmetic

        name, value = e.param.name, str(first["input"])
        # float8: say why, as --dtypes does (where the choices are the arithmetic formats: not train's)
        why = not_arithmetic(value) if name == "dtype" and "bfloat16" in choices else None
        msg = f"{msg.split(': ', 1)[0]}: " + (why or f"unknown {_NOUNS.get(name, name)} {value!r}; "
                                                      f"use one of {', '.join(choices)}")
    elif first and "input" in first:
        msg = f"{msg.rstrip('.')}; got {str(first['input'])!r}"
    return " ".join(msg.split())


class _StdoutError(Exception):
    """Standard output is closed or cannot take what is written (a full disk)."""


class _GuardedStdout:
    """``sys.stdout`` (or, when the process started with it closed, nothing)
    whose write and flush failures become :class:`_StdoutError`; a reader
    that went away (``| head``) is left to :class:`BrokenPipeError`."""

    def __init__(self, stream):
        self._stream = stream
        self.broken = False  # the reader went away (Typer turns that into exit 1 itself)

    def _fail(self, e: BaseException | None = None):
        if isinstance(e, BrokenPipeError):
            self.broken = True
            raise e
        why = "it is closed" if e is None else (f"{e.strerror}" if isinstance(e, OSError) and e.strerror else str(e))
        raise _StdoutError(why) from None

    def write(self, text):
        if self._stream is None:
            self._fail()
        try:
            return self._stream.write(text)
        except (OSError, ValueError) as e:
            self._fail(e)

    def flush(self):
        if self._stream is None:
            return
        try:
            self._stream.flush()
        except (OSError, ValueError) as e:
            self._fail(e)

    def isatty(self) -> bool:
        try:
            return self._stream is not None and self._stream.isatty()
        except (OSError, ValueError):
            return False

    def __getattr__(self, name):
        if self._stream is None:
            if name == "encoding":
                return "utf-8"
            if name == "errors":
                return "strict"
            raise AttributeError(name)
        return getattr(self._stream, name)


def _replace_unencodable() -> None:
    """Under a non-UTF encoding (PYTHONIOENCODING=ascii, a C locale) print
    what the encoding lacks (the tables' dashes) as '?' rather than fail."""
    for stream in (sys.stdout, sys.stderr):
        enc = (getattr(stream, "encoding", None) or "").lower().replace("-", "").replace("_", "")
        if stream is not None and enc and not enc.startswith("utf") and hasattr(stream, "reconfigure"):
            try:
                stream.reconfigure(errors="replace")
            except (ValueError, OSError, AttributeError):
                pass


class _OneLineGroup(TyperGroup):
    """Click group that reports every error as one line instead of a usage box."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        _replace_unencodable()
        _flags_without_a_type()
        real = sys.stdout
        sys.stdout = self._guard = _GuardedStdout(real)
        try:
            with _interrupt.installed():
                return self._main(args, prog_name, complete_var, standalone_mode, **extra)
        finally:
            sys.stdout = real

    def _main(self, args, prog_name, complete_var, standalone_mode, **extra):
        try:
            rv = super().main(args=args, prog_name=prog_name, complete_var=complete_var, standalone_mode=False, **extra)
            _interrupt.check()  # a Ctrl-C that some library caught on the way is still a Ctrl-C
            sys.stdout.flush()  # a full disk is found here, not at exit
        except _StdoutError as e:
            typer.echo(f"error: cannot write to standard output: {e}", err=True)
            sys.exit(1)
        except BrokenPipeError:  # the reader went away (`| head`): nothing more to say
            _quiet_exit()
        except SystemExit:
            # Typer exits 1 itself on a broken pipe met inside a command (train's
            # lines per epoch); stabkit's answer is the one above
            if self._guard.broken:
                _quiet_exit()
            raise
        except TyperException as e:  # usage errors, bad parameters, UsageFailure, Failure
            # (empty for `stabkit` alone: typer has printed the help already)
            typer.echo(f"error: {_with_value(e) or 'Missing command.'}", err=True)
            sys.exit(e.exit_code)
        except (Abort, KeyboardInterrupt):
            typer.echo("error: interrupted", err=True)
            sys.exit(130)
        except Exception as e:  # the last line of defence: no traceback for users
            if os.environ.get("STABKIT_DEBUG"):
                raise
            first = (str(e).strip().splitlines() or [""])[0]  # one line, whatever the exception's message holds
            typer.echo(f"error: internal error: {type(e).__name__}: {first} (STABKIT_DEBUG=1 shows the traceback)", err=True)
            sys.exit(1)
        finally:
            PENDING.clear()  # a command's pending files are its own
        code = rv if isinstance(rv, int) else 0
        if code == 130:  # typer turns Ctrl-C into Exit(130) before we see it
            typer.echo("error: interrupted", err=True)
        if standalone_mode:
            sys.exit(code)
        return rv


def _flags_without_a_type() -> None:
    """Typer 0.29's help shows an on/off flag as if it took a value
    (``--json <bool>``): its rich help asks every option for a type to show.
    A flag (and ``--help``) shows none here; other options are untouched.
    Done when stabkit's CLI runs (not on import), for every Typer app of
    that process (a flag shows no type in theirs either)."""
    option = getattr(typer.core, "TyperOption", None)
    show = getattr(option, "display_type_rich", None)
    if show is None or getattr(show, "stabkit", False):
        return

    def display_type_rich(self, ctx):
        if getattr(self, "is_flag", False) and self.metavar is None:
            return None
        return show(self, ctx)

    display_type_rich.stabkit = True
    option.display_type_rich = display_type_rich


def _quiet_exit() -> None:
    """Exit 0 after the reader of stdout went away, with stdout sent to
    /dev/null so that the interpreter's last flush does not complain; exit
    1 with one line where the command stopped before writing a file it was
    asked for (:data:`PENDING`)."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.__stdout__.fileno())
    except (OSError, AttributeError, ValueError):
        pass
    if PENDING:
        typer.echo(f"error: standard output was closed (its reader went away) before {PENDING[0]} was written",
                   err=True)
        sys.exit(1)
    sys.exit(0)


app = typer.Typer(
    cls=_OneLineGroup,
    help="Naive, stable and accurate softmax, sigmoid and cross-entropy, measured in ulps against mpmath.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        from stabkit import __version__

        typer.echo(f"stabkit {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    pass


# each module's commands join this app's (add_typer without a name merges, it does not nest)
for _module in (functions, report, train, slides):
    app.add_typer(_module.app)
