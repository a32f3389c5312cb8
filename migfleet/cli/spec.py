"""`migfleet spec INVENTORY [PYTEST ARGS ...]`: prove each host is what the inventory says.

Runs the spec suite of the installed package (migfleet/spec) through pytest, as
`pytest migfleet/spec --inventory INVENTORY` does in a checkout: the same tests, the same node IDs
(`migfleet/spec/test_mig.py::...`, the rootdir being the folder that holds the package), the same
`-ra` summary, and pytest's exit status. No configuration file of the working folder or above the
package takes part (`-c /dev/null`), and pytest writes no cache into the package.
Arguments after the inventory go to pytest: `-k`, `--hosts-limit H1,H2`, `--junitxml FILE`, `-x`, ...
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import migfleet

PACKAGE = Path(migfleet.__file__).resolve().parent
SUITE = PACKAGE / "spec"
# What the checkout's pytest.ini adds to every run (its other settings concern the unit tests).
CHECKOUT_OPTIONS = ("-ra",)


def pytest_argv(inventory: str, extra: list[str]) -> list[str]:
    # The value joined to its option: pytest reads a lone argument starting with "@" (@local) as a
    # file of arguments.
    return [sys.executable, "-m", "pytest", str(SUITE), f"--inventory={inventory}", f"--rootdir={PACKAGE.parent}",
            f"--confcutdir={PACKAGE.parent}",
            "-c", os.devnull, "-p", "no:cacheprovider", *CHECKOUT_OPTIONS, *extra]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="migfleet spec", description="Run the spec suite (testinfra) against every host of an inventory: "
        "prove each host is what it says. Arguments after the inventory go to pytest.",
        epilog="e.g. `migfleet spec inventories/production.py --hosts-limit gpu-01 -x`, "
               "`migfleet spec inventories/production.py --collect-only -q`")
    parser.add_argument("inventory", help="pyinfra inventory file (or @local)")
    parser.add_argument("pytest_args", nargs=argparse.REMAINDER, help="passed to pytest unchanged")
    args = parser.parse_args(argv)
    # The inventory is loaded here first: a broken one is said in migfleet's words, not as a pytest
    # collection error with a traceback.
    from migfleet.inventory import InventoryLoadError, format_errors, load_inventory_data
    from migfleet.inventory.limits import limit_errors
    from migfleet.inventory.machines import machine_errors
    try:
        hosts = load_inventory_data(args.inventory)
    except InventoryLoadError as e:
        print(f"migfleet spec: cannot load {args.inventory}:\n{format_errors(e.problems)}", file=sys.stderr)
        return 1
    # Host names become test IDs and SSH targets: names that are no host names, one machine under two
    # names, and values past the size limits are refused here, as `targets` refuses them.
    problems = [e for name, data in hosts.items() for e in limit_errors(name, data)[0]] + machine_errors(hosts, {})
    if problems:
        print(f"migfleet spec: {args.inventory}: {len(problems)} error(s)\n{format_errors(problems)}", file=sys.stderr)
        return 1
    return subprocess.run(pytest_argv(args.inventory, args.pytest_args), stdin=subprocess.DEVNULL).returncode
