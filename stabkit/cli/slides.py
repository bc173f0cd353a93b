"""``stabkit slides``: regenerate every figure of the lecture.

Only parses, calls :func:`stabkit.slides.run` and prints. A bad argument is
one line on stderr and exit code 2 (nothing is written before the arguments
are checked); a data file that cannot be read, or a folder that cannot be
written, is one line and exit code 1. Figures and the gallery are rendered
in memory first and written atomically at the end.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .common import Failure, invalid

__all__ = ["app", "slides"]

app = typer.Typer()


def _formats(text: str) -> tuple[str, ...]:
    from stabkit.slides import FORMATS

    items = [t.strip().lower() for t in text.split(",") if t.strip()]
    if not items:
        raise invalid("--format", f"empty list {text!r}; use png, pdf and/or svg")
    for t in items:
        if t not in FORMATS:
            raise invalid("--format", f"unknown figure format {t!r}; use png, pdf and/or svg")
    return tuple(dict.fromkeys(items))


@app.command("slides")
def slides(
    out: Annotated[str, typer.Option(help="Folder for the figures and the gallery README.md.")] = "reports/slides",
    format: Annotated[str, typer.Option("--format", help="Comma-separated figure formats: png, pdf, svg.")] = "png",
    quick: Annotated[bool, typer.Option("--quick", help="Small data (2,000 MNIST images) and 3 epochs: seconds, for tests.")] = False,
    data_dir: Annotated[
        Path | None,
        typer.Option(help="Folder with the MNIST t10k IDX files; default $STABKIT_MNIST_DIR, else the download cache "
                          "(~/.cache/stabkit/mnist; filled by `stabkit train --dataset mnist`), else scikit-learn's "
                          "8x8 digits."),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No status lines on stderr.")] = False,
) -> None:
    """Regenerate every figure of the lecture (softmax, round-off, from_logits, training, Adam) and the gallery."""
    from stabkit.nn import NNError
    from stabkit.slides import run

    formats = _formats(format)
    if data_dir is not None and not data_dir.is_dir():
        raise invalid("--data-dir", f"{str(data_dir)!r} is not a folder")
    from stabkit._io import check_out_dir

    try:
        check_out_dir(out)
    except OSError as e:
        raise invalid("--out", str(e)) from None
    say = (lambda s: None) if quiet else (lambda s: typer.echo(s, err=True))
    try:
        result = run(out, formats, quick=quick, data_dir=data_dir, log=say)
    except NNError as e:
        raise Failure(str(e)) from None
    except OSError as e:
        raise Failure(f"could not write the figures into {out!r}: {e}") from None
    typer.echo(f"wrote {len(result.paths)} files into {out}/ in {result.seconds:.1f} s ({result.data.description})")
    for s in result.slides:
        typer.echo(f"  {s.name}: {s.caption}")

