"""The one error path of the command line, the choices ``--help`` lists, and
tables that fit a terminal or a pipe.

Every problem a user can cause is an exception raised where it is found and
printed once, by the app's group (:mod:`stabkit.cli.main`), as one
``error: ...`` line on stderr:

- ``typer.BadParameter`` (or :func:`invalid`, which builds one): a bad value
  of a named option or argument, ``error: Invalid value for '--x': ...``,
  exit code 2;
- :class:`UsageFailure`: a bad command line no single option is to blame
  for (``error: no input values given``), exit code 2;
- :class:`Failure`: a failure while doing the work (a folder that cannot be
  written, a data set that cannot be read), exit code 1.
"""

from __future__ import annotations

import os
import tempfile
from enum import Enum

import typer

__all__ = ["UsageFailure", "Failure", "invalid", "check_out_folder", "check_nonempty_path", "none_can_run", "Device", "plain_table", "rich_table", "slash",
           "files_of", "note_kept_files", "PENDING"]


class UsageFailure(typer.TyperException):
    """A bad command line: ``error: MESSAGE``, exit code 2."""

    exit_code = 2


class Failure(typer.TyperException):
    """A failure while doing the work: ``error: MESSAGE``, exit code 1."""

    exit_code = 1


def invalid(option: str, message: str) -> typer.BadParameter:
    """A bad value of ``option``: ``error: Invalid value for 'OPTION': MESSAGE``, exit code 2."""
    return typer.BadParameter(message, param_hint=f"'{option}'")


def check_nonempty_path(option: str, path) -> None:
    """``invalid(option, "empty path")`` for ``--out ""`` (which would mean the current folder)."""
    if path is not None and not str(path).strip():
        raise invalid(option, "empty path")


def check_out_folder(option: str, folder: str) -> None:
    """``folder`` is, or can be created as, a folder this process can write
    into: checked before any work, by creating and removing a temporary
    file in it or in its nearest existing parent (``os.access`` says yes to
    root for any path, /proc included, where nothing can be created).
    Creates nothing else; ``invalid(option)`` otherwise (an empty path too)."""
    check_nonempty_path(option, folder)
    target = os.path.abspath(folder)
    p = target
    while not os.path.exists(p):
        p = os.path.dirname(p)
    where = f"{folder!r}: {p!r}" if p != target else repr(folder)
    if not os.path.isdir(p):
        raise invalid(option, f"{where} exists and is not a folder")
    try:
        fd, probe = tempfile.mkstemp(prefix=".stabkit-probe-", dir=p)
    except OSError as e:
        raise invalid(option, f"{where} cannot be written into ({e.strerror or e})") from None
    os.close(fd)
    os.unlink(probe)


def none_can_run(skipped) -> str:
    """The one line for a run in which no requested implementation can run:
    ``none of the requested implementations can run here (tensorflow: not installed)``."""
    import re

    reasons = []
    for r in skipped:
        name, _, why = str(r).partition(": ")
        why = re.sub(r"^skipped, ", "", why)
        why = re.sub(r"^package '[^']*' is not installed.*", "not installed", why)
        reasons.append(f"{name}: {why}" if why else name)
    return f"none of the requested implementations can run here ({'; '.join(reasons)})"


class Device(str, Enum):
    """Where PyTorch, JAX, Keras and TensorFlow run."""

    cpu = "cpu"
    cuda = "cuda"


