"""`python -m migfleet drift INVENTORY [--limit HOST ...] [--json]`

MIG drift (each GPU's layout against the inventory) and serving drift (a Triton missing, stopped or
bound elsewhere; Envoy's endpoints differing from the Tritons, or not healthy), one read per host.

Exit 0: no drift; 1: drift found (listed); 2: a host could not be read or the inventory is wrong.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict

from migfleet.cli import hosts_arg
from migfleet.fleet import drift


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m migfleet drift",
                                 description="List hosts whose live MIG or serving state differs from the inventory.")
    hosts_arg.add_arguments(ap)
    ap.add_argument("--json", action="store_true", help="one JSON object per difference")
    args = ap.parse_args(argv)
    hosts = hosts_arg.selected_hosts("drift", args)
    if hosts is None:
        return 2
    found, unreadable = [], 0
    state = drift.read_fleet(hosts)
    for host in hosts:
        live = state[host.name]
        if isinstance(live, Exception):
            print(f"drift: {live}", file=sys.stderr)
            unreadable += 1
            continue
        found += drift.all_drift(host, live)
    if args.json:
        for m in found:
            print(json.dumps(asdict(m)))
    elif found:
        sys.stdout.write(drift.table(found))
    drifted = sorted({m.host for m in found})
    print(f"drift: {len(drifted)} of {len(hosts)} host(s) differ from {args.inventory}"
          + (f" ({', '.join(drifted)})" if drifted else "")
          + (f"; {unreadable} unreadable" if unreadable else ""), file=sys.stderr)
    return 2 if unreadable else (1 if found else 0)
