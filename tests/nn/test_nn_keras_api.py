"""The Keras API beyond the lecture: Input / input_shape, Dropout, tanh,
metrics by name, sample and class weights, initial_epoch, weights access,
which training step runs them, and the errors. (Against Keras itself:
test_nn_keras.py.)"""

from __future__ import annotations

import numpy as np
import pytest

import stabkit.nn as nn
from stabkit.nn import NNError
from stabkit.nn import _native

rng = np.random.default_rng(0)
X = rng.random((64, 8))
y = rng.integers(0, 4, 64)


def _compiled(layers, dtype="float64", **kw):
    model = nn.Sequential(layers)
    args = dict(optimizer=nn.SGD(0.1), loss=nn.SparseCategoricalCrossentropy(from_logits=True), dtype=dtype)
    model.compile(**{**args, **kw})
    return model


def test_input_and_input_shape_build_at_once():
    a = nn.Sequential([nn.Input((8,)), nn.Dense(5), nn.Dense(4)])
    b = nn.Sequential([nn.Dense(5, input_shape=(8,)), nn.Dense(4)])
    for model in (a, b):
        assert model.built and len(model.layers) == 2 and model.count_params() == 8 * 5 + 5 + 5 * 4 + 4
    c = nn.Sequential([nn.Dense(5), nn.Dense(4)])
    c.build((None, 8))  # Keras's shape with the batch axis
    assert c.count_params() == a.count_params()
    w = a.get_weights()
    a.add(nn.Dense(3))  # Keras rebuilds: the old layers keep their weights
    assert all(np.array_equal(p, q) for p, q in zip(a.get_weights(), w)) and a.get_weights()[-1].shape == (3,)
    with pytest.raises(NNError, match="Input\\(shape\\) must come first"):
        nn.Sequential([nn.Dense(3), nn.Input((2,))])
    with pytest.raises(NNError, match="only the first layer may take input_shape"):
        nn.Sequential([nn.Dense(3), nn.Dense(2, input_shape=(3,))])
    with pytest.raises(NNError, match="Input shape must be a tuple of positive integers"):
        nn.Input((0,))
    with pytest.raises(NNError, match="two layers named 'x'"):
        nn.Sequential([nn.Dense(3, name="x"), nn.Dense(2, name="x")])


def test_dropout_is_inverted_and_only_in_training():
    model = _compiled([nn.Input((8,)), nn.Dropout(0.4, seed=0), nn.Dense(4)])
    big = np.ones((4000, 8))
    np.testing.assert_array_equal(model(big), model.predict(big))  # inference: no dropout
    np.testing.assert_array_equal(model(big, training=False), big @ model.get_weights()[0] + model.get_weights()[1])
    drop = model.layers[0]
    out = drop.forward(big, training=True)
    kept = out != 0
    assert abs(1 - kept.mean() - 0.4) < 0.01  # the share dropped is the rate
    np.testing.assert_allclose(out[kept], 1 / 0.6)  # the kept ones scaled up: E[out] = in
    assert model(big, training=True).std() > model(big).std()


def _numeric_gradient(model, X, y, reset):
    """Central differences of the loss in training mode (``reset`` fixes the dropout masks)."""
    out = []
    for w in model.weights:
        g = np.zeros_like(w)
        for i in np.ndindex(w.shape):
            old = w[i]
            values = []
            for h in (1e-6, -1e-6):
                w[i] = old + h
                reset()
                values.append(model.loss(y, model(X, training=True)))
            w[i] = old
            g[i] = (values[0] - values[1]) / 2e-6
        out.append(g)
    return out


def test_tanh_and_dropout_gradients_match_finite_differences():
    model = _compiled([nn.Input((8,)), nn.Dense(5, activation="tanh"), nn.Dropout(0.5, seed=1), nn.Dense(4)])
    drop = model.layers[1]

    def reset():
        drop._rng = np.random.default_rng(7)

    reset()
    analytic = model.gradients(X[:16], y[:16])
    assert drop._mask is not None and not drop._mask.all()  # some units were dropped
    for a, n in zip(analytic, _numeric_gradient(model, X[:16], y[:16], reset)):
        np.testing.assert_allclose(a, n, rtol=1e-5, atol=1e-8)


