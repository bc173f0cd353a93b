"""Mine vs gold: the same network, weights and batch in stabkit and PyTorch
(float64) give the same loss, gradients and optimizer step."""

from __future__ import annotations

import numpy as np
import pytest

from stabkit.nn import (
    SGD,
    Adam,
    BinaryCrossentropy,
    Dense,
    Sequential,
    SparseCategoricalCrossentropy,
)

torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install torch)")


def _pair(activations, d, seed=0):
    """A stabkit model and a torch.nn.Sequential with identical weights."""
    model = Sequential([Dense(u, activation=a) for u, a in activations])
    torch_layers, prev = [], d
    for u, a in activations:
        torch_layers.append(torch.nn.Linear(prev, u, dtype=torch.float64))
        if a == "relu":
            torch_layers.append(torch.nn.ReLU())
        elif a == "sigmoid":
            torch_layers.append(torch.nn.Sigmoid())
        elif a == "softmax":
            torch_layers.append(torch.nn.Softmax(dim=1))
        prev = u
    net = torch.nn.Sequential(*torch_layers)
    model.build(d, seed=seed)
    linears = [m for m in net if isinstance(m, torch.nn.Linear)]
    with torch.no_grad():
        for lin, layer in zip(linears, model.layers, strict=True):
            lin.weight.copy_(torch.from_numpy(layer.kernel.astype(np.float64).T))
            lin.bias.copy_(torch.from_numpy(layer.bias.astype(np.float64)))
    return model, net, linears


def _torch_weights(linears):
    return [a for lin in linears for a in (lin.weight.detach().numpy().T, lin.bias.detach().numpy())]


LECTURE = [(25, "relu"), (15, "relu"), (10, "linear")]


@pytest.mark.slow
def test_lecture_network_forward_loss_and_one_adam_step_agree_with_torch():
    rng = np.random.default_rng(0)
    x, y = rng.random((32, 64)), rng.integers(0, 10, 32)
    model, net, linears = _pair(LECTURE, 64)
    model.compile(optimizer=Adam(learning_rate=1e-3), loss=SparseCategoricalCrossentropy(from_logits=True), dtype="float64")
    # PyTorch adds epsilon after the bias correction of sqrt(v); at step 1 the
    # update is Keras's when torch's epsilon is epsilon / sqrt(1 - beta_2)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-7 / np.sqrt(1 - 0.999))

    tx, ty = torch.from_numpy(x), torch.from_numpy(y)
    logits = net(tx)
    loss = torch.nn.functional.cross_entropy(logits, ty)
    opt.zero_grad()
    loss.backward()

    np.testing.assert_allclose(model(x), logits.detach().numpy(), rtol=0, atol=1e-12)
    assert model.loss(y, model(x)) == pytest.approx(loss.item(), abs=1e-12)
    grads = [a for lin in linears for a in (lin.weight.grad.numpy().T, lin.bias.grad.numpy())]
    for mine, gold in zip(model.gradients(x, y), grads, strict=True):
        np.testing.assert_allclose(mine, gold, rtol=0, atol=1e-12)

    opt.step()
    model.fit(x, y, epochs=1, batch_size=32, shuffle=False, verbose=0)
    for mine, gold in zip(model.get_weights(), _torch_weights(linears), strict=True):
        np.testing.assert_allclose(mine, gold, rtol=0, atol=1e-6)
        np.testing.assert_allclose(mine, gold, rtol=0, atol=1e-12)  # in fact to round-off


def test_softmax_output_with_probability_loss_agrees_with_torch():
    """The 'warned against' version: softmax layer, then -log p_y (no clipping
    in the accurate tier, as torch's NLL of log(p))."""
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(16, 8)), rng.integers(0, 4, 16)
    model, net, linears = _pair([(6, "sigmoid"), (4, "softmax")], 8, seed=2)
    model.compile(optimizer=SGD(learning_rate=0.1, momentum=0.9), loss=SparseCategoricalCrossentropy(), dtype="float64")
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    for _ in range(3):  # Keras's and torch's momentum agree at a constant rate
        p = net(torch.from_numpy(x))
        loss = torch.nn.functional.nll_loss(torch.log(p), torch.from_numpy(y))
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.fit(x, y, epochs=3, batch_size=16, shuffle=False, verbose=0)
    for mine, gold in zip(model.get_weights(), _torch_weights(linears), strict=True):
        np.testing.assert_allclose(mine, gold, rtol=0, atol=1e-12)


def test_multilabel_binary_crossentropy_agrees_with_torch():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(10, 5)), (rng.random((10, 3)) < 0.4).astype(float)
    model, net, linears = _pair([(4, "relu"), (3, "linear")], 5, seed=4)
    model.compile(optimizer=Adam(), loss=BinaryCrossentropy(from_logits=True), dtype="float64")
    loss = torch.nn.functional.binary_cross_entropy_with_logits(net(torch.from_numpy(x)), torch.from_numpy(y))
    loss.backward()
    assert model.loss(y, model(x)) == pytest.approx(loss.item(), abs=1e-12)
    grads = [a for lin in linears for a in (lin.weight.grad.numpy().T, lin.bias.grad.numpy())]
    for mine, gold in zip(model.gradients(x, y), grads, strict=True):
        np.testing.assert_allclose(mine, gold, rtol=0, atol=1e-12)
