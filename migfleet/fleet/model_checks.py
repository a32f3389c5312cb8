"""Pure comparisons of the models a host serves with what its `mig_layout` asks: each Triton has
exactly its models ready (the clusters each model's requests go to: serving.endpoints.model_members)."""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from migfleet.fleet.checks import Mismatch
from migfleet.serving.models import settings_differences, settings_json
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


def config_key(triton_name: str, model: str) -> str:
    """How a model's live config is keyed among a host's answers (drift's models section, spec's read)."""
    return f"{triton_name} config {model}"


def configs_script(expected: Sequence[Triton]) -> str:
    """Shell that prints, for each model with Triton settings of each Triton, "@@<config_key>" then its
    live config (GET /v2/models/NAME/config)."""
    return "; ".join(f"echo '@@{config_key(t.name, m.name)}'; curl -s -m 5 "
                     f"http://127.0.0.1:{t.ports.http}/v2/models/{m.name}/config; echo"
                     for t in expected for m in t.settings) or "true"


def compare_settings(host: str, expected: Sequence[Triton], configs: Mapping[str, str]) -> list[Mismatch]:
    """Each model with Triton settings runs with them: its live config ({config_key: answer}) has the
    instance count and batching its instance's `models` entry asks."""
    out = []
    for t in expected:
        for want in t.settings:
            text = configs.get(config_key(t.name, want.name), "")
            try:
                live = json.loads(text)
                found = settings_differences(want, live) if isinstance(live, dict) else None
            except ValueError:
                found = None
            wanted = ", ".join(f"{k} {v}" for k, v in settings_json([want])[want.name].items())
            if found is None:
                out.append(Mismatch(host, t.place.gpu_index, t.place.gpu_uuid, f"{t.name} {want.name} settings",
                                    wanted, f"no config ({text.strip()[:100]!r})"))
            elif found:
                out.append(Mismatch(host, t.place.gpu_index, t.place.gpu_uuid, f"{t.name} {want.name} settings",
                                    wanted, "; ".join(found)))
    return out
