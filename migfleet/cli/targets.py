"""`migfleet targets INVENTORY [-o FILE]`: Prometheus file_sd targets for every host's metrics endpoint."""
from __future__ import annotations

import argparse
import sys

from migfleet.cli import write_output
from migfleet.fleet.targets import TargetsError, render_targets
from migfleet.inventory import InventoryLoadError, format_errors, load_inventory
from migfleet.inventory.errors import cut
from migfleet.inventory.limits import limit_errors
from migfleet.inventory.module_edit import ModuleEditError
from migfleet.inventory.machines import machine_errors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="migfleet targets", description=__doc__.split("\n")[0])
    parser.add_argument("inventory", help="pyinfra inventory file")
    parser.add_argument("-o", "--output", help="write here, whole, in one rename (its folder made if missing; "
                                                 "default: standard output)")
    args = parser.parse_args(argv)
    try:
        loaded = load_inventory(args.inventory)         # the data, and each host's groups for its label
        if loaded.errors:
            raise InventoryLoadError([str(e) for e in loaded.errors])
        hosts = loaded.hosts
        # Values past the size limits, and one machine under two hosts (two targets), before any target.
        problems = [e for name, data in hosts.items() for e in limit_errors(name, data)[0]] + machine_errors(hosts, {})
        if problems:
            print(f"migfleet targets: {args.inventory}: {len(problems)} error(s)\n{format_errors(problems)}",
                  file=sys.stderr)
            return 1
        text = render_targets(hosts, loaded.groups)
    except TargetsError as e:
        print(f"migfleet targets: {cut(str(e), 400)}", file=sys.stderr)
        return 1
    except InventoryLoadError as e:     # an inventory that does not load: say why, no traceback
        print(f"migfleet targets: cannot load {args.inventory}:\n{format_errors(e.problems)}", file=sys.stderr)
        return 1
    try:
        write_output(text, args.output)
    except ModuleEditError as e:        # a folder, or a file that cannot be written: left as it was
        print(f"migfleet targets: {e}", file=sys.stderr)
        return 1
    return 0
