"""`migfleet targets INVENTORY [-o FILE]`: Prometheus file_sd targets for every host's metrics endpoint."""
from __future__ import annotations

import argparse
import sys

from migfleet.cli import write_output
from migfleet.fleet.targets import TargetsError, render_targets
from migfleet.inventory import InventoryLoadError, load_inventory_data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="migfleet targets", description=__doc__.split("\n")[0])
    parser.add_argument("inventory", help="pyinfra inventory file")
    parser.add_argument("-o", "--output", help="write here (default: standard output)")
    args = parser.parse_args(argv)
    try:
        text = render_targets(load_inventory_data(args.inventory))
    except TargetsError as e:
        print(f"migfleet targets: {e}", file=sys.stderr)
        return 1
    except InventoryLoadError as e:     # an inventory that does not load: say why, no traceback
        print(f"migfleet targets: cannot load {args.inventory}:\n{e}", file=sys.stderr)
        return 1
    write_output(text, args.output)
    return 0
