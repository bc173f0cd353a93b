"""``stabkit train``: train the lecture's network on digits or MNIST.

Only parses, calls :mod:`stabkit.nn` and prints. Every problem a user can
cause is one line on stderr: usage errors (exit 2) as ``typer.BadParameter``
(:func:`~stabkit.cli.common.invalid`), data and training failures (exit 1)
from the :class:`stabkit.nn.NNError` family, caught here and nowhere else and
raised again as :class:`~stabkit.cli.common.Failure`. ``--json`` and
``history.json`` encode NaN as null and infinities as "inf" / "-inf", as
``report.json`` does.
"""

from __future__ import annotations

import json
import math
import os
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import numpy as np
import typer

from stabkit._io import jsonable
from .common import PENDING, Failure, check_nonempty_path, check_out_folder, invalid
from .options import check_seed

__all__ = ["app", "train"]

app = typer.Typer()


class Dataset(str, Enum):
    digits = "digits"
    mnist = "mnist"


#: epochs when --epochs is not given
DEFAULT_EPOCHS = {Dataset.digits: 30, Dataset.mnist: 10}


class LossKind(str, Enum):
    logits = "logits"
    probabilities = "probabilities"


class Tier(str, Enum):
    accurate = "accurate"
    stable = "stable"
    naive = "naive"


class OptimizerName(str, Enum):
    adam = "adam"
    sgd = "sgd"


class DType(str, Enum):
    float32 = "float32"
    float64 = "float64"
    float16 = "float16"


class OnNonfinite(str, Enum):
    stop = "stop"
    continue_ = "continue"


def _hidden_sizes(text: str) -> list[int]:
    """``25,15`` as [25, 15]; ``none`` as no hidden layer (softmax
    regression). An empty list or item (``""``, ``25,,15``) is refused: it
    is more likely a slip than that network."""
    if text.strip().lower() == "none":
        return []
    parts = [p.strip() for p in text.split(",")]
    if not text.strip() or not all(parts):
        raise invalid("--hidden", f"empty layer size in {text!r}; write sizes such as 25,15, or none for no hidden layer")
    try:
        sizes = [int(p) for p in parts]
    except ValueError:
        raise invalid("--hidden", f"{text!r} is not a comma-separated list of layer sizes such as 25,15") from None
    if any(s < 1 for s in sizes):
        raise invalid("--hidden", f"layer sizes must be positive, got {text!r}")
    return sizes


def _check_size(sizes: list[int], batch_size: int) -> None:
    """Reject a network whose weights (with gradients and Adam's two moments,
    float64 at worst) and one batch of activations would not fit in memory."""
    import os

    dims = [784, *sizes, 10]  # MNIST's 784 inputs bound both data sets
    params = sum((a + 1) * b for a, b in zip(dims, dims[1:]))
    need = 8 * (4 * params + 3 * min(batch_size, 70000) * sum(dims))
    try:
        have = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        have = 16 << 30
    if need > have:
        raise invalid("--hidden", f"{','.join(map(str, sizes))} needs about {need / 2**30:.3g} GiB of memory "
                                  f"({params:,} weights); this machine has {have / 2**30:.3g} GiB")


def _load(dataset: Dataset, data_dir: Optional[Path], seed: int, quiet: bool = False):
    """``(x_train, y_train, x_test, y_test, description)``. MNIST comes from
    ``data_dir``, else ``$STABKIT_MNIST_DIR``, else the download cache
    (missing files downloaded, progress on stderr unless ``quiet``)."""
    from stabkit.nn import data
    from stabkit.nn.download import fetch_mnist

    if dataset is Dataset.digits:
        X, y = data.load_digits()
        Xtr, Xte, ytr, yte = data.train_test_split(X, y, test_size=0.2, seed=seed)
        return Xtr, ytr, Xte, yte, "digits (scikit-learn 8x8), seeded 80/20 split"
    folder = data_dir if data_dir is not None else data.mnist_env_dir()
    if folder is None:
        folder = fetch_mnist(quiet=quiet)
    X, y = data.read_mnist(folder, split="test")
    if data.has_split(folder, "train"):
        Xtr, ytr = data.read_mnist(folder, split="train")
        return Xtr, ytr, X, y, f"MNIST train/t10k from {folder}"
    data.check_test_split(folder, len(X))  # as slides says it; fewer would leave a split empty
    return X[:8000], y[:8000], X[8000:], y[8000:], \
        f"MNIST t10k from {folder} (no train-* files there): first 8,000 train, last 2,000 test"


