"""``model.summary()``: the layer table Keras 3 prints, character for character.

Keras draws it with ``rich``: at its default width (76 characters, what it
prints with no terminal or an 80-column one) the three columns take 45%, 35%
and 20% of the line, less the borders. For the Dense, Dropout and
convolutional models tested, the text is the same as Keras's
(``tests/nn/test_nn_keras.py``). A first cell longer than its column is
wrapped at its spaces onto the lines below, as rich wraps it
(``batch_normalization`` over ``(BatchNormalization)``); a word longer than
the column is cut.
"""

from __future__ import annotations

__all__ = ["text", "readable_size"]

#: Keras's column positions (fractions of the line) for a Sequential model
POSITIONS = (0.45, 0.80, 1.0)
#: what rich takes from each column for the borders and padding at these positions
#: (measured against Keras for line lengths 50 to 80: always 1, 2, 1)
SHRINK = (1, 2, 1)


def readable_size(nbytes: float) -> str:
    """``'7.36 KB'``: bytes in the largest unit of 1024 below them, two decimals."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if nbytes < 1024:
            return f"{nbytes:.2f} {unit}"
        nbytes /= 1024
    return f"{nbytes:.2f} PB"


def _widths(line_length: int) -> list[int]:
    edges = [int(p * line_length) for p in POSITIONS[:-1]] + [line_length]
    raw = [b - a for a, b in zip([0] + edges[:-1], edges)]
    return [w - s for w, s in zip(raw, SHRINK)]


def _wrap(text: str, width: int) -> list[str]:
    """``text`` in lines of at most ``width``, broken at spaces (a longer word cut)."""
    lines, line = [], ""
    for word in text.split(" "):
        while len(word) > width:
            if line:
                lines.append(line)
                line = ""
            lines.append(word[:width])
            word = word[width:]
        if not line:
            line = word
        elif len(line) + 1 + len(word) <= width:
            line += " " + word
        else:
            lines.append(line)
            line = word
    return lines + [line] if line or not lines else lines


def _row(cells, widths, bar, right_last=True) -> str:
    first = _wrap(cells[0], widths[0] - 2)
    rows = []
    for k, piece in enumerate(first):
        out = []
        for i, (c, w) in enumerate(zip((piece, *cells[1:]) if k == 0 else (piece, *("",) * (len(cells) - 1)), widths)):
            body = c.rjust(w - 2) if right_last and i == len(cells) - 1 else c.ljust(w - 2)
            out.append(f" {body} ")
        rows.append(bar + bar.join(out) + bar)
    return "\n".join(rows)


def _rule(widths, left, mid, right, fill) -> str:
    return left + mid.join(fill * w for w in widths) + right


def text(model, line_length: int = 76) -> str:
    """The summary of ``model`` as Keras prints it (ending in a newline)."""
    if isinstance(line_length, bool) or not isinstance(line_length, int) or line_length < 40:
        from .errors import NNError

        raise NNError(f"line_length must be an integer of at least 40, got {line_length!r}")
    widths = _widths(line_length)
    rows = []
    outs = model._shapes()[1:] if model.built else None
    for i, layer in enumerate(model.layers):
        name = f"{layer.name} ({type(layer).__name__})"
        if outs is None:
            shape, params = "?", "0 (unbuilt)" if layer.weight_names else "0"
        else:
            shape = f"(None, {', '.join(map(str, outs[i]))})"
            params = f"{sum(getattr(layer, n).size for n in layer.weight_names):,}"
        rows.append((name, shape, params))
    lines = [f'Model: "{model.name}"', _rule(widths, "┏", "┳", "┓", "━"),
             _row(("Layer (type)", "Output Shape", "Param #"), widths, "┃"),
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