def test_steps_the_new_features_run(monkeypatch):
    """The C step covers Dense with linear/relu/sigmoid and no sample weights;
    everything else runs the NumPy step and says why; optimizers run on
    either step."""
    if _native.library() is None:
        pytest.skip("the C extension is not built here (setup.py build_ext --inplace)")
    cases = [
        ([nn.Dense(6, activation="relu"), nn.Dropout(0.2), nn.Dense(4)], {}, "layer Dropout"),
        ([nn.Dense(6, activation="tanh"), nn.Dense(4)], {}, "a tanh hidden layer"),
        ([nn.Dense(6, activation="relu"), nn.Dense(4)], {"sample_weight": np.ones(64)}, "sample weights"),
        ([nn.Dense(6, activation="relu"), nn.Dense(4)], {"class_weight": {1: 2.0}}, "sample weights"),
    ]
    for layers, kw, reason in cases:
        h = _compiled(layers).fit(X, y, verbose=0, **kw)
        assert h.params["step"] == "NumPy" and reason in h.params["step_reason"]
    for opt in (nn.RMSprop(0.01, momentum=0.5, centered=True), nn.SGD(0.1, momentum=0.9, nesterov=True)):
        weights = []
        for native in ("1", "0"):
            monkeypatch.setenv("STABKIT_NATIVE", native)
            model = _compiled([nn.Dense(6, activation="relu"), nn.Dense(4)], optimizer=opt)
            h = model.fit(X, y, epochs=3, batch_size=16, verbose=0, seed=0)
            assert h.params["step"] == ("C" if native == "1" else "NumPy")
            weights.append(model.get_weights())
        for a, b in zip(*weights):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_sample_weights_scale_the_loss_as_keras():
    """sum(w * loss) / n: weight 2 everywhere is twice the learning rate."""
    runs = []
    for lr, kw in ((0.1, {"sample_weight": np.full(64, 2.0)}), (0.2, {})):
        model = _compiled([nn.Dense(4)], optimizer=nn.SGD(lr))
        model.build(8, seed=0)
        h = model.fit(X, y, epochs=2, batch_size=16, verbose=0, seed=1, **kw)
        runs.append((model.get_weights(), h.history["loss"]))
    for a, b in zip(runs[0][0], runs[1][0]):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    model = _compiled([nn.Dense(4)])
    model.build(8, seed=0)
    plain = model.evaluate(X, y)
    np.testing.assert_allclose(model.evaluate(X, y, sample_weight=np.full(64, 3.0)), 3 * plain)
    half = np.r_[np.ones(32), np.zeros(32)]
    np.testing.assert_allclose(model.evaluate(X, y, sample_weight=half), model.evaluate(X[:32], y[:32]) / 2)


@pytest.mark.parametrize(
    "kw,message",
    [
        ({"sample_weight": np.ones(64), "class_weight": {0: 1.0}}, "not both"),
        ({"sample_weight": np.ones(10)}, r"one weight per sample \(64\)"),
        ({"sample_weight": -np.ones(64)}, "finite and non-negative"),
        ({"class_weight": [1.0, 2.0]}, "class_weight must be a dict"),
        ({"class_weight": {-1: 2.0}}, "class indices"),
        ({"class_weight": {0: "heavy"}}, r"class_weight\[0\] must be a number"),
        ({"initial_epoch": -1, "epochs": 3}, r"initial_epoch must be a non-negative integer, got -1"),
        ({"validation_split": 0.999}, "leaves no training samples"),
        ({"validation_split": 1e-17}, "leaves no validation samples"),  # 1 - 1e-17 rounds to 1
        ({"validation_data": (X, y, np.ones(64), 1)}, "validation_data must be"),
        ({"validation_data": (X, y + 4)}, "label [4-7] is out of range for a model with 4 outputs"),
    ],
)
def test_fit_argument_errors(kw, message):
    with pytest.raises(NNError, match=message):
        _compiled([nn.Dense(4)]).fit(X, y, verbose=0, **kw)


