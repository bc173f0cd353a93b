"""The command line (Typer): ``stabkit`` (the console script), ``python -m
stabkit`` and ``python cli.py`` all run :data:`app`.

``main`` holds the app, the error path and the small commands (``list``,
``eval``); ``report``, ``train`` and ``slides`` each add their command group.
The CLI only parses, calls the library and prints.
"""

from .main import UsageFailure, app, fail

__all__ = ["app", "fail", "UsageFailure"]
