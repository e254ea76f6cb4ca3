"""Where things are, and the import paths the functions' code needs (as Lambda puts CodeUri and layers on it)."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = ROOT / "functions"


def add_import_paths(code_dirs: list[Path]) -> None:
    """The repository root and every function's and layer's code folder on sys.path, as Lambda's /var/task and
    /opt/python: `import inventory`, `import saga_common` work as they do in the functions."""
    for code_dir in code_dirs:
        if str(code_dir) not in sys.path:
            sys.path.insert(0, str(code_dir))
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
