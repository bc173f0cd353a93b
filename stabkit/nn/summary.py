"""``model.summary()``: the layer table Keras 3 prints, character for character.

Keras draws it with ``rich``: at its default width (88 characters cut to the
terminal's columns less 4: 76 with no terminal or an 80-column one) the three
columns take 45%, 35% and 20% of the line, less the borders; Keras's
``show_trainable=True`` adds a fourth, "Trainable" (12 characters more by
default, the others scaled by 0.9). For the Dense, Dropout and
convolutional models tested, the text is the same as Keras's
(``tests/nn/test_nn_keras.py``, ``tests/nn/test_nn_keras_arguments.py``).
A cell longer than its column is wrapped at its spaces onto the lines below,
as rich wraps it (``batch_normalization`` over ``(BatchNormalization)``,
``0`` over ``(unbuilt)``); a word longer than the column is cut to end in
``…`` (``Trai…``, ``batch_normaliz…``).
"""

from __future__ import annotations

import shutil

from .conv import Flatten
from .errors import NNError
from .normalization import Normalization

__all__ = ["text", "readable_size", "default_length"]

#: Keras's column positions (fractions of the line) for a Sequential model;
#: with the Trainable column, each times 0.9, then 1.0
POSITIONS = (0.45, 0.80, 1.0)
#: what rich takes from each column for the borders and padding at these positions
#: (measured against Keras for line lengths 40 to 120: always 1, 2, 1; 1, 1, 2, 1 with four columns)
SHRINK = {3: (1, 2, 1), 4: (1, 1, 2, 1)}
#: Keras's default line length (cut to the terminal's width less 4)
DEFAULT_LENGTH = 88


def readable_size(nbytes: float) -> str:
    """``'7.36 KB'``: bytes in the largest unit of 1024 below them, two decimals."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if nbytes < 1024:
            return f"{nbytes:.2f} {unit}"
        nbytes /= 1024
    return f"{nbytes:.2f} PB"


def default_length(show_trainable: bool = False) -> int:
    """Keras's width for ``line_length=None``: 88 characters (100 with the
    Trainable column), cut to the terminal's columns less 4
    (``shutil.get_terminal_size``: ``$COLUMNS``, else the terminal, else 80);
    at least 40 here."""
    return max(min(DEFAULT_LENGTH + 12 * bool(show_trainable), shutil.get_terminal_size().columns - 4), 40)


def _widths(line_length: int, show_trainable: bool) -> list[int]:
    positions = [p * 0.90 for p in POSITIONS] + [1.0] if show_trainable else POSITIONS  # Keras's arithmetic
    raw, current = [], 0
    for p in positions:
        raw.append(int(p * line_length) - current)
        current += raw[-1]
    return [w - s for w, s in zip(raw, SHRINK[len(raw)])]


def _wrap(text: str, width: int) -> list[str]:
    """``text`` in lines of at most ``width``, broken at spaces; a longer
    word is cut to end in ``…``, as rich's cells (``batch_normaliz…``)."""
    lines, line = [], ""
    for word in text.split(" "):
        if len(word) > width:
            word = word[: width - 1] + "…"
        if not line:
            line = word
        elif len(line) + 1 + len(word) <= width:
            line += " " + word
        else:
            lines.append(line)
            line = word
    return lines + [line] if line or not lines else lines


def _align(text: str, width: int, how: str) -> str:
    if how == "right":
        return text.rjust(width)
    if how == "center":  # rich's: the odd space on the right
        left = (width - len(text)) // 2
        return " " * left + text + " " * (width - len(text) - left)
    return text.ljust(width)


