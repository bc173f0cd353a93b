"""``python -m stabkit ...`` runs the command line."""

from .cli import app

app(prog_name="stabkit")
