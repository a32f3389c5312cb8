"""`migfleet plan INVENTORY [--limit HOST ...] [-- PYINFRA ARGS]`: what a deploy would change.

Runs `pyinfra INVENTORY migfleet.deploys.all.deploy_all --dry` (the same composition as the
repository's deploy.py), or `--deploy FILE` instead; pyinfra's own output and exit status are
passed through. It contacts the hosts (facts are read) but changes nothing. Besides the MIG and
Triton changes it shows each lend (`lend: MODEL loaded into TRITON ... before TRITON stop(s)`: a
model about to lose its last Triton on the host, loaded first into one that stays) and each drain
(`drain: no Triton that stays can take MODEL`: the host's health endpoint answers 503 first).
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys

from migfleet.deploys.all import PYINFRA_TARGET


def pyinfra_executable() -> str:
    """The pyinfra installed beside this Python (the same virtualenv), else the one on PATH."""
    beside = os.path.join(os.path.dirname(sys.executable), "pyinfra")
    return beside if os.access(beside, os.X_OK) else (shutil.which("pyinfra") or "pyinfra")


def command(inventory: str, deploy: str | None, limits: list[str], extra: list[str]) -> list[str]:
    argv = [pyinfra_executable(), inventory, deploy or PYINFRA_TARGET, "--dry"]
    for host in limits:
        argv += ["--limit", host]
    return argv + extra


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:
        extra, argv = argv[argv.index("--") + 1:], argv[:argv.index("--")]
    ap = argparse.ArgumentParser(
        prog="migfleet plan",
        description="Show what a deploy would change, per host and GPU (pyinfra --dry); changes nothing.",
        epilog="Arguments after `--` go to pyinfra unchanged, e.g. `migfleet plan inv.py -- -v`.")
    ap.add_argument("inventory", help="pyinfra inventory file, e.g. inventories/production.py")
    ap.add_argument("--limit", action="append", default=[], metavar="HOST", help="only these hosts (repeatable)")
    ap.add_argument("--deploy", metavar="FILE",
                    help=f"a pyinfra deploy file to plan instead of migfleet's own ({PYINFRA_TARGET})")
    args = ap.parse_args(argv)
    # pyinfra also takes "h1,h2" and "@local" (this machine) in place of a file
    if not os.path.exists(args.inventory) and "," not in args.inventory and args.inventory != "@local":
        print(f"plan: inventory {args.inventory!r} not found", file=sys.stderr)
        return 2
    return subprocess.run(command(args.inventory, args.deploy, args.limit, extra),
                          stdin=subprocess.DEVNULL).returncode
