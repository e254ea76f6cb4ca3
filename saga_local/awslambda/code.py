"""A function's code, imported in this process from its code folder (CodeUri) and its layers' folders, as Lambda's
Python runtime finds it on /var/task and /opt/python. For the tools that run a function's own code outside an
invocation: seeding the inventory with the inventory service's code, and the operator's tool reading the recovery
sweep's model. The folders stay on the path, as the in-process runner's do (saga_local.stepfunctions.inprocess)."""

import importlib
import sys
import threading
from pathlib import Path
from types import ModuleType

FUNCTIONS = Path(__file__).resolve().parents[2] / "functions"
SHARED_LAYER = FUNCTIONS / "shared"
_lock = threading.Lock()


def import_function_module(module: str, *folders: Path) -> ModuleType:
    """`module` imported from `folders` (a function's code folder, then its layers'); each folder is put on the
    path once."""
    with _lock:
        for folder in reversed(folders):
            if str(folder) not in sys.path:
                sys.path.insert(0, str(folder))
        return importlib.import_module(module)