def plain_table(header: list[str], rows: list[list[str]]) -> str:
    """Aligned columns separated by two spaces, header first, never cut:
    for pipes and files (``stabkit list | awk '{print $1}'``). The first
    column must hold no spaces; the last is not padded."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]
    return "\n".join(
        "  ".join([*(c.ljust(w) for c, w in zip(r, widths)), r[-1]]).rstrip() for r in [header, *rows]
    )


def print_whole(table, pipe_width: int) -> None:
    """Print a rich table of numbers with none of them cut or folded: a pipe
    gets ``pipe_width`` columns (rich's default there is 80), a terminal its
    own width or, where the table is wider, the table's natural width (the
    terminal then wraps the long lines; rich would crop the columns past
    its width or fold a number over two lines, which reads as another number)."""
    import sys

    from rich.console import Console
    from rich.measure import Measurement

    if not sys.stdout.isatty():
        Console(width=pipe_width).print(table)
        return
    console = Console()
    # rich crops or folds the columns of a table wider than the console:
    # there, the table's natural width
    m = Measurement.get(console, console.options.update(width=10_000), table)
    Console(width=max(console.width, m.maximum)).print(table)


def rich_table(console, title: str, header: list[str], rows: list[list[str]]) -> None:
    """A rich table whose first column (the names) is never wrapped or cut;
    the others fold. On a terminal too narrow for that, each row as the name
    on its own line over a two-column table of the rest; narrower still (the
    values' column under 20 characters, where rich empties it), over plain
    ``label: value`` lines that wrap. Cells are text, not markup
    (``softmax(z)[y]`` keeps its ``[y]``)."""
    from rich.table import Table
    from rich.text import Text

    other = sum(min(12, max(len(r[i]) for r in [header, *rows])) for i in range(1, len(header)))
    need = max(len(r[0]) for r in [header, *rows]) + other + 3 * len(header) + 1
    if console.width >= need:
        t = Table(title=title)
        t.add_column(header[0], no_wrap=True)
        for col in header[1:]:
            t.add_column(col, overflow="fold")
        for r in rows:
            t.add_row(*map(Text, r))
        console.print(t)
        return
    console.print(Text(title, style="italic"))
    # the card's borders take 7 columns, its labels the widest label's width
    room = console.width - 7 - max(len(h) for h in header[1:])
    cards = room >= min(20, max(len(c) for r in rows for c in r[1:]))
    for r in rows:
        console.print(Text(r[0], style="bold"), soft_wrap=True)  # the terminal wraps, nothing is cut
        if not cards:
            for name, cell in zip(header[1:], r[1:]):
                console.print(Text(f"  {name}: {cell}"), overflow="fold")
            continue
        t = Table(show_header=False)
        t.add_column(no_wrap=True)
        t.add_column(overflow="fold")
        for name, cell in zip(header[1:], r[1:]):
            t.add_row(Text(name), Text(cell))
        console.print(t)


def slash(out: str) -> str:
    """``out`` named as a folder, with one trailing slash (``lecture/`` as given is not ``lecture//``)."""
    return out.rstrip("/") + "/" if out.rstrip("/") else out


def files_of(out: str) -> list[str]:
    """The files of an existing output folder, relative, with ``/``."""
    from stabkit._io import files_under

    return [rel.replace(os.sep, "/") for rel in files_under(out)] if os.path.isdir(out) else []


def note_kept_files(out: str, before: list[str], paths: list[str], owned=None) -> None:
    """Say on stderr (even with --quiet: the folder is not the output alone)
    which of the files ``out`` held ``before`` a run that wrote ``paths`` it
    kept (all that it did not overwrite, except those ``owned`` says were an
    older output's own, which went) and which of the others (the user's)
    it overwrote."""
    new = {os.path.relpath(p, out).replace(os.sep, "/") for p in paths}
    theirs = [rel for rel in before if owned is None or not owned(rel)]
    kept = [rel for rel in theirs if rel not in new]
    if kept:
        typer.echo(f"note: kept {_count(kept)} of {slash(out)} that {'are' if len(kept) > 1 else 'is'} not part of "
                   f"the report: {_shown(kept)}", err=True)
    replaced = [rel for rel in theirs if rel in new]
    if replaced:
        typer.echo(f"note: replaced {_count(replaced)} of {slash(out)} that no earlier report wrote, by the "
                   f"report's files of the same name: {_shown(replaced)}", err=True)


def _count(rels: list[str]) -> str:
    return f"{len(rels)} file{'s' if len(rels) > 1 else ''}"


def _shown(rels: list[str]) -> str:
    return ", ".join(rels[:3]) + (f" and {len(rels) - 3} more" if len(rels) > 3 else "")


#: Files a running command has still to write besides standard output
#: (train's --out): a reader of stdout that goes away (``| head``) ends the
#: command, which is then an error, not the quiet success it is otherwise.
PENDING: list[str] = []