def test_labels_out_of_range_are_one_clear_error():
    model = _compiled([nn.Dense(4)])
    for bad in (np.r_[y[:-1], 4], np.r_[y[:-1], -1], y + 0.5):
        with pytest.raises(NNError, match="out of range|integer class indices"):
            model.fit(X, bad, verbose=0)
        with pytest.raises(NNError, match="out of range|integer class indices"):
            model.evaluate(X, bad)
    binary = _compiled([nn.Dense(1)], loss=nn.BinaryCrossentropy(from_logits=True))
    with pytest.raises(NNError, match=r"binary labels must lie in \[0, 1\]"):
        binary.fit(X, np.full(64, 2.0), verbose=0)
    onehot = _compiled([nn.Dense(4)], loss=nn.CategoricalCrossentropy(from_logits=True))
    with pytest.raises(NNError, match=r"categorical labels must have shape \(n, 4\)"):
        onehot.fit(X, np.eye(5)[y], verbose=0)


def test_metrics_by_keras_names_and_evaluate_order():
    model = _compiled([nn.Dense(4)], metrics=["sparse_top_k_categorical_accuracy", "acc", "sparse_categorical_accuracy"])
    model.build(8, seed=2)
    out = model.predict(X)
    top1 = np.mean(np.argmax(out, 1) == y)
    rank = np.sum(out > out[np.arange(64), y][:, None], axis=1)
    loss, top5, acc, sparse = model.evaluate(X, y)  # Keras's order: the loss, then compile's
    assert (top5, acc, sparse) == (1.0, top1, top1) and loss == model.evaluate(X, y, return_dict=True)["loss"]
    assert np.all(rank < 4)  # with 4 classes every label is in the top 5
    h = model.fit(X, y, epochs=1, validation_split=0.25, verbose=0)
    assert list(h.history)[:7] == ["loss", "sparse_top_k_categorical_accuracy", "acc", "sparse_categorical_accuracy",
                                   "val_loss", "val_sparse_top_k_categorical_accuracy", "val_acc"]  # fmt: skip
    with pytest.raises(NNError, match="unknown metric 'auc'"):
        _compiled([nn.Dense(4)], metrics=["auc"])
    with pytest.raises(NNError, match="'binary_accuracy' needs binary labels"):
        _compiled([nn.Dense(4)], metrics=["binary_accuracy"])
    with pytest.raises(NNError, match="metrics must be a list"):
        _compiled([nn.Dense(4)], metrics="accuracy")


def test_binary_accuracy_thresholds_as_keras_and_accuracy_reads_logits():
    """Keras's binary_accuracy compares y_pred with 0.5 whatever the loss;
    'accuracy' with a loss from logits here compares the logit with 0."""
    model = _compiled([nn.Dense(1)], loss=nn.BinaryCrossentropy(from_logits=True), metrics=["accuracy", "binary_accuracy"])
    model.build(1)
    model.set_weights([np.array([[1.0]]), np.array([0.0])])
    x = np.array([[-1.0], [0.3], [0.7], [2.0]])
    labels = np.array([0.0, 1.0, 1.0, 1.0])
    _, acc, bin_acc = model.evaluate(x, labels)
    assert acc == 1.0 and bin_acc == 0.75  # the logit 0.3 is a 1 by its sign, a 0 against 0.5


def test_weights_access():
    model = _compiled([nn.Input((8,)), nn.Dense(3), nn.Dropout(0.1), nn.Dense(2)])
    assert [w.shape for w in model.trainable_weights] == [(8, 3), (3,), (3, 2), (2,)] and model.non_trainable_weights == []
    model.trainable_weights[1][...] = 5.0  # live views, as Keras's variables
    assert np.all(model.get_weights()[1] == 5.0)
    copy = model.get_weights()
    copy[1][...] = 0.0
    assert np.all(model.get_weights()[1] == 5.0)
    with pytest.raises(NNError, match=r"layer dense_1 needs a kernel of shape \(3, 2\), got \(3, 5\)"):
        model.set_weights([copy[0], copy[1], np.zeros((3, 5)), copy[3]])
    with pytest.raises(NNError, match=r"expected 4 arrays \(dense/kernel, dense/bias, dense_1/kernel, dense_1/bias\), got 1"):
        model.set_weights(copy[:1])
    assert np.all(model.get_weights()[1] == 5.0)  # nothing changed by the failed calls


