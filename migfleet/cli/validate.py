"""`migfleet validate INVENTORY [--live]`: schema + MIG geometry of every host, no host contacted
(with --live: each host's GPUs read, read-only, over SSH or, for `@local`, here). Exit 0: valid;
1: errors, all listed."""
from __future__ import annotations

import argparse
import sys

from migfleet.inventory import InventoryLoadError, check_inventory, format_errors, inventory_folder, load_inventory


# Characters of warnings and of errors shown, at most: a report stays under 10 kB however bad the inventory.
WARNINGS_SHOWN, ERRORS_SHOWN = 1500, 7000


def _read_live(hosts: dict[str, dict]) -> tuple[dict, list]:
    """GPUs of every host, read-only, one round trip each (the MIG snapshot; `@local` runs it here)."""
    from migfleet.fleet import ssh as fleet
    from migfleet.fleet.drift import read_all
    from migfleet.inventory import InventoryError
    from migfleet.mig.desired import GpuRef

    read = read_all([fleet.FleetHost(name, data) for name, data in hosts.items()])
    live, errors = {}, []
    for name, got in read.items():
        if isinstance(got, Exception):
            # the error names the host already; the listing names it once, in front
            errors.append(InventoryError(name, "$", f"cannot read the host's GPUs: {str(got).removeprefix(name + ': ')}"))
        else:
            live[name] = [GpuRef(s.index, s.name, s.uuid, s.pci_bus_id) for s in sorted(got.values(), key=lambda s: s.index)]
    return live, errors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="migfleet validate",
        description="Check the schema and MIG geometry of every host of a pyinfra inventory; contacts no host "
                    "unless --live.")
    parser.add_argument("inventory", help="pyinfra inventory file, e.g. inventories/production.py")
    parser.add_argument("--live", action="store_true",
                        help="read each host's GPU models and UUIDs over SSH, or here for @local (read-only, "
                             "one round trip per host) instead of gpu_models/gpu_uuids")
    args = parser.parse_args(argv)
    hosts, live = checked(args.inventory, args.live)
    if hosts is None:
        return 1
    print(f"{args.inventory}: {len(hosts)} host(s), no errors" + (" (GPUs read from the hosts)" if live else ""))
    return 0


def checked(inventory: str, live: bool = False) -> tuple[dict[str, dict] | None, dict]:
    """The inventory loaded and checked as `validate` does it, warnings and errors told on stderr:
    (hosts, GPUs read live) when it has no error, else (None, {}). advise checks with it too."""
    try:
        loaded = load_inventory(inventory)
    except InventoryLoadError as e:         # a broken inventory file: where and why, no traceback
        print(f"{inventory}: {len(e.problems)} error(s)", file=sys.stderr)
        print(format_errors(e.problems), file=sys.stderr)
        return None, {}
    hosts = loaded.hosts
    read, errors = _read_live(hosts) if live and hosts and not loaded.errors else ({}, [])
    report = check_inventory(hosts, read, inventory_folder(inventory))
    errors = loaded.errors + errors + report.errors
    if report.warnings:         # legal, but probably not meant: said, and validation goes on
        print("\n".join("warning: " + line for line in format_errors(report.warnings, WARNINGS_SHOWN).splitlines()), file=sys.stderr)
    if errors:
        print(f"{inventory}: {len(errors)} error(s)", file=sys.stderr)
        print(format_errors(errors, ERRORS_SHOWN), file=sys.stderr)
        return None, {}
    return hosts, read
