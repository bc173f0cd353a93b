"""The two ways a command reports a problem: one line on stderr, then exit."""

from __future__ import annotations

import typer

__all__ = ["usage_error", "failure"]


def usage_error(option: str, message: str) -> None:
    """A bad argument: ``error: Invalid value for 'OPTION': ...``, exit code 2."""
    typer.echo(f"error: Invalid value for '{option}': {message}", err=True)
    raise typer.Exit(2)


def failure(message: str) -> None:
    """A failure while doing the work: ``error: ...``, exit code 1."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)
