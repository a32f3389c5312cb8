"""migfleet `mig_layout` rules and live MIG state -> an NVIDIA mig-parted config (`version: v1`).

Placements are left out (mig-parted chooses its own); a layout mig-parted would build
differently (its packing of compute instances into GPU instances) is refused, so importing the
written config (migparted.import_config) gives back the same GPU instances.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import yaml

from migfleet.fleet.export import gpu_rule_body
from migfleet.fleet.migparted import PROFILE, instances, resolve_model
from migfleet.fleet.migparted_read import SPEC_VERSION, MigPartedError
from migfleet.mig import catalog
from migfleet.mig.state import GpuState

__all__ = ["MigPartedError", "export_configs", "export_rule", "host_rules", "render_yaml"]


def _mig_devices(instances: Sequence[Mapping], where: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for inst in instances:
        n = len(inst["placements"]) if "placements" in inst else inst.get("count", 1)
        compute = inst.get("compute")
        key, per_gi = str(inst["profile"]), 1
        if not PROFILE.match(key) or PROFILE.match(key)["c"]:
            raise MigPartedError(f"{where}: profile {key!r}: mig-parted names GPU instance profiles like 1g.10gb "
                                 "(profile IDs are not written)")
        if compute:
            ci = str(compute["profile"])
            m = PROFILE.match(ci)
            if not m or m["gi"] != key:
                raise MigPartedError(f"{where}: compute profile {ci!r} is not a <N>c.{key} name")
            key, per_gi = (ci if m["c"] else key), compute.get("count", 1)
        counts[key] = counts.get(key, 0) + n * per_gi
    return counts


def _gi_units(instances: Sequence[Mapping]) -> list[tuple[str, str, int]]:
    """One (GI profile, compute profile or "" for the full-size one, CIs) per GPU instance, sorted."""
    out = []
    for inst in instances:
        compute = inst.get("compute") or {}
        ci = str(compute.get("profile", ""))
        ci = "" if ci in ("", str(inst["profile"])) and compute.get("count", 1) == 1 else ci
        n = len(inst["placements"]) if "placements" in inst else inst.get("count", 1)
        out += [(str(inst["profile"]), ci, compute.get("count", 1) if ci else 1)] * n
    return sorted(out)


def export_rule(rule: Mapping, where: str) -> dict:
    """One mig-parted entry for one mig_layout rule (selected by all, indexes or model)."""
    selector = rule.get("gpus", "all")
    entry: dict = {}
    if selector == "all" or isinstance(selector, list):
        entry["devices"] = selector
    elif isinstance(selector, Mapping) and "index" in selector:
        entry["devices"] = [selector["index"]]
    elif isinstance(selector, Mapping) and "model" in selector:
        model = resolve_model(selector["model"])
        if catalog.packed_id(model) is None:
            raise MigPartedError(f"{where}: no PCI device ID recorded for {model}")
        entry = {"device-filter": [catalog.packed_id(model)], "devices": "all"}
    else:
        raise MigPartedError(f"{where}: selector {selector!r}: mig-parted selects GPUs by index or PCI ID only")
    if rule.get("mig") is False:
        return {**entry, "mig-enabled": False}
    devices = _mig_devices(rule.get("instances", ()), where)
    if _gi_units(rule.get("instances", ())) != _gi_units(instances(devices, where)):
        raise MigPartedError(f"{where}: mig-parted would pack these compute instances differently "
                             f"({devices}); give every GPU instance of a profile its full set of compute instances")
    return {**entry, "mig-enabled": True, "mig-devices": devices}


def export_configs(layouts: Mapping[str, Sequence[Mapping]]) -> dict:
    """A mig-parted config with one named config per key ({name: mig_layout rules})."""
    configs = {}
    for name, rules in layouts.items():
        if not rules:
            raise MigPartedError(f"config {name!r}: no rules; mig-parted wants at least one entry")
        configs[name] = [export_rule(rule, f"config {name!r}, rule {i}") for i, rule in enumerate(rules)]
    return {"version": SPEC_VERSION, "mig-configs": configs}


def index_rules(bodies: Sequence[tuple[int, dict]]) -> list[dict]:
    """Rules by GPU index for (index, rule body) pairs: one `all` rule when every GPU agrees,
    else one rule per distinct body listing its GPUs (mig-parted has no UUID selector)."""
    distinct: list[tuple[dict, list[int]]] = []
    for index, body in sorted(bodies, key=lambda b: b[0]):
        for seen, indexes in distinct:
            if seen == body:
                indexes.append(index)
                break
        else:
            distinct.append((body, [index]))
    if len(distinct) == 1:
        return [{"gpus": "all", **distinct[0][0]}]
    return [{"gpus": indexes, **body} for body, indexes in distinct]


def host_rules(live: Mapping[str, GpuState], compact: bool = True) -> list[dict]:
    """One host's live layout as rules by GPU index ({uuid: GpuState}); compact: group equal GPUs."""
    bodies = [(gpu.index, _countable(gpu_rule_body(gpu))) for gpu in live.values()]
    if compact:
        return index_rules(bodies)
    return [{"gpus": [index], **body} for index, body in sorted(bodies, key=lambda b: b[0])]


def _countable(body: dict) -> dict:
    """A live rule body without placements (mig-parted places instances itself)."""
    if "instances" not in body:
        return body
    out = []
    for inst in body["instances"]:
        entry = {"profile": inst["profile"], "count": len(inst["placements"])}
        if "compute" in inst:
            entry["compute"] = inst["compute"]
        out.append(entry)
    return {"instances": out}


class _Dumper(yaml.SafeDumper):
    """Lists of scalars in flow style (`devices: [0, 1]`, `device-filter: ['0x20B010DE']`), the rest in block style,
    as mig-parted's own published configs are written."""


_Dumper.add_representer(list, lambda dumper, data: dumper.represent_sequence(
    "tag:yaml.org,2002:seq", data, flow_style=all(isinstance(v, (str, int)) for v in data)))


def render_yaml(spec: Mapping) -> str:
    return yaml.dump(dict(spec), Dumper=_Dumper, sort_keys=False, default_flow_style=False)
