"""`python -m migfleet validate|rollout|export|drift ...`."""
from __future__ import annotations

import argparse
import sys

from migfleet.inventory import format_errors, load_inventory_data, validate_inventory

USAGE = """python -m migfleet COMMAND ...

  validate INVENTORY   check schema + MIG geometry of every host; contacts no host
  rollout INVENTORY    canary, then batches, spec-checked, with a failure threshold
  export INVENTORY     print the live MIG layouts in the inventory's format
  drift INVENTORY      list hosts whose live MIG state differs from the inventory
"""


def validate(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m migfleet validate")
    parser.add_argument("inventory", help="pyinfra inventory file, e.g. inventories/production.py")
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


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE, end="")
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command == "validate":
        return validate(rest)
    if command == "rollout":
        from migfleet.cli.rollout import main as run
    elif command == "export":
        from migfleet.cli.export import main as run
    elif command == "drift":
        from migfleet.cli.drift import main as run
    else:
        print(f"unknown command {command!r}\n\n{USAGE}", end="", file=sys.stderr)
        return 2
    return run(rest)


if __name__ == "__main__":
    sys.exit(main())
