import importlib.util
import os
import tempfile

import ml_dtypes  # noqa: F401 - registers "bfloat16" with NumPy: the tests name formats by string

# the tests share helpers in tests/helpers/ (``from helpers.numerics import ...``;
# pyproject's [tool.pytest.ini_options] puts tests/ on the path)

# references computed by the tests (and by CLI runs they start) are cached in a
# fresh folder, never in the user's cache
os.environ["STABKIT_CACHE_DIR"] = tempfile.mkdtemp(prefix="stabkit-test-cache-")

# no test, and no CLI run a test starts, can download MNIST from the internet:
# the only mirror is a closed loopback port, and the data cache is a fresh
# folder (tests that exercise the download serve a loopback mirror of their own)
os.environ["STABKIT_DATA_DIR"] = tempfile.mkdtemp(prefix="stabkit-test-data-")
os.environ["STABKIT_MNIST_MIRROR"] = "http://127.0.0.1:9/"

# Keras 3 loads the backend KERAS_BACKEND names, else the one in ~/.keras/keras.json
# (tensorflow by default); where none is named and JAX is installed the tests run
# Keras on JAX. This is the tests' choice: stabkit itself never picks a backend.
if "KERAS_BACKEND" not in os.environ and importlib.util.find_spec("jax") is not None:
    os.environ["KERAS_BACKEND"] = "jax"
