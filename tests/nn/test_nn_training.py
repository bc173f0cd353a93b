"""Training behaviour: the lecture network on real MNIST, the float16
naive-vs-logits collapse, the digits default, the docs example as written."""

from __future__ import annotations

import re

import numpy as np
import pytest
from helpers.nn import REPO, lecture_model, mnist_dir, mnist_split

from stabkit.nn import (
    SGD,
    Adam,
    BinaryCrossentropy,
    Dense,
    NonFiniteError,
    Sequential,
    SparseCategoricalCrossentropy,
)
from stabkit.nn.data import load_digits, train_test_split


@pytest.mark.slow
def test_lecture_network_reaches_93_percent_on_mnist():
    """The slide's network, Adam(1e-3), from logits, 10 epochs at batch 32
    (Keras 3 reaches 0.9375 on this split, a plain NumPy loop 0.941)."""
    Xtr, ytr, Xte, yte = mnist_split()
    model = lecture_model()
    model.compile(optimizer=Adam(learning_rate=1e-3), loss=SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    history = model.fit(Xtr, ytr, epochs=10, batch_size=32, seed=0, verbose=0)
    _, accuracy = model.evaluate(Xte, yte)
    assert accuracy >= 0.93
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert history.history["nonfinite_steps"] == [0] * 10


@pytest.mark.slow
def test_float16_softmax_output_breaks_where_logits_do_not():
    """Measured: in float16 mixed precision at batch 32 the naive network
    (softmax layer, then -log p_y) breaks in epoch 2 or 3 for most seeds:
    -1/p_y overflows once p_y < 1/65504 (a logit gap of about 11), the weights
    become NaN and accuracy falls to chance; from logits, the same seeds train."""
    Xtr, ytr, Xte, yte = mnist_split()
    broken = []
    for seed in range(3):
        model = lecture_model("softmax")
        model.compile(optimizer=Adam(1e-3), loss=SparseCategoricalCrossentropy(tier="naive"), dtype="float16")
        try:
            model.fit(Xtr, ytr, epochs=4, batch_size=32, seed=seed, verbose=0)
        except NonFiniteError as e:
            broken.append(seed)
            assert re.fullmatch(
                r"gradient became NaN at epoch \d, step \d+: 1/p overflowed in float16 "
                r"\(smallest p_y = [0-9.e+-]+ < 1/65504\); use from_logits=True",
                str(e),
            ), str(e)
            assert len(e.history.epoch) == e.epoch - 1
            assert np.all(np.isfinite(model._P))  # stopped before the NaN update
    assert broken, "float16 softmax + -log p_y survived every seed"

    seed = broken[0]
    naive = lecture_model("softmax")
    naive.compile(optimizer=Adam(1e-3), loss=SparseCategoricalCrossentropy(tier="naive"), metrics=["accuracy"], dtype="float16")
    h = naive.fit(Xtr, ytr, epochs=10, batch_size=32, seed=seed, verbose=0, on_nonfinite="continue")
    assert h.history["nonfinite_steps"][-1] == 250  # every step, once the weights are NaN
    assert naive.evaluate(Xte, yte)[1] < 0.2  # chance

    logits = lecture_model()
    logits.compile(optimizer=Adam(1e-3), loss=SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"], dtype="float16")
    h = logits.fit(Xtr, ytr, epochs=10, batch_size=32, seed=seed, verbose=0)
    assert sum(h.history["nonfinite_steps"]) == 0
    assert min(h.history["min_true_prob"]) < 1e-4  # deep in the tail where -1/p_y nears 65504
    assert logits.evaluate(Xte, yte)[1] >= 0.93
    assert logits(Xte[:5]).dtype == np.float16 and logits.get_weights()[0].dtype == np.float32


def test_naive_tier_loss_overflow_is_named_at_its_step():
    """From logits the gradient is fused and finite, but the naive tier's
    reported loss exp(z)/sum(exp(z)) overflows in float16 past z = 11.1."""
    X, y = np.array([[1.0], [2.0], [3.0], [4.0]]), np.array([0, 1, 0, 1])
    model = Sequential([Dense(2)])
    model.compile(loss=SparseCategoricalCrossentropy(from_logits=True, tier="naive"), dtype="float16")
    model.build(1)
    model.set_weights([np.array([[0.0, 4.0]]), np.zeros(2)])  # logit 16 for the last sample
    with pytest.raises(NonFiniteError, match=r"loss became NaN at epoch 1, step 2: exp\(z\) overflowed in the naive softmax"):
        model.fit(X, y, batch_size=2, shuffle=False, verbose=0)
    model.set_weights([np.array([[0.0, 4.0]]), np.zeros(2)])
    model.compile(loss=SparseCategoricalCrossentropy(from_logits=True, tier="accurate"), dtype="float16")
    h = model.fit(X, y, batch_size=2, shuffle=False, verbose=0)
    assert np.isfinite(h.history["loss"][0])


def test_digits_default_dataset_trains():
    X, y = load_digits()
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.2, seed=0)
    model = lecture_model()
    model.compile(optimizer=Adam(1e-3), loss=SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    h = model.fit(Xtr, ytr, epochs=30, validation_data=(Xte, yte), seed=0, verbose=0)
    assert h.history["val_accuracy"][-1] > 0.9
    assert set(h.history) >= {"loss", "accuracy", "val_loss", "val_accuracy", "max_logit_gap", "min_true_prob"}


def test_same_seed_gives_identical_runs_and_tiers_share_the_gradient():
    X, y = load_digits()
    runs = {}
    for tier in ("naive", "stable", "accurate"):
        model = lecture_model()
        model.compile(loss=SparseCategoricalCrossentropy(from_logits=True, tier=tier), metrics=["accuracy"])
        runs[tier] = (model.fit(X[:500], y[:500], epochs=2, seed=4, verbose=0), model.get_weights())
    for tier in ("naive", "stable"):
        for a, b in zip(runs[tier][1], runs["accurate"][1], strict=True):
            np.testing.assert_array_equal(a, b)  # the fused gradient does not depend on the tier
        assert runs[tier][0].history["loss"] == pytest.approx(runs["accurate"][0].history["loss"], rel=1e-5)


def test_full_batch_sgd_decreases_the_loss_every_epoch():
    X, y = load_digits()
    model = Sequential([Dense(10)])
    model.compile(optimizer=SGD(learning_rate=0.5), loss=SparseCategoricalCrossentropy(from_logits=True))
    h = model.fit(X, y, epochs=15, batch_size=len(X), seed=0, verbose=0)
    assert model.optimizer.iterations == 15
    assert np.all(np.diff(h.history["loss"]) < 0)


def test_multilabel_car_bus_pedestrian():
    """One sigmoid per output (the slides' car / bus / pedestrian detector)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 6)).astype(np.float32)
    Y = np.stack([X[:, 0] > 0, X[:, 1] + X[:, 2] > 0, X[:, 3] > 0.5], axis=1).astype(np.float32)
    for from_logits in (True, False):
        model = Sequential([Dense(16, activation="relu"), Dense(3, activation=None if from_logits else "sigmoid")])
        model.compile(optimizer=Adam(1e-2), loss=BinaryCrossentropy(from_logits=from_logits), metrics=["accuracy"])
        h = model.fit(X, Y, epochs=20, seed=1, verbose=0)
        assert h.history["accuracy"][-1] > 0.9


def test_verbose_progress_and_validation_split(capsys):
    X, y = load_digits()
    model = lecture_model()
    model.compile(loss=SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    h = model.fit(X, y, epochs=2, validation_split=0.25, seed=0, verbose=1)
    out = capsys.readouterr().out
    assert "Epoch 2/2" in out and "val_accuracy" in out
    # Keras 3's bar and last line: logs sorted by name, each epoch's last line whole
    lines = [part.split("\r")[-1] for part in out.split("\n")]
    finals = [line for line in lines if line.startswith("43/43 ")]
    assert len(finals) == 2 and all(re.fullmatch(r"43/43 ━{20} \d+s \d+(?:s|ms|us)/step - accuracy: 0\.\d{4} - loss: "
                                                 r"\d\.\d{4} - val_accuracy: 0\.\d{4} - val_loss: \d\.\d{4}", f)
                                    for f in finals), finals  # fmt: skip
    assert "\r 1/43 ━─" in out or "━─" in out  # the bar as it runs
    model.fit(X, y, epochs=1, seed=0, verbose=1)
    assert "Epoch" not in capsys.readouterr().out  # one epoch: no "Epoch 1/1", as Keras 3
    assert len(h.history["val_loss"]) == 2  # 1797 * 0.75 -> 1348 training samples, 43 steps


def _docs_example():
    text = (REPO / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    stabkit_blocks = [b for b in blocks if "from stabkit.nn import Sequential" in b]
    assert len(stabkit_blocks) == 1, "README.md should hold exactly one stabkit trainer example block"
    return stabkit_blocks[0]


@pytest.mark.slow
def test_docs_example_runs_as_written(monkeypatch, tmp_path):
    """The README's block, as written, against a loopback mirror serving the
    MNIST test set under all four names: the real download path, no internet
    (10,000 images to train on and the same 10,000 to test, so the bar is
    only that it learns)."""
    from helpers.nn import MnistMirror, refuse_non_loopback

    from stabkit.nn import download

    folder = mnist_dir()
    t10k = ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
    if not all((folder / n).is_file() for n in t10k):
        pytest.skip(f"the MNIST test set is not at {folder} (set STABKIT_MNIST_DIR to its folder)")
    refuse_non_loopback(monkeypatch)
    server = MnistMirror({n: (folder / n).read_bytes() for n in t10k})
    try:
        monkeypatch.setattr(download, "MNIST_SHA256", server.checksums())
        monkeypatch.setenv("STABKIT_MNIST_MIRROR", server.url("m"))
        monkeypatch.setenv("STABKIT_DATA_DIR", str(tmp_path / "data"))
        monkeypatch.chdir(REPO)
        namespace = {}
        exec(compile(_docs_example(), "README.md", "exec"), namespace)
    finally:
        server.close()
    p = namespace["f_x"]
    assert p.shape == (10000, 10)
    np.testing.assert_allclose(p.sum(axis=1), 1, rtol=1e-5)
    assert np.mean(np.argmax(p, axis=1) == namespace["y_test"]) >= 0.93


def test_the_bar_falls_back_to_ascii_where_stdout_cannot_take_keras_marks():
    # fit's default verbose=1 raised UnicodeEncodeError on a cp1252 or ascii
    # stdout (a Windows console) once the bar became Keras 3's
    import contextlib
    import io

    X, y = load_digits()
    model = lecture_model()
    model.compile(loss=SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    for encoding, mark in (("ascii", "="), ("cp1252", "="), ("utf-8", "━")):
        raw = io.BytesIO()
        out = io.TextIOWrapper(raw, encoding=encoding)
        with contextlib.redirect_stdout(out):
            model.fit(X[:200], y[:200], epochs=1, seed=0)
            model.predict(X[:40], verbose=1)
            model.evaluate(X[:40], y[:40], verbose=1)
        out.flush()
        text = raw.getvalue().decode(encoding)
        assert text.count(mark * 20) == 4, (encoding, text)  # the last bar, its final line, predict, evaluate