def _row(cells, widths, bar, header: bool = False) -> str:
    """One row of the table: each cell wrapped to its column (the header's
    lines at the bottom, as rich aligns them, a row's at the top)."""
    aligns = ("left", "left", "right", "center")
    pieces = [_wrap(c, w - 2) for c, w in zip(cells, widths)]
    height = max(map(len, pieces))
    pieces = [([""] * (height - len(p)) + p) if header else (p + [""] * (height - len(p))) for p in pieces]
    return "\n".join(bar + bar.join(f" {_align(p[k], w - 2, a)} " for p, w, a in zip(pieces, widths, aligns)) + bar
                     for k in range(height))  # fmt: skip


def _rule(widths, left, mid, right, fill) -> str:
    return left + mid.join(fill * w for w in widths) + right


def _params(layer, built_model: bool) -> str:
    """The Param # cell: the layer's count; for a layer not built yet
    (Keras builds Dense, Conv2D, BatchNormalization, Normalization and
    Flatten on their first call; MaxPooling2D, Dropout and the activation
    layers when made) ``0 (unbuilt)``, as Keras's."""
    if built_model or layer.weights:  # also a layer another model, or a call on it alone, built
        return f"{sum(a.size for a in layer.weights):,}"
    return "0 (unbuilt)" if layer.weight_names or isinstance(layer, (Flatten, Normalization)) else "0"


def text(model, line_length: int | None = None, show_trainable: bool = False) -> str:
    """The summary of ``model`` as Keras prints it (ending in a newline);
    ``line_length`` None: :func:`default_length`; ``show_trainable``: Keras
    3's Trainable column (``Y``, ``N``, or ``-`` for a layer without weights)."""
    line_length = default_length(show_trainable) if line_length is None else line_length
    if isinstance(line_length, bool) or not isinstance(line_length, int) or line_length < 40:
        raise NNError(f"line_length must be an integer of at least 40, got {line_length!r}")
    widths = _widths(line_length, show_trainable)
    rows = []
    outs = model._shapes()[1:] if model.built else None
    for i, layer in enumerate(model.layers):
        shape = "?" if outs is None else f"(None, {', '.join(map(str, outs[i]))})"
        row = [f"{layer.name} ({type(layer).__name__})", shape, _params(layer, outs is not None)]
        if show_trainable:
            row.append(("Y" if layer.trainable else "N") if layer.weights else "-")
        rows.append(row)
    header = ["Layer (type)", "Output Shape", "Param #", "Trainable"][: len(widths)]
    lines = [f'Model: "{model.name}"', _rule(widths, "┏", "┳", "┓", "━"), _row(header, widths, "┃", header=True),
             _rule(widths, "┡", "╇", "┩", "━")]  # fmt: skip
    for k, row in enumerate(rows):
        if k:
            lines.append(_rule(widths, "├", "┼", "┤", "─"))
        lines.append(_row(row, widths, "│"))
    lines.append(_rule(widths, "└", "┴", "┘", "─"))
    itemsize = model._master.itemsize
    trained, frozen = model._param_counts()  # 0, 0 unbuilt (count_params raises then)
    n = trained + frozen
    opt = model.optimizer
    # Keras counts the optimizer's variables once it has stepped: its state
    # for each trainable weight (it keeps none for a frozen one), plus the
    # step count and the learning rate (4 bytes each)
    # (a flat state vector counts its trained entries; a scalar, Nadam's product, counts once)
    n_opt = (sum(trained if v.size == opt._size else v.size for v in opt.variables().values()) + 2
             if opt is not None and opt.iterations > 0 else 0)  # fmt: skip
    total_bytes = n * itemsize + (n_opt - 2) * itemsize + 8 if n_opt else n * itemsize
    lines += [f" Total params: {n + n_opt:,} ({readable_size(total_bytes)})",
              f" Trainable params: {trained:,} ({readable_size(trained * itemsize)})",
              f" Non-trainable params: {frozen:,} ({readable_size(frozen * itemsize)})"]  # fmt: skip
    if n_opt:
        lines.append(f" Optimizer params: {n_opt:,} ({readable_size((n_opt - 2) * itemsize + 8)})")
    return "\n".join(lines) + "\n"
