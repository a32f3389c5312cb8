"""Validation of every host's merged data before anything runs.

Every problem is collected as `host: $.path: reason`, so one run shows every mistake:
- limits.py: size limits, checked first (a key past one is left out of every other check);
- schema.py: JSON Schema of every key (migfleet/schemas/), unknown keys of any name;
- values.py: addresses, networks, key files and unit names, checked the way the deploy uses them;
- machines.py: host names, and no machine or GPU under two hosts;
- layout.py: MIG layouts against the catalog and each GPU model's geometry;
- crosscheck.py: ports derived from the settings, rollout settings across hosts, Envoy values;
- load.py: the inventory file loaded as pyinfra loads it, its errors named by file and line.
Legal but over-broad choices (an allow list open to everyone, a rule that later rules replace
everywhere) are warnings: check_inventory returns them beside the errors.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from migfleet import schema_defaults
from migfleet.inventory.crosscheck import envoy_value_errors, port_errors, rollout_errors
from migfleet.inventory.errors import InventoryError, bare, format_errors
from migfleet.inventory.host_dirs import system_dir_errors
from migfleet.inventory.layout import Fleet, geometry_errors, gpu_refs, identity_errors, layout_errors
from migfleet.inventory.limits import limit_errors
from migfleet.inventory.load import InventoryLoadError, LoadedInventory, load_inventory, load_inventory_data
from migfleet.inventory.machines import machine_errors
from migfleet.inventory.models import model_errors
from migfleet.inventory.capacity_table import capacity_table_errors
from migfleet.inventory.paths import inventory_folder, repository_errors
from migfleet.inventory.schema import SCHEMA_DIR, TOP_SCHEMA, _schemas, schema_errors
from migfleet.inventory.values import value_errors
from migfleet.mig.desired import GpuRef, Rule, parse_rules, shadowed
from migfleet.serving.settings import defaults as serving_defaults

__all__ = ["InventoryError", "InventoryLoadError", "LoadedInventory", "Report", "SCHEMA_DIR", "TOP_SCHEMA",
           "check_inventory", "format_errors", "inventory_folder", "load_inventory", "load_inventory_data",
           "validate_inventory"]

MIG_KEYS = {"mig_layout", "gpu_models", "gpu_uuids", "gpu_pci_bus_ids", "mig_models"}
NO_HOSTS = "no hosts: the inventory defines no host group (a list of hostnames or (hostname, data) tuples)"


def _top_keys(errors: list[InventoryError]) -> set[str]:
    """Top-level keys that already have a schema error (their further checks would only echo it)."""
    out = set()
    for e in errors:
        head = e.path[2:].split(".")[0].split("[")[0] if e.path.startswith("$.") else ""
        out.add(head)
    return out


@dataclass
class Report:
    errors: list[InventoryError] = field(default_factory=list)
    warnings: list[InventoryError] = field(default_factory=list)


@lru_cache(maxsize=1)
def _known_services() -> frozenset[str]:
    """The reset services the schema names by default (a close misspelling of one is refused)."""
    return frozenset(schema_defaults.defaults("mig")["mig_reset_services"] or ())


def _host(host: str, data: Mapping, live: Sequence[GpuRef] | None, fleet: Fleet, report: Report,
          parsed: dict[str, list[Rule]]) -> set[str]:
    errors, too_big = limit_errors(host, data)
    data = {k: v for k, v in data.items() if k not in too_big}
    errors += schema_errors(host, data)
    bad = _top_keys(errors) | too_big
    found, warned = value_errors(host, data, bad, _known_services())
    errors += found
    report.warnings += warned
    gpus = list(live) if live is not None else gpu_refs(data)
    if live is not None and data.get("gpu_models") is not None and "gpu_models" not in bad:
        for i, (said, ref) in enumerate(zip(data["gpu_models"], live)):
            if said != ref.model:
                errors.append(InventoryError(host, f"$.gpu_models[{i}]", f"{bare(said)} here, but GPU {i} of the host "
                                                                         f"is {ref.model}"))
        if len(data["gpu_models"]) != len(live):
            errors.append(InventoryError(host, "$.gpu_models", f"{len(data['gpu_models'])} GPU(s) here, the host "
                                                               f"has {len(live)}"))
    if "mig_layout" not in bad and "$" not in {e.path for e in errors}:
        parsed[host] = parse_rules(data.get("mig_layout") or [])     # once per host: layout and models read it
    if not bad & MIG_KEYS and "$" not in {e.path for e in errors}:
        mine = identity_errors(host, data) + geometry_errors(host, data)
        errors += mine or layout_errors(host, data, gpus, fleet, parsed[host])
        if not mine:
            report.warnings += [
                InventoryError(host, f"$.mig_layout[{n}]", f"has no effect: later rule(s) {', '.join(map(str, by))} "
                               "replace it on every GPU it selects") for n, by in shadowed(data.get("mig_layout") or [], gpus)]
    errors += port_errors(host, data, len(gpus) if gpus else None, bad)
    errors += envoy_value_errors(host, data, bad)
    errors += system_dir_errors(host, data, bad)
    report.errors += errors
    return bad


def _fleet(hosts: Mapping[str, Mapping], live: Mapping[str, Sequence[GpuRef]]) -> Fleet:
    models, uuids = set(), set()
    for name, data in hosts.items():
        refs = live.get(name)
        if refs is None:
            models |= {m for m in _list(data.get("gpu_models")) if isinstance(m, str)}
            uuids |= {u.lower() for u in _list(data.get("gpu_uuids")) if isinstance(u, str)}
        else:
            models |= {r.model for r in refs}
            uuids |= {r.uuid.lower() for r in refs if r.uuid}
    return Fleet(frozenset(models), frozenset(uuids))


def validate_inventory(hosts: Mapping[str, Mapping], live: Mapping[str, Sequence[GpuRef]] | None = None,
                       folder: Path | None = None) -> list[InventoryError]:
    """Every error of every host ({name: merged host data}), host by host, then across hosts
    (check_inventory's errors)."""
    return check_inventory(hosts, live, folder).errors


def check_inventory(hosts: Mapping[str, Mapping], live: Mapping[str, Sequence[GpuRef]] | None = None,
                    folder: Path | None = None, whole: bool = True) -> Report:
    """Every error and warning of every host ({name: merged host data}), host by host, then across hosts.

    `live`: GPUs read from hosts ({name: [GpuRef(index, model, uuid)]}), used instead of
    gpu_models/gpu_uuids for those hosts (validate --live).
    `folder`: the inventory's folder (inventory_folder); given, the local paths in the data (the model
    repository) are checked too.
    """
    if not hosts:
        return Report([InventoryError("(inventory)", "$", NO_HOSTS)])
    live = live or {}
    fleet = _fleet(hosts, live)
    report, bad, parsed = Report(), {}, {}
    seen: dict[str, tuple[list, list, set[str], str]] = {}
    for name, data in hosts.items():
        # Hosts of one group usually carry the same data: checked once, its findings told for each.
        key = _same_data_key(data, live.get(name))
        if key is not None and key in seen:
            errors, warnings, bad[name], first = seen[key]
            if first in parsed:
                parsed[name] = parsed[first]
            report.errors += [InventoryError(name, e.path, e.reason) for e in errors]
            report.warnings += [InventoryError(name, e.path, e.reason) for e in warnings]
            continue
        e0, w0 = len(report.errors), len(report.warnings)
        bad[name] = _host(name, data, live.get(name), fleet, report, parsed)
        if key is not None:
            seen[key] = (report.errors[e0:], report.warnings[w0:], bad[name], name)
    if folder is not None:
        report.errors += repository_errors(hosts, folder, serving_defaults(), bad)
        report.errors += model_errors(hosts, folder, serving_defaults(), bad, parsed)
        report.errors += capacity_table_errors(hosts, folder, bad)
    report.errors += rollout_errors(hosts, bad, whole) + machine_errors(hosts, bad)
    return report


def _same_data_key(data: Mapping, live) -> str | None:
    """A key equal for equal host data (repr of plain JSON-like data), or None where it cannot be had
    cheaply and safely (odd objects, or data past the size limits)."""
    if live is not None or len(data) > 200:
        return None
    stack, nodes = list(data.values()), 0
    while stack:
        item = stack.pop()
        nodes += 1
        if nodes > 2000:
            return None
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            if len(item) > 4096:
                return None
        elif isinstance(item, int) and not isinstance(item, bool):
            if abs(item) > 2 ** 63:
                return None
        elif not (item is None or isinstance(item, (bool, float))):
            return None
    try:
        return repr(sorted(data.items(), key=lambda kv: str(kv[0])))
    except Exception:
        return None


def _list(value) -> list:
    """A list-valued setting, or nothing when it has another type (the schema reports that)."""
    return value if isinstance(value, list) else []
