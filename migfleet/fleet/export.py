"""Live MIG state -> `mig_layout` rules in the inventory's format.

Rows come from the live placed layout (`mig.placed`); every GPU instance is written with its
explicit placement, so an inventory built from the export plans exactly what is there: deploying
it plans no MIG change.
"""
from __future__ import annotations

import ast
import json
import pprint
from collections.abc import Mapping, Sequence

from migfleet.mig import catalog, placed
from migfleet.mig.geometry import Geometry, ci_name, default_ci
from migfleet.mig.state import GpuState
from migfleet.serving.triton import Triton


class ExportError(ValueError):
    """Live state the inventory format cannot express; the message names the GPU."""


def _label(gpu: GpuState) -> str:
    return f"GPU {gpu.index} ({gpu.uuid})"


def gpu_instances(gpu: GpuState, geometry: Geometry | None = None,
                  models: Mapping[int, Sequence[str]] | None = None) -> list[dict]:
    """A MIG-enabled GPU's placed layout as rule entries: one per (profile, compute layout, models
    its Tritons have ready: {GI start: models}, where known)."""
    models = models or {}
    geometry = geometry or catalog.lookup(gpu.name)
    names = {g.profile_id: g.name for g in gpu.gpu_instances}
    groups: dict[tuple, list[int]] = {}
    for gi in placed.live(gpu).gis:
        gi_id = next(g.gi_id for g in gpu.gpu_instances if g.start == gi.start)
        where = f"{_label(gpu)}: GPU instance {gi_id} ({names[gi.profile_id]} at slice {gi.start})"
        if not gi.cis:
            raise ExportError(f"{where} has no compute instance; mig_layout cannot express that "
                              "(create one or destroy the GI)")
        if len(set(gi.cis)) > 1:
            cis = sorted({c.name for c in gpu.compute_instances if c.gi_id == gi_id})
            raise ExportError(f"{where} mixes compute profiles {', '.join(cis)}; mig_layout takes one "
                              "compute profile per GI")
        full = geometry is not None and gi.cis == (default_ci(geometry.profile(gi.profile_id)),)
        if geometry is None and not (len(gi.cis) == 1):
            raise ExportError(f"{where}: its compute profiles cannot be named without the model's geometry")
        compute = None if full or geometry is None else (ci_name(geometry.profile(gi.profile_id), gi.cis[0]), len(gi.cis))
        served = tuple(sorted(models[gi.start])) if gi.start in models else None
        groups.setdefault((gi.profile_id, compute, served), []).append(gi.start)
    out = []
    for (pid, compute, served), starts in sorted(groups.items(), key=lambda kv: min(kv[1])):
        entry: dict = {"profile": names[pid], "placements": sorted(starts)}
        if compute:
            entry["compute"] = {"profile": compute[0], "count": compute[1]}
        if served:
            entry["models"] = list(served)
        out.append(entry)
    return out


def gpu_rule_body(gpu: GpuState, models: Mapping[int, Sequence[str]] | None = None) -> dict:
    """The rule's layout part (without `gpus`) for one GPU, from its current MIG mode."""
    if not gpu.mig_current:
        return {"mig": False}
    return {"instances": gpu_instances(gpu, models=models)}


def host_layout(live: Mapping[str, GpuState], compact: bool = True,
                models: Mapping[str, Mapping[int, Sequence[str]]] | None = None) -> list[dict]:
    """`mig_layout` rules for one host's GPUs ({uuid: GpuState}).

    compact: one `"gpus": "all"` rule when every GPU has the same layout; else one rule per
    GPU selected by UUID.
    """
    gpus = sorted(live.values(), key=lambda g: g.index)
    bodies = [gpu_rule_body(g, (models or {}).get(g.uuid)) for g in gpus]
    if compact and bodies and all(b == bodies[0] for b in bodies):
        return [{"gpus": "all", **bodies[0]}]
    return [{"gpus": {"uuid": g.uuid}, **b} for g, b in zip(gpus, bodies)]


def warnings(host: str, live: Mapping[str, GpuState]) -> list[str]:
    return [f"{host} {_label(g)}: MIG mode change pending ({'enabled' if g.mig_pending else 'disabled'} "
            f"after reset); exported the current mode ({'enabled' if g.mig_current else 'disabled'})"
            for g in live.values() if g.mode_pending_change]


# ---------------------------------------------------------------- output formats

def _literal_data(host: str, data: Mapping) -> dict:
    """Host data that can be written back as Python literals (all of it, in practice)."""
    out = {}
    for key, value in sorted(data.items()):
        text = repr(value)
        try:
            ast.literal_eval(text)
        except (ValueError, SyntaxError):
            raise ExportError(f"{host}: data key {key!r} holds {type(value).__name__}, which an exported "
                              "inventory cannot write back") from None
        out[key] = value
    return out


def render_json(layouts: Mapping[str, Sequence[dict]]) -> str:
    """{host: {"mig_layout": [...]}}"""
    return json.dumps({h: {"mig_layout": list(rules)} for h, rules in layouts.items()}, indent=2) + "\n"


def render_yaml(layouts: Mapping[str, Sequence[dict]]) -> str:
    import yaml
    return yaml.safe_dump({h: {"mig_layout": list(rules)} for h, rules in layouts.items()},
                          sort_keys=False, default_flow_style=None)


def render_python(hosts: Sequence[tuple[str, Mapping, Sequence[dict]]], source: str) -> str:
    """A pyinfra inventory file: every host with its merged data, `mig_layout` replaced.

    hosts: (name, merged data of the source inventory, rules). The data is copied whole (its
    groups' data included) so the exported inventory deploys like the source one whatever
    group_data applies to it; host data wins over group_data, so the exported layouts are
    what deploy plans against.
    """
    lines = [f'"""MIG layouts read from the live hosts of {source} (python -m migfleet export)."""',
             "", "hosts = ["]
    for name, data, rules in hosts:
        body = {**{k: v for k, v in _literal_data(name, data).items() if k != "mig_layout"},
                "mig_layout": list(rules)}
        text = pprint.pformat(body, indent=1, width=100, sort_dicts=False)
        lines.append(f"    ({name!r}, " + text.replace("\n", "\n" + " " * 8) + "),")
    lines.append("]")
    return "\n".join(lines) + "\n"


def live_models(tritons: Sequence[Triton], indexes: Mapping[str, str]) -> dict[str, dict[int, tuple[str, ...]]]:
    """{GPU UUID: {GI start: the models its Triton has ready}} from each Triton's repository index
    (Tritons that did not answer left out)."""
    out: dict[str, dict[int, tuple[str, ...]]] = {}
    for t in tritons:
        try:
            ready = tuple(sorted(m["name"] for m in json.loads(indexes.get(t.name, "")) if m.get("state") == "READY"))
        except (ValueError, TypeError, KeyError, AttributeError):
            continue
        if ready:
            out.setdefault(t.place.gpu_uuid, {})[t.place.gi_start] = ready
    return out
