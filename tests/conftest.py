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