def test_loss_objects_called_as_keras_calls_them():
    """``loss(y_true, y_pred, sample_weight=)`` on NumPy, torch and JAX
    inputs: Keras's sum_over_batch_size, a Python float. (Was: a torch
    tensor failed inside torch's mean, sample_weight was refused, and the
    binary loss reshaped labels of another shape into the wrong pairs.)"""
    from stabkit.nn import losses

    y, z = np.array([0, 1, 2]), np.array([[1.0, 2, 3], [0, 1, 0], [2, 2, -1]])
    w = np.array([1.0, 0.0, 2.5])
    sparse = losses.SparseCategoricalCrossentropy(from_logits=True)
    per = -np.log(np.exp(z) / np.exp(z).sum(1, keepdims=True))[[0, 1, 2], y]  # float64 is ample here
    assert sparse(y, z) == pytest.approx(per.mean(), rel=1e-14)
    for sw in (w, w[:, None], list(w)):
        assert sparse(y, z, sample_weight=sw) == pytest.approx((w * per).sum() / 3, rel=1e-14)
    with pytest.raises(NNError, match=r"sample_weight has shape \(2,\)"):
        sparse(y, z, sample_weight=[1.0, 2.0])
    torch = pytest.importorskip("torch")
    got = sparse(torch.tensor(y), torch.tensor(z))
    assert type(got) is float and got == sparse(y, z)
    binary = losses.BinaryCrossentropy(from_logits=True)
    Y = np.eye(3)[y]
    for bad in (Y.T[:, :2], Y.reshape(1, 9)):  # same number of labels, other pairs
        with pytest.raises(NNError, match="do not match the predictions'"):
            binary(bad, z)
    # a trailing axis of 1 either way is Keras's pairing
    assert binary(Y[:, 0], z[:, :1]) == binary(Y[:, :1], z[:, 0]) == binary(Y[:, :1], z[:, :1])


def test_a_layer_called_on_its_own_as_a_course_lab_calls_it():
    """The "neurons and layers" lab: ``Dense(1)(x)`` builds the layer, its
    weights are read and set, and later calls use them (was: 'Dense' object
    is not callable)."""
    x = np.array([[1.0], [2.0]], dtype=np.float32)
    layer = nn.layers.Dense(units=1, activation="linear")
    assert layer.get_weights() == []
    with pytest.raises(NNError, match="at least 2-D"):
        layer(x[0])  # refused before anything is built
    assert layer.get_weights() == []
    a1 = layer(x[:1])
    w, b = layer.get_weights()
    assert a1.dtype == np.float32 and a1.shape == (1, 1) and a1[0, 0] == np.float32(w[0, 0] + b[0])
    layer.set_weights([np.array([[200]]), np.array([100])])
    np.testing.assert_array_equal(layer(x), [[300.0], [500.0]])
    relu = nn.layers.Dense(2, activation="relu")
    out = relu(np.array([[1.0, -2.0, 0.5]]))
    k, c = relu.get_weights()
    np.testing.assert_allclose(out, np.maximum(np.array([[1.0, -2.0, 0.5]]) @ k + c, 0), rtol=1e-6)
    # a layer of a built model is the model's to call
    model = nn.Sequential([nn.layers.Dense(1, input_dim=1, activation="sigmoid", name="L1")])
    with pytest.raises(NNError, match="layer L1 belongs to a built model: call the model"):
        model.layers[0](x)


def test_a_layer_called_alone_keeps_its_weights_in_a_model_as_keras_does():
    # found by review: the weights set on a layer called alone were silently
    # drawn again when it went into a Sequential; two such layers were both
    # named 'dense'; Dropout(rate)(images) came back flattened
    x = np.array([[1.0], [2.0]])
    layer = nn.layers.Dense(1)
    layer(x)
    layer.set_weights([np.array([[2.0]]), np.array([1.0])])
    model = nn.Sequential([nn.Input((1,)), layer])
    np.testing.assert_array_equal(model.predict(x), [[3.0], [5.0]])
    a, b = nn.layers.Dense(1), nn.layers.Dense(1)
    a(x), b(np.ones((2, 1)))
    assert a.name != b.name and nn.Sequential([a, b]).predict(x).shape == (2, 1)
    images = np.ones((2, 6, 6, 1), np.float32)
    assert nn.layers.Dropout(0.5)(images).shape == (2, 6, 6, 1)
    assert nn.layers.Dropout(0.5)(images, training=True).shape == (2, 6, 6, 1)
    # a model's own layers get fresh weights when it is built again
    own = nn.Sequential([nn.layers.Dense(2)])
    own.build(3, seed=1)
    first = own.get_weights()[0].copy()
    own.build(3, seed=2)
    assert not np.array_equal(first, own.get_weights()[0])


