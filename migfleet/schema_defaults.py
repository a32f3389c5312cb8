"""The defaults of the inventory's settings, as migfleet/schemas/<name>.v1.json writes them.

The schemas are the one place defaults are written; this is the one reader of them.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"


@lru_cache(maxsize=None)
def schema(name: str) -> dict:
    """One schema file by its short name ("serving", "mig", "rollout")."""
    return json.loads((SCHEMA_DIR / f"{name}.v1.json").read_text(encoding="utf-8"))


def defaults(name: str) -> dict[str, Any]:
    """Every key the schema declares: its default, None where it has none."""
    return {key: spec.get("default") for key, spec in schema(name)["properties"].items()}
