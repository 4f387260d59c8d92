"""Import a script of examples/ as a module (the recipes the tests run)."""
import importlib
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def example(name):
    """The module ``examples/<name>.py``."""
    if str(EXAMPLES) not in sys.path:
        sys.path.insert(0, str(EXAMPLES))
    return importlib.import_module(name)
