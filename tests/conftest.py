import sys
from pathlib import Path

# the tests share helpers in tests/_support.py
sys.path.insert(0, str(Path(__file__).parent))
