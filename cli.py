"""Run the stabkit command line from a checkout: ``python cli.py eval softmax 1000 1``."""

from stabkit.cli import app

if __name__ == "__main__":
    app()
