"""``stabkit slides``: draw the figures of the lecture into a gallery.

Only parses, calls :func:`stabkit.slides.run` and prints. A bad argument is
one line on stderr and exit code 2 (nothing is written before the arguments
are checked); data that cannot be read or downloaded, or a folder that
cannot be written, is one line and exit code 1. Figures, the gallery's
index and README are rendered in memory first and written atomically at
the end.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from .common import Failure, check_nonempty_path, check_out_folder, invalid, slash

__all__ = ["app", "slides"]

app = typer.Typer()


class Theme(str, Enum):
    light = "light"
    dark = "dark"


class Aspect(str, Enum):
    wide = "16:9"
    classic = "4:3"


def _formats(text: str) -> tuple[str, ...]:
    from stabkit.slides import FORMATS

    items = [t.strip().lower() for t in text.split(",")]
    if not any(items):
        raise invalid("--format", f"empty list {text!r}; use png, pdf and/or svg")
    if not all(items):  # as an empty list is refused: a slip, more likely than meant
        raise invalid("--format", f"empty item in {text!r}; use png, pdf and/or svg")
    for t in items:
        if t not in FORMATS:
            raise invalid("--format", f"unknown figure format {t!r}; use png, pdf and/or svg")
    return tuple(dict.fromkeys(items))


@app.command("slides")
def slides(
    out: Annotated[str, typer.Option(help="Folder for the figures, gallery.json and the gallery's README.md "
                                          "(created if missing; figures of the same name are replaced).")] = "slides",
    format: Annotated[str, typer.Option("--format", help="Comma-separated figure formats: png, pdf, svg.")] = "png",
    only: Annotated[str | None, typer.Option(
        help="Draw only these figures, by number (comma-separated: 06,07b; 05 means 05a and 05b); the gallery "
             "keeps the others' entries.")] = None,
    data_dir_text: Annotated[str | None, typer.Option(
        "--data-dir", help="Folder with the MNIST t10k IDX files (.gz or not). Default: $STABKIT_MNIST_DIR, else the download "
             "cache ($STABKIT_DATA_DIR/mnist or ~/.cache/stabkit/mnist), downloaded into once when empty "
             "($STABKIT_MNIST_MIRROR names the mirror).")] = None,
    digits: Annotated[bool, typer.Option(
        "--digits", help="Use scikit-learn's 8x8 digits instead of MNIST (no download). Every figure drawn from "
                         "them says so; 07, 07b and 09, whose lesson needs MNIST, are left out.")] = False,
    theme: Annotated[Theme, typer.Option(help="Light (white background) or dark (dark background, light text).")]
    = Theme.light,
    font_scale: Annotated[float, typer.Option(help="Multiply every font size by this (0.5 to 2.0); the code "
                                                   "slide sizes its code to fit instead. Where a slide has no "
                                                   "room for the larger type, texts wrap or shrink until none "
                                                   "overlaps another.")] = 1.0,
    aspect: Annotated[Aspect, typer.Option(help="Slide shape: 16:9 (1920x1080 PNG) or 4:3 (1440x1080 PNG).")]
    = Aspect.wide,
    quick: Annotated[bool, typer.Option("--quick", help="Small data (2,000 MNIST images) and 3 epochs: seconds, for "
                                                         "tests; the figures trained on it say so.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No status lines on stderr.")] = False,
) -> None:
    """Draw the lecture's figures (softmax, round-off, from_logits, training, Adam) and their gallery."""
    from stabkit.nn import NNError
    from stabkit.slides import Look, run, select

    formats = _formats(format)
    try:
        select(only)
    except ValueError as e:
        raise invalid("--only", str(e)) from None
    try:
        look = Look(theme.value, font_scale, aspect.value)
    except ValueError as e:
        raise invalid("--font-scale", str(e)) from None
    check_nonempty_path("--data-dir", data_dir_text)  # "" is no folder (Path("") would be the current one)
    data_dir = Path(data_dir_text) if data_dir_text is not None else None
    if data_dir is not None and not data_dir.is_dir():
        raise invalid("--data-dir", f"{str(data_dir)!r} is not a folder")
    if digits and data_dir is not None:
        raise invalid("--digits", "--digits and --data-dir exclude each other")
    check_out_folder("--out", out)  # an empty path, a file, or a folder that cannot be written: refused up front
    say = (lambda s: None) if quiet else (lambda s: typer.echo(s, err=True))
    try:
        result = run(out, formats, quick=quick, data_dir=data_dir, digits=digits, only=only, look=look,
                     quiet=quiet, log=say)
    except NNError as e:  # before ValueError: a DataError is one
        raise Failure(str(e)) from None
    except ValueError as e:  # a figure that needs MNIST, asked for with --digits
        raise invalid("--only", str(e)) from None
    except OSError as e:
        raise Failure(f"could not write the figures into {out!r}: {e}") from None
    data = f" ({result.data.description})" if result.data is not None else ""
    typer.echo(f"wrote {len(result.paths)} files into {slash(out)} in {result.seconds:.1f} s{data}")
    for s in result.slides:
        typer.echo(f"  {s.name}: {s.caption}")