def test_loss_objects_weigh_samples_on_the_leading_axis_and_take_any_torch_tensor():
    # found by review: (n,) weights against (n, t) losses were applied per
    # time step (NumPy's trailing alignment; Keras expands them to (n, 1)),
    # and torch bfloat16 or requires_grad tensors failed inside the object
    from stabkit.nn import losses

    rng = np.random.default_rng(0)
    loss = losses.SparseCategoricalCrossentropy(from_logits=True)
    for n, t in ((2, 2), (3, 2)):
        z, y = rng.normal(size=(n, t, 4)), rng.integers(0, 4, size=(n, t))
        w = rng.uniform(size=n)
        assert loss(y, z, sample_weight=w) == pytest.approx((loss.values(y, z) * w[:, None]).mean(), rel=1e-14)
    torch = pytest.importorskip("torch")
    logits = torch.tensor([[1.0, 2.0, 3.0], [0.0, 1.0, 0.0]])
    got = loss(torch.tensor([0, 1]), logits.to(torch.bfloat16))
    assert type(got) is float and got == pytest.approx(loss(np.array([0, 1]), logits.numpy()), rel=1e-2)
    from stabkit import DetachedGradWarning

    with pytest.warns(DetachedGradWarning):
        got = losses.BinaryCrossentropy()(torch.tensor([1.0]), torch.tensor([0.9], requires_grad=True))
    assert got == pytest.approx(-np.log(0.9), rel=1e-6)


def test_keras_positional_order_defaults_and_shapes():
    """Calls a Keras user writes positionally, each once read another way:
    fit(x, y, 32, 1) ran 32 epochs at batch size 1 (stabkit's order was
    epochs, batch_size), compile(loss=...) picked Adam (Keras: RMSprop),
    build((32, 8)) made 256 input features (Keras: batch 32 of 8)."""
    model = _compiled([nn.Dense(4)])
    h = model.fit(X, y, 16, 2, 0)
    assert h.params["batch_size"] == 16 and h.params["epochs"] == 2 and h.params["verbose"] == 0
    assert model.history is h
    with pytest.raises(nn.NNError, match="steps_per_epoch=5: an epoch here is one pass over all of x"):
        model.fit(X, y, 16, 2, 0, None, 0.0, None, True, None, None, 0, 5)  # Keras's steps_per_epoch
    with pytest.raises(TypeError):
        model.fit(X, y, 16, 2, 0, None, 0.0, None, True, None, None, 0, None, None, None, 1, 0)  # seed by name only
    other = nn.Sequential([nn.Dense(4)])
    other.compile(loss="sparse_categorical_crossentropy")
    assert type(other.optimizer).__name__ == "RMSprop" and other.history is None
    for shape in ((32, 8), (None, 8), [1, 8], (8,), 8):
        m = nn.Sequential([nn.Dense(5), nn.Dense(4)])
        m.build(shape)
        assert m.count_params() == 8 * 5 + 5 + 5 * 4 + 4, shape
    conv = nn.Sequential([nn.Conv2D(2, 3), nn.Flatten(), nn.Dense(3)])
    for shape in ((16, 6, 6, 1), (None, 6, 6, 1), (6, 6, 1)):
        conv.build(shape)
        assert conv.layers[0].get_weights()[0].shape == (3, 3, 1, 2), shape
        assert conv.layers[-1].get_weights()[0].shape == (4 * 4 * 2, 3), shape
    images = nn.Sequential([nn.Dense(3)])
    images.build((None, 4, 4))  # images in front of a Dense layer: flattened
    assert images.layers[0].get_weights()[0].shape == (16, 3)


