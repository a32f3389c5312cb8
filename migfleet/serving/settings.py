"""Serving settings (toolkit_*, docker_*, triton_*, envoy_*) with the defaults of migfleet/schemas/serving.v1.json.

The schema is the one place defaults are written; this module only reads them.
"""
from __future__ import annotations

from typing import Any, Mapping

from migfleet import schema_defaults

PREFIXES = ("toolkit_", "docker_", "triton_", "envoy_", "metrics_", "measure_")


def defaults() -> dict[str, Any]:
    return schema_defaults.defaults("serving")


def resolve(data: Mapping[str, Any] | Any) -> dict[str, Any]:
    """Every serving key: the host's value where set, else the schema default.

    `data` is a mapping or pyinfra's HostData (anything with `.get(key, default)`).
    Keys with a serving prefix that the schema does not know are refused (likely typos).
    """
    known = defaults()
    resolved = {key: data.get(key, default) for key, default in known.items()}
    keys = data.keys() if hasattr(data, "keys") else getattr(data, "dict", lambda: {})().keys()
    unknown = sorted(k for k in keys if k.startswith(PREFIXES) and k not in known)
    if unknown:
        raise KeyError(f"unknown serving settings {unknown}; known: {sorted(known)}")
    return resolved
