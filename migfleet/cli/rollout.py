"""`python -m migfleet rollout INVENTORY [--limit HOST ...] [--trust-state] [--state-dir DIR] [-- PYINFRA ARGS]`

Canary, then batches (rollout_* data, migfleet/schemas/rollout.v1.json): each batch is deployed with
`pyinfra -y INVENTORY migfleet.deploys.all.deploy_all --limit ...` (or `--deploy FILE`) and proven
with `pytest migfleet/spec`. `@local` in the inventory is this machine, deployed and checked here. Progress and
per-host results are printed; the state file (.migfleet/rollout-<inventory>.json) lets a re-run
resume. Exit 0 when every host converged, 1 otherwise, 2 on a bad inventory.
"""
from __future__ import annotations

import argparse
import sys

from migfleet.cli.plan import pyinfra_executable
from migfleet.deploys.all import PYINFRA_TARGET
from migfleet.fleet import ssh as fleet
from migfleet.fleet import rollout
from migfleet.inventory import rollout_settings


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:
        extra = argv[argv.index("--") + 1:]
        argv = argv[:argv.index("--")]
    ap = argparse.ArgumentParser(prog="python -m migfleet rollout",
                                 description="Canary then batches, with a failure threshold.")
    ap.add_argument("inventory")
    ap.add_argument("--limit", action="append", metavar="HOST", help="only these hosts (repeatable)")
    ap.add_argument("--deploy", default=PYINFRA_TARGET,
                    help=f"pyinfra deploy file (default: migfleet's own, {PYINFRA_TARGET})")
    ap.add_argument("--state-dir", default=".migfleet")
    ap.add_argument("--trust-state", action="store_true",
                    help="skip hosts recorded converged without running their spec again")
    ap.add_argument("--restart", action="store_true", help="forget the recorded state and start over")
    args = ap.parse_args(argv)
    try:
        hosts = fleet.select(fleet.load_inventory(args.inventory), args.limit)
        settings = rollout_settings.settings_from_data({h.name: h.data for h in hosts})
    except (fleet.FleetError, rollout.RolloutError) as exc:
        print(f"rollout: {exc}", file=sys.stderr)
        return 2
    state_file = rollout.state_path(args.inventory, args.state_dir)
    if args.restart:
        state_file.unlink(missing_ok=True)
    pyinfra = pyinfra_executable()
    runner = rollout.Rollout(inventory=args.inventory, hosts=[h.name for h in hosts], settings=settings,
                             state_file=state_file, deploy_file=args.deploy, pyinfra=(pyinfra,),
                             pyinfra_args=tuple(extra), report_dir=state_file.parent,
                             trust_state=args.trust_state, out=lambda s: print(s, flush=True))
    return 0 if runner.run() else 1
