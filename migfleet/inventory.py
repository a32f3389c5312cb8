"""Validation of every host's merged data before anything runs: JSON Schema + MIG geometry.

All errors are collected (host, JSON path, reason), so one run shows every mistake.
Schemas: every file in schemas/ is loaded into one registry; migfleet/schemas/inventory.v1.json is the top.
"""
from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match
from referencing import Registry, Resource

from migfleet.mig.geometry import Geometry, Profile
from migfleet.mig.desired import GpuRef, RuleError, resolve_refs
from migfleet.mig.plan import LayoutError, fit

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"
TOP_SCHEMA = "https://migfleet.dev/schemas/inventory.v1.json"
OUR_PREFIXES = ("mig_", "toolkit_", "docker_", "triton_", "envoy_", "rollout_")


@dataclass(frozen=True)
class InventoryError:
    host: str
    path: str       # JSON path in the host's data, e.g. $.mig_layout[1].instances[0].profile
    reason: str

    def __str__(self) -> str:
        return f"{self.host}: {self.path}: {self.reason}"


@lru_cache(maxsize=1)
def _schemas() -> tuple[Draft202012Validator, frozenset[str]]:
    docs = [json.loads(p.read_text()) for p in sorted(SCHEMA_DIR.glob("*.json"))]
    registry = Registry().with_resources((d["$id"], Resource.from_contents(d)) for d in docs)
    by_id = {d["$id"]: d for d in docs}
    top = by_id[TOP_SCHEMA]
    declared = set(top.get("properties", {}))
    for part in top.get("allOf", ()):
        ref = TOP_SCHEMA.rsplit("/", 1)[0] + "/" + part["$ref"]
        declared |= set(by_id[ref].get("properties", {}))
    return Draft202012Validator(top, registry=registry), frozenset(declared)


def _schema_errors(host: str, data: Mapping) -> list[InventoryError]:
    validator, declared = _schemas()
    out = []
    for err in validator.iter_errors(dict(data)):
        # Our schemas may word a keyword's failure themselves ("errorMessage", ignored by jsonschema).
        custom = err.schema.get("errorMessage", {}).get(err.validator) if isinstance(err.schema, dict) else None
        if custom:
            out.append(InventoryError(host, err.json_path, f"{err.instance!r} {custom}"
                                      if err.validator == "oneOf" else custom))
            continue
        if err.context:     # oneOf/anyOf: report the most relevant branch
            err = best_match(err.context)
        out.append(InventoryError(host, err.json_path, err.message))
    for key in data:
        if isinstance(key, str) and key.startswith(OUR_PREFIXES) and key not in declared:
            close = difflib.get_close_matches(key, declared, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            out.append(InventoryError(host, f"$.{key}", f"unknown key {key}{hint}"))
    return out


def _geometry(model: str, data: Mapping) -> Geometry | None:
    extra = (data.get("mig_models") or {}).get(model)
    if extra:
        return Geometry(model=model, architecture=extra["architecture"], memory_mib=extra["memory_mib"],
                        memory_slices=extra.get("memory_slices", 8), compute_slices=extra.get("compute_slices", 7),
                        profiles=tuple(Profile(id=p["id"], name=p["name"], slices=p["slices"],
                                               instances=p["instances"], memory_mib=p.get("memory_mib", 0),
                                               sm=0, ce=0, dec=0, enc=0, jpeg=0, ofa=0,
                                               placements=tuple(tuple(x) for x in p["placements"]))
                                       for p in extra["profiles"]))
    from migfleet.mig import catalog
    return catalog.lookup(model)


def _geometry_errors(host: str, data: Mapping) -> list[InventoryError]:
    models = data.get("gpu_models")
    if not models:
        return []
    refs = [GpuRef(i, m) for i, m in enumerate(models)]
    try:
        desired = resolve_refs(data.get("mig_layout") or [], refs, key=lambda g: g.index)
    except RuleError as e:
        return [InventoryError(host, e.where, e.reason)]
    found: dict[tuple[str, str], list[int]] = {}
    for index, want in desired.items():
        if not want.mig_enabled:
            continue
        geometry = _geometry(models[index], data)
        if geometry is None:
            key = (f"$.gpu_models[{index}]", f"no MIG geometry known for {models[index]}; "
                                            "describe it under mig_models")
        else:
            try:
                fit(geometry, want.instances)
                continue
            except LayoutError as e:
                key = (e.where or "$.mig_layout", e.reason)
        found.setdefault(key, []).append(index)
    return [InventoryError(host, path, f"GPU {_indexes(ix)}: {reason}") for (path, reason), ix in found.items()]


def _indexes(ix: list[int]) -> str:
    if len(ix) > 2 and ix == list(range(ix[0], ix[-1] + 1)):
        return f"{ix[0]}-{ix[-1]}"
    return ", ".join(map(str, ix))


def validate_host(host: str, data: Mapping) -> list[InventoryError]:
    """Schema errors of one host's data; geometry errors only when the schema passed."""
    errors = _schema_errors(host, data)
    return errors or _geometry_errors(host, data)


def validate_inventory(hosts: Mapping[str, Mapping]) -> list[InventoryError]:
    """Every error of every host ({name: merged host data}), in host order."""
    return [e for name, data in hosts.items() for e in validate_host(name, data)]


def format_errors(errors: list[InventoryError]) -> str:
    """One line per error: `host: $.path: reason`."""
    return "\n".join(str(e) for e in errors)


def load_inventory_data(inventory_file: str) -> dict[str, dict]:
    """Host data of an inventory file, merged the way the pyinfra CLI does (group_data beside the repo)."""
    from pyinfra.api import Config, State
    from pyinfra.context import ctx_config, ctx_state
    from pyinfra_cli.inventory import make_inventory

    repo = str(SCHEMA_DIR.parent)
    state = State(check_for_changes=False)
    state.cwd = repo
    # Inventory and group data files run with pyinfra's context set, as under the CLI; nothing connects.
    with ctx_state.use(state), ctx_config.use(Config()):
        inventory = make_inventory(inventory_file, cwd=repo)
        return {host.name: host.data.dict() for host in inventory}
