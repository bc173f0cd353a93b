"""The two ways a command reports a problem (one line on stderr, then exit),
and tables that fit a terminal or a pipe."""

from __future__ import annotations

import typer

__all__ = ["usage_error", "failure", "plain_table", "rich_table"]


def usage_error(option: str, message: str) -> None:
    """A bad argument: ``error: Invalid value for 'OPTION': ...``, exit code 2."""
    typer.echo(f"error: Invalid value for '{option}': {message}", err=True)
    raise typer.Exit(2)


def failure(message: str) -> None:
    """A failure while doing the work: ``error: ...``, exit code 1."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def plain_table(header: list[str], rows: list[list[str]]) -> str:
    """Aligned columns separated by two spaces, header first, never cut:
    for pipes and files (``stabkit list | awk '{print $1}'``). The first
    column must hold no spaces; the last is not padded."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]
    return "\n".join(
        "  ".join([*(c.ljust(w) for c, w in zip(r, widths)), r[-1]]).rstrip() for r in [header, *rows]
    )


def rich_table(console, title: str, header: list[str], rows: list[list[str]]) -> None:
    """A rich table whose first column (the names) is never wrapped or cut;
    the others fold. On a terminal too narrow for that, each row as the name
    on its own line over a two-column table of the rest. Cells are text, not
    markup (``softmax(z)[y]`` keeps its ``[y]``)."""
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
    for r in rows:
        console.print(Text(r[0], style="bold"), soft_wrap=True)  # the terminal wraps, nothing is cut
        t = Table(show_header=False)
        t.add_column(no_wrap=True)
        t.add_column(overflow="fold")
        for name, cell in zip(header[1:], r[1:]):
            t.add_row(Text(name), Text(cell))
        console.print(t)
