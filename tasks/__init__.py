"""One pyinfra @deploy per component; deploy.py composes them in order."""
from __future__ import annotations

import importlib
from types import ModuleType


def deploy_of(module: ModuleType):
    """The one @deploy function a task module defines (pyinfra marks them with `deploy_name`)."""
    found = [obj for name, obj in vars(module).items()
             if not name.startswith("_") and callable(obj) and hasattr(obj, "deploy_name")
             and getattr(obj, "__module__", None) == module.__name__]
    if len(found) != 1:
        names = ", ".join(f.__name__ for f in found) or "none"
        raise ImportError(f"{module.__name__} must define exactly one @deploy function, found: {names}")
    return found[0]


def optional_task(name: str):
    """The @deploy of `tasks.<name>`, or None while that module does not exist."""
    try:
        module = importlib.import_module(f"tasks.{name}")
    except ModuleNotFoundError as missing:
        if missing.name != f"tasks.{name}":
            raise
        return None
    return deploy_of(module)
