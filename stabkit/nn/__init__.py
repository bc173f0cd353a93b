"""A small reference trainer with Keras's shape, whose losses come from stabkit.

The slide's Keras code runs with its imports changed::

    from stabkit.nn import Sequential
    from stabkit.nn.layers import Dense
    from stabkit.nn.losses import SparseCategoricalCrossentropy
    from stabkit.nn.optimizers import Adam

The names below are loaded on first use (PEP 562), so that a command that only
asks :func:`native_status` does not import the whole trainer; so are the
submodules a Keras user reaches through the package (``nn.layers.Dense``,
``nn.models.load_model``, ``nn.utils.to_categorical``, ...).
"""

import importlib

from .._lazy import exports

#: public name -> (submodule, name there)
_EXPORTS = {
    "Sequential": ("model", "Sequential"),
    "History": ("model", "History"),
    "Layer": ("layers", "Layer"),
    "Dense": ("layers", "Dense"),
    "Dropout": ("dropout", "Dropout"),
    "Input": ("layers", "Input"),
    "Conv2D": ("conv", "Conv2D"),
    "Flatten": ("conv", "Flatten"),
    "MaxPooling2D": ("pooling", "MaxPooling2D"),
    "BatchNormalization": ("batchnorm", "BatchNormalization"),
    "Normalization": ("normalization", "Normalization"),
    "load_model": ("saving", "load_model"),
    # the layers, as Dense is one (Keras's keras.layers.Activation, ReLU, ...): the
    # activation functions of the same names are stabkit.nn.activations'
    "Activation": ("actlayers", "Activation"),
    "ReLU": ("actlayers", "ReLU"),
    "LeakyReLU": ("actlayers", "LeakyReLU"),
    "ELU": ("actlayers", "ELU"),
    "Softmax": ("actlayers", "Softmax"),
    "Linear": ("activations", "Linear"),
    "Sigmoid": ("activations", "Sigmoid"),
    "Tanh": ("activations", "Tanh"),
    "Loss": ("losses", "Loss"),
    "SparseCategoricalCrossentropy": ("losses", "SparseCategoricalCrossentropy"),
    "CategoricalCrossentropy": ("losses", "CategoricalCrossentropy"),
    "BinaryCrossentropy": ("losses", "BinaryCrossentropy"),
    "Optimizer": ("optimizers", "Optimizer"),
    "SGD": ("optimizers", "SGD"),
    "RMSprop": ("optimizers", "RMSprop"),
    "Adam": ("optimizers", "Adam"),
    "AdamW": ("optimizers", "AdamW"),
    "Adagrad": ("optimizers", "Adagrad"),
    "Adadelta": ("optimizers", "Adadelta"),
    "Adamax": ("optimizers", "Adamax"),
    "Nadam": ("optimizers", "Nadam"),
    "Lion": ("optimizers", "Lion"),
    "LearningRateSchedule": ("schedules", "LearningRateSchedule"),
    "CosineDecay": ("schedules", "CosineDecay"),
    "ExponentialDecay": ("schedules", "ExponentialDecay"),
    "PiecewiseConstantDecay": ("schedules", "PiecewiseConstantDecay"),
    "Callback": ("callbacks", "Callback"),
    "EarlyStopping": ("callbacks", "EarlyStopping"),
    "ModelCheckpoint": ("callbacks", "ModelCheckpoint"),
    "LambdaCallback": ("callbacks", "LambdaCallback"),
    "LearningRateScheduler": ("callbacks", "LearningRateScheduler"),
    "ReduceLROnPlateau": ("callbacks", "ReduceLROnPlateau"),
    "TerminateOnNaN": ("callbacks", "TerminateOnNaN"),
    "CSVLogger": ("callbacks", "CSVLogger"),
    "NNError": ("errors", "NNError"),
    "DataError": ("errors", "DataError"),
    "NonFiniteError": ("errors", "NonFiniteError"),
    "LogitsWarning": ("errors", "LogitsWarning"),
    "NativeStepWarning": ("_native", "NativeStepWarning"),
    "native_status": ("_native", "status"),  # ("C", "") or ("NumPy", why): which step fit can run
    "load_mnist": ("data", "load_mnist"),
    "read_mnist": ("data", "read_mnist"),
    "fetch_mnist": ("download", "fetch_mnist"),
    "load_digits": ("data", "load_digits"),
    "train_test_split": ("data", "train_test_split"),
    "to_categorical": ("utils", "to_categorical"),
    "set_random_seed": ("seeding", "set_random_seed"),
}

#: submodules reachable as attributes before anything imported them, as keras.layers, keras.models, ...
_SUBMODULES = ("layers", "models", "losses", "optimizers", "schedules", "callbacks", "activations", "metrics", "utils",
               "initializers", "regularizers")

__all__ = list(_EXPORTS)

_name_getattr, __dir__ = exports(__name__, _EXPORTS)


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)  # the import binds it in the package
    return _name_getattr(name)
