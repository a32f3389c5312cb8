"""`triton_capacity_table`: the capacity table (advise's format) whose rates weigh each Triton in its
models' Envoy clusters; it must be there and parse (each distinct path is read once)."""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from migfleet.inventory.errors import InventoryError
from migfleet.inventory.paths import local_path

CAPACITY_TABLE = "triton_capacity_table"


def capacity_table_errors(hosts: Mapping[str, Mapping], folder: Path, bad: Mapping[str, set[str]]) -> list[InventoryError]:
    from migfleet.advise import capacity       # (advise's parser; it reads this package's error words)
    seen: dict[str, str | None] = {}
    errors = []
    for host, data in hosts.items():
        value = data.get(CAPACITY_TABLE)
        if not isinstance(value, str) or not value or CAPACITY_TABLE in bad.get(host, set()) or data.get("mig_only") is True:
            continue
        if value not in seen:
            path = local_path(value, folder)
            try:
                capacity.load([path])
                seen[value] = None
            except capacity.CapacityError as e:        # the path as the inventory gives it
                seen[value] = str(e).replace(str(path), value)
        if seen[value]:
            errors.append(InventoryError(host, f"$.{CAPACITY_TABLE}", seen[value]))
    return errors
