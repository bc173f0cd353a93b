import os
import sys
import tempfile
from pathlib import Path

# the tests share helpers in tests/_support.py
sys.path.insert(0, str(Path(__file__).parent))

# references computed by the tests (and by CLI runs they start) are cached in a
# fresh folder, never in the user's cache
os.environ["STABKIT_CACHE_DIR"] = tempfile.mkdtemp(prefix="stabkit-test-cache-")
