"""The INVENTORY and --limit arguments of the commands that read live hosts (drift, export), and the
hosts they select: loaded the way the deploy loads them, or one line on stderr naming what is wrong."""
from __future__ import annotations

import argparse
import sys

from migfleet.fleet import ssh as fleet


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("inventory")
    ap.add_argument("--limit", action="append", metavar="HOST", help="only these hosts (repeatable)")


def selected_hosts(command: str, args: argparse.Namespace) -> list[fleet.FleetHost] | None:
    """The inventory's hosts, those of --limit only where given; None once the error is printed
    (`<command>: <what>`), for the command to exit 2."""
    try:
        return fleet.select(fleet.load_inventory(args.inventory), args.limit)
    except fleet.FleetError as exc:
        print(f"{command}: {exc}", file=sys.stderr)
        return None
