"""`python -m migfleet export INVENTORY [--limit HOST ...] [--format python|json|yaml|mig-parted] [--per-gpu]`

Prints the live hosts' MIG layouts as `mig_layout` rules with explicit placements. The python
form is a complete inventory (connection data kept): deploying it plans no MIG change. The
mig-parted form is an NVIDIA mig-parted config with one named config per host (GPUs by index,
placements left to mig-parted).
"""
from __future__ import annotations

import argparse
import sys

from migfleet.cli import hosts_arg, write_output
from migfleet.fleet import drift
from migfleet.fleet import export
from migfleet.fleet import migparted_export
from migfleet.fleet import ssh as fleet
from migfleet.inventory.module_edit import ModuleEditError
from migfleet.serving import settings as serving_settings
from migfleet.serving import triton


def _served_models(hosts) -> dict[str, dict]:
    """{host: {GPU UUID: {GI start: models ready}}}, from one more read of each host (drift's)."""
    out = {}
    for name, live in drift.read_fleet(hosts).items():
        if not isinstance(live, Exception):
            host = next(h for h in hosts if h.name == name)
            tritons = triton.live_specs(live.gpus, serving_settings.resolve(host.data))
            out[name] = export.live_models(tritons, live.models)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m migfleet export",
                                 description="Print live MIG layouts in the inventory's format.")
    hosts_arg.add_arguments(ap)
    ap.add_argument("--format", choices=("python", "json", "yaml", "mig-parted"), default="python")
    ap.add_argument("--per-gpu", action="store_true",
                    help="one rule per GPU (by UUID) even when all GPUs of a host match")
    ap.add_argument("--models", action="store_true",
                    help="also ask each Triton which models it has ready, and list them per instance")
    ap.add_argument("-o", "--output", help="write here instead of stdout")
    args = ap.parse_args(argv)
    hosts = hosts_arg.selected_hosts("export", args)
    if hosts is None:
        return 2
    snapshots = drift.read_all(hosts)
    served = _served_models(hosts) if args.models else {}
    layouts, failed = {}, 0
    for host in hosts:
        live = snapshots[host.name]
        try:
            if isinstance(live, Exception):
                raise live
            layouts[host.name] = (migparted_export.host_rules(live, compact=not args.per_gpu)
                                  if args.format == "mig-parted" else
                                  export.host_layout(live, compact=not args.per_gpu, models=served.get(host.name)))
            for w in export.warnings(host.name, live):
                print(f"export: warning: {w}", file=sys.stderr)
        except (fleet.FleetError, export.ExportError, migparted_export.MigPartedError) as exc:
            print(f"export: {exc}" if isinstance(exc, fleet.FleetError) else f"export: {host.name}: {exc}",
                  file=sys.stderr)
            failed += 1
    if failed:
        print(f"export: {failed} host(s) not exported; nothing written", file=sys.stderr)
        return 2
    try:
        if args.format == "mig-parted":
            text = migparted_export.render_yaml(migparted_export.export_configs(layouts))
        elif args.format == "json":
            text = export.render_json(layouts)
        elif args.format == "yaml":
            text = export.render_yaml(layouts)
        else:
            text = export.render_python([(h.name, h.data, layouts[h.name]) for h in hosts], args.inventory)
    except (export.ExportError, migparted_export.MigPartedError) as exc:
        print(f"export: {exc}", file=sys.stderr)
        return 2
    try:
        write_output(text, args.output)
    except ModuleEditError as exc:      # -o onto a folder, or a file that cannot be written
        print(f"export: {exc}", file=sys.stderr)
        return 2
    return 0
