"""What ``fit`` returns, and its Keras-style progress bar."""

from __future__ import annotations

__all__ = ["History", "Progress", "format_logs", "final_line", "bar_marks"]


class History:
    """What ``fit`` returns: ``history[key]`` is a list with one value per epoch,
    and ``epoch`` the epochs' 0-based indices (as Keras).

    Keys: ``loss``, each compiled metric by its name (``accuracy``, ...),
    ``val_loss`` and ``val_<metric>`` (with validation data), and the stability diagnostics
    ``max_logit_gap`` (largest ``max(z) - z_y`` seen in the epoch; for
    the binary loss, how far a logit sat on the wrong side of 0),
    ``min_true_prob`` (smallest probability of a true class) and
    ``nonfinite_steps`` (steps whose loss or gradient was NaN or inf).
    ``model`` is the model that was fitted (Keras's ``History.model``),
    ``epoch_seconds`` holds the wall time of each epoch, and ``params``
    (as in Keras) ``verbose``, ``epochs``, ``steps`` (per epoch), ``batch_size`` and
    ``step``: which training step ran, ``'C'`` (the compiled one) or
    ``'NumPy'``, with ``step_reason`` saying why not C (where that is only
    because the extension is missing, the first such ``fit`` of the process
    also warns, with ``stabkit.nn.NativeStepWarning``).
    """

    def __init__(self, model=None):
        self.model = model
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []
        self.epoch_seconds: list[float] = []
        self.params: dict[str, object] = {}

    def append(self, epoch: int, seconds: float, logs: dict[str, float]) -> None:
        self.epoch.append(epoch)
        self.epoch_seconds.append(seconds)
        for k, v in logs.items():
            self.history.setdefault(k, []).append(v)

    def __repr__(self):
        last = ", ".join(f"{k}={v[-1]:.4g}" for k, v in self.history.items()) if self.epoch else "empty"
        return f"History({len(self.epoch)} epochs: {last})"


class Progress:
    """Keras 3's progress bar for one epoch (verbose=1): ``Epoch 2/10`` when
    there are several epochs (none for one, as Keras 3), a 20-wide bar
    (``━`` done, ``─`` to come) redrawn as the steps run, and Keras 3's
    last line in its place (:func:`final_line`: time, time per step, the
    logs sorted by name). Plain text: no colour codes."""

    def __init__(self, epoch, epochs, steps, stream):
        self.steps, self.stream, self.every = steps, stream, max(1, steps // 25)
        self.marks = bar_marks(stream)
        if epochs > 1:
            stream.write(f"Epoch {epoch}/{epochs}\n")

    def update(self, done):
        if done % self.every == 0 or done == self.steps:
            w, filled = len(str(self.steps)), 20 * done // self.steps
            done_mark, todo_mark = self.marks
            self.stream.write(f"\r{done:>{w}}/{self.steps} {done_mark * filled}{todo_mark * (20 - filled)}")
            self.stream.flush()

    def finish(self, seconds, logs):
        # the final line is at least as long as the bar it overwrites
        self.stream.write("\r" + final_line(self.steps, seconds, logs, 1, self.stream))
        self.stream.flush()


def bar_marks(stream) -> tuple[str, str]:
    """Keras 3's bar marks, ``━`` done and ``─`` to come, or ``=`` and
    ``.`` where ``stream``'s encoding has no such characters (a cp1252
    console, ``PYTHONIOENCODING=ascii``), which would fail the write."""
    try:
        "━─".encode(getattr(stream, "encoding", None) or "utf-8")
    except (UnicodeEncodeError, LookupError):
        return "=", "."
    return "━", "─"


#: the diagnostics of each epoch's logs, kept in History but not printed
DIAGNOSTICS = ("max_logit_gap", "min_true_prob", "nonfinite_steps")


def format_logs(logs):
    """``loss: 0.1234 - accuracy: 0.9500 - val_loss: ...``: the loss and the
    metrics in the logs' order, as Keras prints them (not the diagnostics)."""
    return " - ".join(f"{k}: {v:.4f}" for k, v in logs.items() if k not in DIAGNOSTICS)


def _step_time(seconds: float) -> str:
    """Keras's time per step: ``3s/step``, ``62ms/step``, ``375us/step``."""
    if seconds >= 1 or seconds == 0:
        return f"{seconds:.0f}s/step"
    return f"{seconds * 1e3:.0f}ms/step" if seconds >= 1e-3 else f"{seconds * 1e6:.0f}us/step"


def final_line(steps: int, seconds: float, logs: dict, verbose: int, stream=None) -> str:
    """Keras 3's last progress line for ``steps`` batches that took
    ``seconds``: verbose 1 ``16/16 ━━━━━━━━━━━━━━━━━━━━ 0s 2ms/step - accuracy:
    0.9500 - loss: 0.1234``, verbose 2 ``16/16 - 0s - 2ms/step - ...``. The
    logs are sorted by name, as Keras sorts them, with four decimals (four
    significant digits at or below 1e-3, ``0.0000e+00``); not the diagnostics."""
    fields = "".join(f" - {k}: {v:.4f}" if abs(v) > 1e-3 else f" - {k}: {v:.4e}"
                     for k, v in sorted(logs.items()) if k not in DIAGNOSTICS)  # fmt: skip
    count, per = f"{steps}/{steps}", _step_time(seconds / steps if steps else 0.0)
    if verbose == 1:  # the full bar, in marks ``stream`` can take
        return f"{count} {bar_marks(stream)[0] * 20} {seconds:.0f}s {per}{fields}\n"
    return f"{count} - {seconds:.0f}s - {per}{fields}\n"