def test_zero_epochs_train_nothing_as_in_keras():
    """fit(epochs=0) and initial_epoch >= epochs: an empty History and the
    weights untouched (Keras's answer; both were refused)."""
    model = _compiled([nn.Dense(4)])
    model.build((None, 8), seed=0)
    w = model.get_weights()
    seen = []

    class Seen(nn.callbacks.Callback):
        def on_train_begin(self, logs=None):
            seen.append("begin")

        def on_epoch_begin(self, epoch, logs=None):
            seen.append("epoch")

        def on_train_end(self, logs=None):
            seen.append("end")

    for kw in ({"epochs": 0}, {"epochs": 3, "initial_epoch": 3}, {"epochs": 2, "initial_epoch": 5}):
        seen.clear()
        h = model.fit(X, y, verbose=0, callbacks=[Seen(), nn.callbacks.EarlyStopping(restore_best_weights=True)], **kw)
        assert h.history == {} and h.epoch == [] and seen == ["begin", "end"], kw
        assert all(np.array_equal(a, b) for a, b in zip(w, model.get_weights()))
    for kw, msg in (({"epochs": -1}, "epochs must be a non-negative integer"), ({"epochs": 1.5}, "epochs must be"),
                    ({"epochs": True}, "epochs must be")):
        with pytest.raises(NNError, match=msg):
            model.fit(X, y, verbose=0, **kw)


def test_compile_again_with_the_same_optimizer_keeps_its_state():
    """Freeze, then compile again with model.optimizer (Keras's fine-tuning
    pattern): Keras keeps the optimizer's iterations and moments; they were
    reset to 0. A new optimizer object starts fresh."""
    model = nn.Sequential([nn.Dense(5), nn.Dense(4)])
    model.compile(optimizer=nn.Adam(1e-2), loss=nn.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(X, y, batch_size=16, epochs=2, verbose=0)
    opt = model.optimizer
    moments = {k: v.copy() for k, v in opt.variables().items()}
    assert opt.iterations == 8 and any(np.any(v) for v in moments.values())
    model.layers[0].trainable = False
    model.compile(optimizer=opt, loss=model.loss)
    assert model.optimizer is opt and opt.iterations == 8
    assert all(np.array_equal(v, moments[k]) for k, v in opt.variables().items())
    model.fit(X, y, batch_size=16, epochs=1, verbose=0)
    assert opt.iterations == 12
    model.compile(optimizer=nn.Adam(1e-2), loss=model.loss)
    assert model.optimizer.iterations == 0 and not any(np.any(v) for v in model.optimizer.variables().values())


def test_an_activation_object_in_the_layer_list_names_the_keras_spelling():
    # a function of stabkit.nn.activations is not a layer: it was refused as
    # "Sequential takes stabkit.nn layers, got Softmax()"
    for act, name in ((nn.activations.Softmax(), "softmax"), (nn.Sigmoid(), "sigmoid")):
        with pytest.raises(NNError, match=rf"is an activation, not a layer: .*Dense\(units, activation='{name}'\), "
                                          rf"or add the layer Activation\('{name}'\)"):
            nn.Sequential([nn.Dense(3), act])


def test_the_activation_names_of_stabkit_nn_are_the_layers_as_dense_is():
    # `from stabkit.nn import Dense, Activation` then Activation('softmax'):
    # TypeError "Activation() takes no arguments" (the activations' base class)
    for name in ("Activation", "ReLU", "LeakyReLU", "ELU", "Softmax"):
        assert getattr(nn, name) is getattr(nn.layers, name)
    model = nn.Sequential([nn.Input((4,)), nn.Dense(3, kernel_initializer="ones"), nn.Activation("softmax")])
    p = model.predict(np.arange(8.0).reshape(2, 4), verbose=0)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-6)
    # a layer as a Dense's activation, as Keras takes activation=keras.layers.ReLU()
    assert nn.Dense(3, activation=nn.ReLU()).activation.name == "relu"
    assert nn.Dense(3, activation=nn.LeakyReLU(0.1)).activation(np.array([-1.0])).tolist() == [-0.1]
    np.testing.assert_allclose(nn.Softmax()(np.array([[1.0, 2.0, 3.0]])).sum(), 1.0, rtol=1e-6)


