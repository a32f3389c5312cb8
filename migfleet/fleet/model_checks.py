"""Pure comparisons of the models a host serves with what its `mig_layout` asks: each Triton has
exactly its models ready (the clusters each model's requests go to: serving.endpoints.model_members)."""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from migfleet.fleet.checks import Mismatch
from migfleet.serving.triton import Triton


def compare_models(host: str, expected: Sequence[Triton], indexes: Mapping[str, str]) -> list[Mismatch]:
    """Each Triton has exactly its models ready; `indexes`: {name: its /v2/repository/index answer}."""
    out = []
    for t in expected:
        text = indexes.get(t.name, "")
        try:
            ready = sorted(m["name"] for m in json.loads(text) if m.get("state", "READY") == "READY")
        except (ValueError, TypeError, KeyError, AttributeError):
            ready = None
        if ready != sorted(t.models):
            out.append(Mismatch(host, t.place.gpu_index, t.place.gpu_uuid, f"{t.name} models",
                                ", ".join(sorted(t.models)) or "none",
                                ", ".join(ready) or "none" if ready is not None else f"no answer ({text.strip()[:100]!r})"))
    return out
