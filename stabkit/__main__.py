"""``python -m stabkit ...`` runs the command line."""

from .cli.main import app

app(prog_name="stabkit")
