"""``model.summary()``: the layer table Keras 3 prints, character for character.

Keras draws it with ``rich``: at its default width (76 characters, what it
prints with no terminal or an 80-column one) the three columns take 45%, 35%
and 20% of the line, less the borders. For the Dense, Dropout and
convolutional models tested, the text is the same as Keras's
(``tests/nn/test_nn_keras.py``). A name longer than its column is not
wrapped here (rich wraps it).
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


def _row(cells, widths, bar, right_last=True) -> str:
    out = []
    for i, (c, w) in enumerate(zip(cells, widths)):
        body = c.rjust(w - 2) if right_last and i == len(cells) - 1 else c.ljust(w - 2)
        out.append(f" {body} ")
    return bar + bar.join(out) + bar


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
    n_opt = len(opt.variables()) * trained + 2 if opt is not None and opt.iterations > 0 else 0
    total_bytes = n * itemsize + (n_opt - 2) * itemsize + 8 if n_opt else n * itemsize
    lines += [f" Total params: {n + n_opt:,} ({readable_size(total_bytes)})",
              f" Trainable params: {trained:,} ({readable_size(trained * itemsize)})",
              f" Non-trainable params: {frozen:,} ({readable_size(frozen * itemsize)})"]  # fmt: skip
    if n_opt:
        lines.append(f" Optimizer params: {n_opt:,} ({readable_size((n_opt - 2) * itemsize + 8)})")
    return "\n".join(lines) + "\n"
