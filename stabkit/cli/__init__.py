"""The command line (Typer): ``stabkit`` (the console script), ``python -m
stabkit`` and ``python cli.py`` all run :data:`app`.

Each command module owns a ``typer.Typer()`` (``functions``: ``list``,
``eval``; ``report``: ``analyze``, ``report``, ``plot``, ``audit``;
``train``; ``slides``); ``main`` merges them with ``add_typer`` and turns
every error into one line on stderr. The CLI only parses, calls the library
and prints.
"""

from .common import Failure, UsageFailure
from .main import app

__all__ = ["app", "Failure", "UsageFailure"]
