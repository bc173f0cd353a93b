"""The small CNN learns MNIST: first 8,000 test images to train, last 2,000 to test."""

from __future__ import annotations

import pytest
from helpers.nn import mnist_split

from stabkit.nn import Adam, Conv2D, CosineDecay, Dense, Flatten, MaxPooling2D, Sequential, SparseCategoricalCrossentropy

#: The issue's goal. Measured (docs/trainer.md, "Convolutional layers"): this
#: network, Adam with a cosine decay from 1.5e-2 to 0 over the 5 epochs, batch
#: 32, reaches 0.9745-0.9800 over seeds 0-11 (Keras 3 on JAX, the same recipe:
#: 0.9740-0.9810); at a constant 3e-3 both end at 0.96-0.97.
MIN_ACCURACY = 0.97
EPOCHS, BATCH = 5, 32


@pytest.mark.slow  # ~2-5 s: five epochs of 250 steps
def test_small_cnn_reaches_97_percent_in_five_epochs():
    Xtr, ytr, Xte, yte = mnist_split()
    # read_mnist gives (n, 784); the lecture's Keras code adds the channel axis so
    Xtr, Xte = Xtr.reshape(-1, 28, 28, 1), Xte.reshape(-1, 28, 28, 1)
    model = Sequential([Conv2D(8, 3, activation="relu"), MaxPooling2D(), Flatten(), Dense(10)])
    # the rate falls from 1.5e-2 to 0 along a half cosine over every update of the fit
    schedule = CosineDecay(1.5e-2, decay_steps=EPOCHS * -(-len(Xtr) // BATCH))
    model.compile(optimizer=Adam(learning_rate=schedule), loss=SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    h = model.fit(Xtr, ytr, epochs=EPOCHS, batch_size=BATCH, seed=0, verbose=0)
    assert h.params["step"] == "NumPy"
    assert model.optimizer.iterations == 1250 and model.optimizer.learning_rate == 0.0  # decayed to the end
    assert h.history["loss"][-1] < h.history["loss"][0] / 4
    loss, accuracy = model.evaluate(Xte, yte)
    assert accuracy >= MIN_ACCURACY