def _user_path(e: OSError, out: Path) -> str:
    """The file of ``out`` that could not be written: the error's own path,
    or for one in the temporary folders of the move (``.tmp-*``), the file
    of that name in ``out``."""
    name = e.filename2 or e.filename
    if not name:
        return str(out)
    name = str(name)
    return str(out / os.path.basename(name)) if f"{os.sep}.tmp-" in name else name


def _plot(runs: dict, path: Path) -> None:
    import matplotlib
    from matplotlib.ticker import MaxNLocator

    from stabkit.report.style import subplots

    colors = {"logits": "tab:blue", "probabilities": "tab:red"}  # improved blue, original red
    with matplotlib.rc_context({"font.size": 16}):  # slide style: 16:9, large type
        fig, (ax_loss, ax_acc) = subplots(1, 2, figsize=(12.8, 7.2), layout=None)
        for i, (name, run) in enumerate(runs.items()):
            h, c = run["history"], colors[name]
            epochs = list(range(1, len(h.get("loss", [])) + 1))
            for key, style, label in (("loss", "-", "train"), ("val_loss", "--", "test")):
                if h.get(key):
                    ax_loss.plot(epochs, h[key], style, marker="o", color=c, lw=2.5, label=f"{name} ({label})")
            for key, style, label in (("accuracy", "-", "train"), ("val_accuracy", "--", "test")):
                if h.get(key):
                    ax_acc.plot(epochs, h[key], style, marker="o", color=c, lw=2.5, label=f"{name} ({label})")
            if run["status"] == "stopped":
                where = f"epoch {run['stopped_epoch']}, step {run['stopped_step']}"
                ax_acc.annotate(f"{name}: stopped at {where}", xy=(0.03, 0.05 + 0.07 * i), xycoords="axes fraction", color=c)
        ax_loss.set(xlabel="epoch", ylabel="cross-entropy", title="loss")
        ax_acc.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
        for ax in (ax_loss, ax_acc):
            ax.grid(alpha=0.3)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            if ax.lines:
                ax.legend(fontsize=13)
        fig.tight_layout()
        fig.savefig(path, dpi=100)


