"""Conv2D and MaxPooling2D gradients in float64: against central finite
differences, and mine vs gold against PyTorch (NHWC <-> NCHW, same weights),
for odd and even sizes, strides, 'valid' and Keras's 'same' padding.

Why central differences can meet 1e-10 here: the checks use a loss that is
linear or quadratic in the perturbed numbers wherever no ReLU or window
maximum changes side, and a central difference of a quadratic is exact; the
step h is kept below the distance to the nearest such change, so only the
rounding of the loss (about eps * |L| / h) is left.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from stabkit.nn import Conv2D, Dense, Flatten, MaxPooling2D, Sequential, SparseCategoricalCrossentropy

torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install torch)")
F = torch.nn.functional

#: (height, width, channels, filters, kernel_size, strides, padding)
CONV_CASES = [
    (7, 6, 2, 3, 3, 1, "valid"),
    (7, 6, 2, 3, 3, 1, "same"),
    (8, 7, 3, 2, (2, 3), 1, "same"),  # even kernel height: the odd padding row at the bottom
    (9, 8, 2, 4, 3, 2, "same"),  # odd height with stride 2; width 8 pads 0 on the left, 1 on the right
    (9, 9, 1, 2, (4, 3), (3, 2), "same"),
    (10, 7, 2, 3, 3, 2, "valid"),  # the last row and column are never read
    (5, 5, 3, 2, 5, 1, "valid"),  # the kernel covers the image
    (6, 5, 2, 3, 1, 1, "valid"),  # 1x1
]
#: (height, width, channels, pool_size, strides, padding)
POOL_CASES = [
    (8, 8, 3, 2, None, "valid"),
    (7, 9, 2, 2, None, "valid"),  # the odd row and column are dropped
    (7, 9, 2, 2, None, "same"),  # ... or padded at the bottom and right
    (7, 7, 2, 3, 2, "valid"),  # overlapping windows
    (7, 8, 2, 3, 2, "same"),
    (6, 7, 1, (2, 3), (1, 2), "same"),
    (5, 5, 2, 3, 1, "same"),
]
TOL = 1e-10


def _ids(cases):
    return ["-".join(map(str, c)).replace(" ", "") for c in cases]


def _bound(layer, shape, rng):
    """``layer`` bound to float64 weights (a random, nonzero bias) and zero gradients."""
    w = layer.initial_weights(shape, rng)
    if "bias" in w:
        w["bias"] = rng.normal(size=w["bias"].shape)
    grads = {k: np.zeros_like(v) for k, v in w.items()}
    layer.bind(w, grads, dict.fromkeys(w), False)
    return w, grads


def _same_pads(n, k, s):
    """Keras's 'same': ceil(n / s) outputs, the odd padding pixel after."""
    total = max((-(-n // s) - 1) * s + k - n, 0)
    return total // 2, total - total // 2


def _torch_padded(X, hw, k, s, padding, value=0.0):
    if padding == "valid":
        return X
    (top, bottom), (left, right) = (_same_pads(n, kk, ss) for n, kk, ss in zip(hw, k, s))
    return F.pad(X, (left, right, top, bottom), value=value)


def _nchw(a):
    return torch.tensor(np.ascontiguousarray(a.transpose(0, 3, 1, 2)), requires_grad=True)


def _nhwc(t):
    return t.detach().numpy().transpose(0, 2, 3, 1)


def _central(f, a, h):
    """Central differences of the scalar ``f()`` in every element of ``a``
    (perturbed in place and restored), over the step actually taken."""
    g = np.empty_like(a)
    for i in np.ndindex(a.shape):
        orig = a[i]
        a[i] = orig + h
        up, hi = f(), a[i]
        a[i] = orig - h
        down, lo = f(), a[i]
        a[i] = orig
        g[i] = (up - down) / (hi - lo)
    return g


def _rel(mine, gold):
    return float(np.max(np.abs(mine - gold)) / np.max(np.abs(gold)))


def _pair2(v):
    return (v, v) if isinstance(v, int) else v


@pytest.mark.parametrize("case", CONV_CASES, ids=_ids(CONV_CASES))
def test_conv_gradients_match_central_differences(case):
    H, W, C, nf, k, s, padding = case
    rng = np.random.default_rng(CONV_CASES.index(case))
    layer = Conv2D(nf, k, strides=s, padding=padding)  # linear: the loss below is quadratic
    w, grads = _bound(layer, (H, W, C), rng)
    x = rng.normal(size=(2, H, W, C))
    R = rng.normal(size=(2, *layer.output_shape((H, W, C))))

    def loss():
        y = layer.forward(x)
        return np.sum(R * y) + 0.5 * np.sum(y * y)

    y = layer.forward(x, training=True)
    dx = layer.backward(R + y)  # dL/dy = R + y
    for name, a, mine in (("kernel", w["kernel"], grads["kernel"]), ("bias", w["bias"], grads["bias"]), ("x", x, dx)):
        assert _rel(mine, _central(loss, a, 1e-3)) < TOL, name


@pytest.mark.parametrize("case", CONV_CASES[:5], ids=_ids(CONV_CASES[:5]))
def test_conv_relu_gradients_match_central_differences(case):
    """With ReLU the loss sum(R * a) is linear between kinks; h stays below
    half the smallest |z| over the most one step can move a z."""
    H, W, C, nf, k, s, padding = case
    rng = np.random.default_rng(7)
    layer = Conv2D(nf, k, strides=s, padding=padding, activation="relu")
    w, grads = _bound(layer, (H, W, C), rng)
    linear = Conv2D(nf, k, strides=s, padding=padding)
    linear.bind(w, {k: np.zeros_like(v) for k, v in w.items()}, dict.fromkeys(w), False)
    x = rng.normal(size=(2, H, W, C))
    z = linear.forward(x)
    assert (z > 0).any() and (z < 0).any()  # both sides of the kink are exercised
    h = 0.5 * np.min(np.abs(z)) / max(1.0, np.max(np.abs(x)), np.max(np.abs(w["kernel"])))
    R = rng.normal(size=z.shape)
    layer.forward(x, training=True)
    dx = layer.backward(R.copy())

    def loss():
        return np.sum(R * layer.forward(x))

    for name, a, mine in (("kernel", w["kernel"], grads["kernel"]), ("bias", w["bias"], grads["bias"]), ("x", x, dx)):
        assert _rel(mine, _central(loss, a, h)) < TOL, name


@pytest.mark.parametrize("case", POOL_CASES, ids=_ids(POOL_CASES))
def test_pool_gradient_matches_central_differences(case):
    """sum(R * maxpool(x)) is linear in x until a window's maximum changes;
    h is a quarter of the smallest gap between a window's two largest values."""
    H, W, C, pool, strides, padding = case
    rng = np.random.default_rng(3)
    layer = MaxPooling2D(pool, strides, padding)
    x = rng.normal(size=(2, H, W, C))
    (ph, pw), (sh, sw) = _pair2(pool), _pair2(strides or pool)
    (t, b), (l, r) = (_same_pads(n, kk, ss) if padding == "same" else (0, 0) for n, kk, ss in ((H, ph, sh), (W, pw, sw)))
    xp = np.pad(x, ((0, 0), (t, b), (l, r), (0, 0)), constant_values=-np.inf)
    wins = np.sort(sliding_window_view(xp, (ph, pw), axis=(1, 2))[:, ::sh, ::sw].reshape(-1, ph * pw), axis=1)
    h = 0.25 * np.min(wins[:, -1] - wins[:, -2]) if ph * pw > 1 else 1e-3
    R = rng.normal(size=(2, *layer.output_shape((H, W, C))))
    layer.forward(x, training=True)
    dx = layer.backward(R)
    assert _rel(dx, _central(lambda: np.sum(R * layer.forward(x)), x, min(h, 1e-3))) < TOL


@pytest.mark.parametrize("case", CONV_CASES, ids=_ids(CONV_CASES))
@pytest.mark.parametrize("activation", ["linear", "relu"])
def test_conv_forward_and_gradients_agree_with_torch(case, activation):
    H, W, C, nf, k, s, padding = case
    rng = np.random.default_rng(11)
    layer = Conv2D(nf, k, strides=s, padding=padding, activation=activation)
    w, grads = _bound(layer, (H, W, C), rng)
    x = rng.normal(size=(3, H, W, C))
    y = layer.forward(x, training=True)
    dy = rng.normal(size=y.shape)
    dx = layer.backward(dy.copy())

    X = _nchw(x)
    K = torch.tensor(np.ascontiguousarray(w["kernel"].transpose(3, 2, 0, 1)), requires_grad=True)  # (out, in, kh, kw)
    B = torch.tensor(w["bias"], requires_grad=True)
    Y = F.conv2d(_torch_padded(X, (H, W), _pair2(k), _pair2(s), padding), K, B, stride=_pair2(s))
    if activation == "relu":
        Y = torch.relu(Y)
    Y.backward(torch.tensor(np.ascontiguousarray(dy.transpose(0, 3, 1, 2))))
    assert y.shape == _nhwc(Y).shape
    assert _rel(y, _nhwc(Y)) < TOL
    assert _rel(grads["kernel"], K.grad.numpy().transpose(2, 3, 1, 0)) < TOL
    assert _rel(grads["bias"], B.grad.numpy()) < TOL
    assert _rel(dx, _nhwc(X.grad)) < TOL


@pytest.mark.parametrize("case", POOL_CASES, ids=_ids(POOL_CASES))
@pytest.mark.parametrize("values", ["normal", "ties"])
def test_pool_forward_and_gradient_agree_with_torch(case, values):
    """With many ties (values 0, 1, 2) the gradient goes to each window's
    first maximum, as PyTorch's does: never twice."""
    H, W, C, pool, strides, padding = case
    rng = np.random.default_rng(5)
    x = rng.normal(size=(3, H, W, C)) if values == "normal" else rng.integers(0, 3, (3, H, W, C)).astype(float)
    layer = MaxPooling2D(pool, strides, padding)
    y = layer.forward(x, training=True)
    dy = rng.normal(size=y.shape)
    dx = layer.backward(dy)

    X = _nchw(x)
    k, s = _pair2(pool), _pair2(strides or pool)
    Y = F.max_pool2d(_torch_padded(X, (H, W), k, s, padding, -np.inf), k, s)
    Y.backward(torch.tensor(np.ascontiguousarray(dy.transpose(0, 3, 1, 2))))
    np.testing.assert_array_equal(y, _nhwc(Y))
    assert _rel(dx, _nhwc(X.grad)) < TOL
    assert np.sum(dx) == pytest.approx(np.sum(dy), rel=1e-12)  # each window's gradient lands once


def _cnn():
    return Sequential([
        Conv2D(4, 3, strides=1, padding="same", activation="relu"),
        MaxPooling2D(2, padding="same"),
        Conv2D(3, (2, 3), strides=2, activation="relu"),
        MaxPooling2D(2, strides=1),
        Flatten(),
        Dense(5),
    ])  # fmt: skip


def _torch_cnn(model, x):
    """The same network in PyTorch (NCHW), its weights from ``model``."""
    k1, b1, k2, b2, Wd, bd = (torch.tensor(a, requires_grad=True) for a in model.get_weights())
    X = _nchw(x)
    h = torch.relu(F.conv2d(_torch_padded(X, x.shape[1:3], (3, 3), (1, 1), "same"), k1.permute(3, 2, 0, 1), b1))
    h = F.max_pool2d(_torch_padded(h, h.shape[2:], (2, 2), (2, 2), "same", -np.inf), 2)
    h = torch.relu(F.conv2d(h, k2.permute(3, 2, 0, 1), b2, stride=2))
    h = F.max_pool2d(h, 2, stride=1)
    logits = h.permute(0, 2, 3, 1).reshape(len(x), -1) @ Wd + bd  # Keras's (h, w, c) order
    return logits, [k1, b1, k2, b2, Wd, bd]


def test_cnn_logits_loss_and_gradients_agree_with_torch():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(6, 11, 10, 2)), rng.integers(0, 5, 6)
    model = _cnn()
    model.compile(loss=SparseCategoricalCrossentropy(from_logits=True), dtype="float64")
    model.build((11, 10, 2), seed=4)
    assert model.layers[-1].kernel.shape == (6, 5)  # 11x10 -> 6x5 -> 3x2 -> 2x1
    logits, params = _torch_cnn(model, x)
    loss = F.cross_entropy(logits, torch.tensor(y))
    loss.backward()
    assert _rel(model(x), logits.detach().numpy()) < TOL
    assert model.loss(y, model(x)) == pytest.approx(loss.item(), rel=TOL)
    for mine, p in zip(model.gradients(x, y), params, strict=True):
        assert _rel(mine, p.grad.numpy()) < TOL


def test_cnn_loss_gradient_matches_central_differences():
    """The whole network with the cross-entropy: a smooth loss, not a
    quadratic, so truncation (h^2) and rounding (eps / h) leave ~1e-8."""
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(4, 11, 10, 2)), rng.integers(0, 5, 4)
    model = _cnn()
    model.compile(loss=SparseCategoricalCrossentropy(from_logits=True), dtype="float64")
    model.build((11, 10, 2), seed=8)
    weights = model.get_weights()
    grads = model.gradients(x, y)

    def loss():
        model.set_weights(weights)
        return model.loss(y, model(x))

    for w, g in zip(weights, grads, strict=True):
        assert _rel(g, _central(loss, w, 1e-5)) < 1e-6