def test_keras_habits_on_activations_shuffle_and_history():
    # layer.activation(z) and .__name__, as keras.activations' functions:
    # not callable before; the call leaves z as it was (ReLU's forward works in place)
    z = np.array([[-1.0, 2.0, 0.5]])
    dense = nn.Dense(3, activation="relu")
    assert dense.activation(z).tolist() == [[0.0, 2.0, 0.5]] and z.tolist() == [[-1.0, 2.0, 0.5]]
    assert dense.activation.__name__ == "relu" and nn.Dense(2).activation.__name__ == "linear"
    np.testing.assert_allclose(nn.activations.Softmax()([1.0, 2.0, 3.0]).sum(), 1.0)
    model = _compiled([nn.Dense(4)])
    # Keras's shuffle="batch" (batch-sized chunks) was read as a full shuffle
    with pytest.raises(NNError, match="shuffle must be True or False, got 'batch'"):
        model.fit(X, y, verbose=0, shuffle="batch")
    with pytest.raises(NNError, match=r"fit returns the History .*leave History\(\) out"):
        model.fit(X, y, verbose=0, callbacks=[nn.History(model)])


def test_square_images_into_a_dense_model_are_samples_not_a_batch(tmp_path):
    """(n, 28, 28) images, load_mnist's shape, into a Dense-first model: each
    sample's (28, 28) is 784 features whichever call builds the model. fit
    once read x.shape[1:] as Keras's (batch, features) and built 28 inputs,
    and so did Input((28, 28)) and input_shape=(28, 28); a model.build call
    keeps Keras's reading, (batch, features)."""
    images = rng.random((32, 6, 6))
    labels = rng.integers(0, 3, 32)
    fitted = _compiled([nn.Dense(5), nn.Dense(3)])
    fitted.fit(images, labels, epochs=1, verbose=0)
    assert fitted.layers[0].get_weights()[0].shape == (36, 5)
    assert fitted.predict(images).shape == (32, 3)
    for model in (nn.Sequential([nn.Input((6, 6)), nn.Dense(5), nn.Dense(3)]),
                  nn.Sequential([nn.Dense(5, input_shape=(6, 6)), nn.Dense(3)])):  # fmt: skip
        assert model.layers[0].get_weights()[0].shape == (36, 5)
        model.compile(optimizer=nn.SGD(0.1), loss=nn.SparseCategoricalCrossentropy(from_logits=True))
        model.fit(images, labels, epochs=1, verbose=0)
        model.save(tmp_path / "m.keras")
        np.testing.assert_array_equal(nn.load_model(tmp_path / "m.keras").predict(images), model.predict(images))
    built = nn.Sequential([nn.Dense(5)])
    built.build((6, 6))  # Keras's (batch, features)
    assert built.layers[0].get_weights()[0].shape == (6, 5)


def test_input_takes_keras_3s_arguments_and_a_model_is_not_a_layer():
    """Input(shape=(6,), batch_size=10) was a bare TypeError; Keras 3's
    batch_size and batch_shape are taken (any batch trains here), the
    arguments that would change the data are named. The TF quickstart's
    Sequential([model, Softmax()]) is refused with the ways to do it here."""
    for model in (nn.Sequential([nn.Input(shape=(6,), batch_size=10), nn.Dense(3)]),
                  nn.Sequential([nn.Input(batch_shape=(None, 6)), nn.Dense(3)])):  # fmt: skip
        assert model.layers[0].get_weights()[0].shape == (6, 3)
        assert model.predict(rng.random((4, 6))).shape == (4, 3)
    for kw, match in ((dict(shape=(6,), dtype="float64"), "takes no dtype here"),
                      (dict(shape=(6,), sparse=True), "takes no sparse here"),
                      ({}, "needs shape=")):  # fmt: skip
        with pytest.raises(NNError, match=match):
            nn.Input(**kw)
    model = nn.Sequential([nn.Input((6,)), nn.Dense(3)])
    with pytest.raises(NNError, match=r"takes layers, not a model: for its probabilities use stabkit.softmax"):
        nn.Sequential([model, nn.layers.Softmax()])
    probs = nn.Sequential(model.layers + [nn.layers.Softmax()])
    x = rng.random((4, 6))
    np.testing.assert_allclose(probs.predict(x), np.exp(model.predict(x)) / np.exp(model.predict(x)).sum(1, keepdims=True),
                               rtol=1e-6)  # fmt: skip
