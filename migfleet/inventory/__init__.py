"""Validation of every host's merged data before anything runs.

Every problem is collected as `host: $.path: reason`, so one run shows every mistake:
- schema.py: JSON Schema of every key (migfleet/schemas/), unknown keys of any name;
- layout.py: MIG layouts against the catalog and each GPU model's geometry;
- crosscheck.py: ports derived from the settings, rollout settings across hosts;
- load.py: the inventory file loaded as pyinfra loads it, its errors named by file and line.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from migfleet.inventory.crosscheck import port_errors, rollout_errors
from migfleet.inventory.errors import InventoryError, format_errors
from migfleet.inventory.host_dirs import system_dir_errors
from migfleet.inventory.layout import Fleet, gpu_refs, layout_errors
from migfleet.inventory.load import InventoryLoadError, load_inventory_data
from migfleet.inventory.paths import inventory_folder, repository_errors
from migfleet.inventory.schema import SCHEMA_DIR, TOP_SCHEMA, _schemas, schema_errors
from migfleet.mig.desired import GpuRef
from migfleet.serving.settings import defaults as serving_defaults

__all__ = ["InventoryError", "InventoryLoadError", "SCHEMA_DIR", "TOP_SCHEMA", "format_errors", "inventory_folder",
           "load_inventory_data", "validate_host", "validate_inventory"]

MIG_KEYS = {"mig_layout", "gpu_models", "gpu_uuids", "mig_models"}
NO_HOSTS = "no hosts: the inventory defines no host group (a list of hostnames or (hostname, data) tuples)"


def _top_keys(errors: list[InventoryError]) -> set[str]:
    """Top-level keys that already have a schema error (their further checks would only echo it)."""
    out = set()
    for e in errors:
        head = e.path[2:].split(".")[0].split("[")[0] if e.path.startswith("$.") else ""
        out.add(head)
    return out


def _host(host: str, data: Mapping, live: Sequence[GpuRef] | None, fleet: Fleet) -> tuple[list, set[str]]:
    errors = schema_errors(host, data)
    bad = _top_keys(errors)
    gpus = list(live) if live is not None else gpu_refs(data)
    if live is not None and data.get("gpu_models") is not None and "gpu_models" not in bad:
        for i, (said, ref) in enumerate(zip(data["gpu_models"], live)):
            if said != ref.model:
                errors.append(InventoryError(host, f"$.gpu_models[{i}]", f"{said} here, but GPU {i} of the host "
                                                                         f"is {ref.model}"))
        if len(data["gpu_models"]) != len(live):
            errors.append(InventoryError(host, "$.gpu_models", f"{len(data['gpu_models'])} GPU(s) here, the host "
                                                               f"has {len(live)}"))
    if not bad & MIG_KEYS and "$" not in {e.path for e in errors}:
        errors += layout_errors(host, data, gpus, fleet)
    errors += port_errors(host, data, len(gpus) if gpus else None, bad)
    errors += system_dir_errors(host, data, bad)
    return errors, bad


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


def validate_host(host: str, data: Mapping, live: Sequence[GpuRef] | None = None) -> list[InventoryError]:
    """Every error of one host's data, as if it were the whole inventory."""
    return validate_inventory({host: data}, {host: live} if live is not None else None)


def validate_inventory(hosts: Mapping[str, Mapping], live: Mapping[str, Sequence[GpuRef]] | None = None,
                       folder: Path | None = None) -> list[InventoryError]:
    """Every error of every host ({name: merged host data}), host by host, then across hosts.

    `live`: GPUs read from hosts ({name: [GpuRef(index, model, uuid)]}), used instead of
    gpu_models/gpu_uuids for those hosts (validate --live).
    `folder`: the inventory's folder (inventory_folder); given, the local paths in the data (the model
    repository) are checked too.
    """
    if not hosts:
        return [InventoryError("(inventory)", "$", NO_HOSTS)]
    live = live or {}
    fleet = _fleet(hosts, live)
    errors, bad = [], {}
    for name, data in hosts.items():
        found, bad[name] = _host(name, data, live.get(name), fleet)
        errors += found
    if folder is not None:
        errors += repository_errors(hosts, folder, serving_defaults(), bad)
    return errors + rollout_errors(hosts, bad)


def _list(value) -> list:
    """A list-valued setting, or nothing when it has another type (the schema reports that)."""
    return value if isinstance(value, list) else []