@app.command("train")
def train(
    dataset: Annotated[Dataset, typer.Option(help="Data set: scikit-learn's 8x8 digits (no download) or MNIST IDX files.")] = Dataset.digits,
    data_dir_text: Annotated[
        Optional[str],
        typer.Option("--data-dir", help="Folder with MNIST IDX files (gzipped or not; train-* and t10k-*, or t10k-* alone for an "
                          "8,000/2,000 split of the test set); default $STABKIT_MNIST_DIR, else the full MNIST "
                          "downloaded once into ~/.cache/stabkit/mnist ($STABKIT_DATA_DIR/mnist)."),
    ] = None,
    hidden: Annotated[str, typer.Option(help="Hidden ReLU layer sizes, comma separated; none for no hidden layer (softmax regression).")] = "25,15",
    loss: Annotated[
        Optional[LossKind], typer.Option(help="'logits' (the default): linear output + from_logits=True; 'probabilities': softmax layer + -log p. Not with --compare, which trains both.", show_default=False)
    ] = None,
    tier: Annotated[Tier, typer.Option(help="Which stabkit tier computes the loss values (and, for probabilities, Keras's clipping with 'stable').")] = Tier.accurate,
    optimizer: Annotated[OptimizerName, typer.Option(help="Optimizer (Keras defaults).")] = OptimizerName.adam,
    learning_rate: Annotated[Optional[float], typer.Option(help="Learning rate; default 1e-3 for adam, 0.01 for sgd.")] = None,
    epochs: Annotated[
        Optional[int],
        typer.Option(min=1, help="Number of epochs (positive); default 30 for digits (0.96 test accuracy), 10 for mnist (the lecture's)."),
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Mini-batch size (positive).")] = 32,
    dtype: Annotated[DType, typer.Option(case_sensitive=False, help="float32, float64, or float16 mixed precision (float32 master weights).")] = DType.float32,
    seed: Annotated[int, typer.Option(callback=check_seed, help="Seed for the initial weights, the shuffling and the digits split (a non-negative integer).")] = 0,
    out_text: Annotated[Optional[str], typer.Option("--out", help="Folder for history.json and training.png (created if missing).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of progress and text.")] = False,
    compare: Annotated[
        bool, typer.Option("--compare", help="Train the logits and the probabilities versions from identical initial weights.")
    ] = False,
    on_nonfinite: Annotated[
        OnNonfinite, typer.Option(help="At a NaN or inf loss or gradient: stop with a message, or continue and count.")
    ] = OnNonfinite.stop,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No per-epoch progress; only the summary.")] = False,
) -> None:
    """Train the lecture's network (Dense 25 relu, 15 relu, 10) and report test accuracy.

    Each step runs in stabkit's C extension where it applies (from logits,
    float32 or float64) and in NumPy otherwise; the summary says which.
    STABKIT_NATIVE=0 forces the NumPy step. Progress goes to stdout: a bar
    per epoch on a terminal, one line per epoch elsewhere, none with --quiet.
    """
    from stabkit.nn import NNError, NonFiniteError, Sequential, SparseCategoricalCrossentropy
    from stabkit.nn.layers import Dense
    from stabkit.nn.optimizers import SGD, Adam

    if compare and loss is not None:
        raise invalid("--loss", "--compare trains both losses (logits and probabilities); drop --loss or --compare")
    loss = LossKind.logits if loss is None else loss
    sizes = _hidden_sizes(hidden)
    _check_size(sizes, batch_size)
    out = None
    if out_text is not None:
        check_out_folder("--out", out_text)  # an empty path is refused there
        out = Path(out_text)
        PENDING.append(str(out))  # until written: stdout's reader going away is an error now
    if learning_rate is not None and not (math.isfinite(learning_rate) and learning_rate > 0):
        raise invalid("--learning-rate", f"{learning_rate} is not a positive number")
    check_nonempty_path("--data-dir", data_dir_text)  # "" is no folder (Path("") would be the current one)
    data_dir = Path(data_dir_text) if data_dir_text is not None else None
    if data_dir is not None and dataset is not Dataset.mnist:
        raise invalid("--data-dir", "only applies to --dataset mnist")
    if data_dir is not None and not data_dir.is_dir():
        raise invalid("--data-dir", f"{str(data_dir)!r} is not a folder")
    lr = learning_rate if learning_rate is not None else (1e-3 if optimizer is OptimizerName.adam else 0.01)
    if epochs is None:
        # 10 epochs on the 1,438 digits images reach only 0.87; 30 reach 0.96
        epochs = DEFAULT_EPOCHS[dataset]
    try:
        Xtr, ytr, Xte, yte, description = _load(dataset, data_dir, seed)
    except NNError as e:
        raise Failure(str(e)) from None
    n_classes = int(max(ytr.max(), yte.max())) + 1
    kinds = [LossKind.logits, LossKind.probabilities] if compare else [loss]
    runs = {}
    for kind in kinds:
        from_logits = kind is LossKind.logits
        model = Sequential([Dense(u, activation="relu") for u in sizes] + [Dense(n_classes, activation="linear" if from_logits else "softmax")])
        opt = Adam(learning_rate=lr) if optimizer is OptimizerName.adam else SGD(learning_rate=lr)
        model.compile(optimizer=opt, loss=SparseCategoricalCrossentropy(from_logits=from_logits, tier=tier.value), metrics=["accuracy"], dtype=dtype.value)
        model.build(Xtr.shape[1], seed=seed)  # identical initial weights for every run
        if not (as_json or quiet):
            typer.echo(f"== {kind.value}: {model!r}, {model.loss!r}, {dtype.value}")
        run = {"status": "ok", "message": None, "stopped_epoch": None, "stopped_step": None}
        try:
            history = model.fit(
                Xtr, ytr, epochs=epochs, batch_size=batch_size, validation_data=(Xte, yte), seed=seed,
                verbose=0 if as_json or quiet else (1 if sys.stdout.isatty() else 2), on_nonfinite="raise" if on_nonfinite is OnNonfinite.stop else "continue",
            )  # fmt: skip
        except NonFiniteError as e:
            history = e.history
            run.update(status="stopped", message=str(e), stopped_epoch=e.epoch, stopped_step=e.step)
        except NNError as e:
            raise Failure(str(e)) from None
        secs = history.epoch_seconds
        test_loss, test_acc = (model.evaluate(Xte, yte, batch_size=1024) if run["status"] == "ok" else (None, None))
        run.update(
            loss=kind.value,
            test_loss=test_loss,
            test_accuracy=test_acc,
            seconds_per_epoch=float(np.median(secs[1:] if len(secs) > 1 else secs)) if secs else None,
            epoch_seconds=secs,
            step=history.params.get("step"),  # which training step ran: "C" or "NumPy"
            step_reason=history.params.get("step_reason"),
            history=history.history,
        )
        runs[kind.value] = run

    summary = {
        "dataset": description,
        "n_train": int(len(Xtr)),
        "n_test": int(len(Xte)),
        "hidden": sizes,
        "optimizer": optimizer.value,
        "learning_rate": lr,
        "epochs": epochs,
        "batch_size": batch_size,
        "dtype": dtype.value,
        "tier": tier.value,
        "seed": seed,
        "runs": runs,
    }
    if out is not None:
        from stabkit._io import atomic_write, staged_dir

        try:
            # both files or neither: written into a temporary folder, then moved in together
            with staged_dir(str(out)) as tmp:
                atomic_write(os.path.join(tmp, "history.json"), json.dumps(jsonable(summary), indent=2) + "\n")
                _plot(runs, Path(tmp) / "training.png")
        except OSError as e:
            where = _user_path(e, out)
            raise Failure(f"cannot write to {where}: {e.strerror or e}") from None
        PENDING.remove(str(out))
    if as_json:
        typer.echo(json.dumps(jsonable(summary)))
    else:
        typer.echo(f"{description}; {len(Xtr)} train / {len(Xte)} test; {optimizer.value} lr {lr:g}, batch {batch_size}, tier {tier.value}")
        for name, run in runs.items():
            if run["status"] == "ok":
                step = f"{run['step']} step" + (f": {run['step_reason']}" if run["step_reason"] else "")
                typer.echo(
                    f"{name:>13}: test accuracy {run['test_accuracy']:.4f}, test loss {run['test_loss']:.4f}, "
                    f"{run['seconds_per_epoch']:.4f} s/epoch ({step})"
                )
            else:
                typer.echo(f"{name:>13}: stopped: {run['message']}")
        if out is not None:
            typer.echo(f"wrote {out / 'history.json'} and {out / 'training.png'}")
    stopped = [r for r in runs.values() if r["status"] == "stopped"]
    if stopped and not compare:
        raise Failure(stopped[0]["message"])

