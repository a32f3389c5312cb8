"""`python -m migfleet validate INVENTORY_FILE`: check an inventory without contacting any host."""
from __future__ import annotations

import argparse
import sys

from migfleet.inventory import format_errors, load_inventory_data, validate_inventory


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m migfleet")
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("validate", help="validate an inventory (schema + MIG geometry); no host is contacted")
    check.add_argument("inventory", help="pyinfra inventory file, e.g. inventories/production.py")
    args = parser.parse_args(argv)

    try:
        hosts = load_inventory_data(args.inventory)
    except Exception as e:      # a broken inventory file: say why, no traceback
        print(f"cannot load inventory {args.inventory}: {e}", file=sys.stderr)
        return 1
    errors = validate_inventory(hosts)
    if errors:
        print(f"{args.inventory}: {len(errors)} error(s)", file=sys.stderr)
        print(format_errors(errors), file=sys.stderr)
        return 1
    print(f"{args.inventory}: {len(hosts)} host(s), no errors")
    return 0


if __name__ == "__main__":
    sys.exit(main())
