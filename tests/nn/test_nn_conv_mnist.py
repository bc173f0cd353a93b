"""The small CNN learns MNIST: first 8,000 test images to train, last 2,000 to test."""

from __future__ import annotations

import pytest
from helpers.nn import mnist_split

from stabkit.nn import Adam, Conv2D, Dense, Flatten, MaxPooling2D, Sequential, SparseCategoricalCrossentropy

#: Measured (docs/trainer.md, "Convolutional layers"): this network, Adam(3e-3),
#: batch 32, 5 epochs, seeds 0-3 reach 0.961-0.970 here (Keras 3 on JAX the
#: same); with Keras's default learning rate 1e-3 both stay near 0.945. The
#: issue's 0.97 is not reached reliably by 8 filters in 5 epochs.
MIN_ACCURACY = 0.955


@pytest.mark.slow  # ~3-6 s: five epochs of 250 steps
def test_small_cnn_learns_mnist_in_five_epochs():
    Xtr, ytr, Xte, yte = mnist_split()
    # read_mnist gives (n, 784); the lecture's Keras code adds the channel axis so
    Xtr, Xte = Xtr.reshape(-1, 28, 28, 1), Xte.reshape(-1, 28, 28, 1)
    model = Sequential([Conv2D(8, 3, activation="relu"), MaxPooling2D(), Flatten(), Dense(10)])
    model.compile(optimizer=Adam(learning_rate=3e-3), loss=SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    h = model.fit(Xtr, ytr, epochs=5, batch_size=32, seed=0, verbose=0)
    assert h.params["step"] == "NumPy"
    assert h.history["loss"][-1] < h.history["loss"][0] / 2
    loss, accuracy = model.evaluate(Xte, yte)
    assert accuracy >= MIN_ACCURACY
