"""The `migfleet` command: one subcommand per task, each with its own --help.

Subcommand modules are imported only when run, so `migfleet --help` and `migfleet validate`
do not pull in paramiko or pyinfra's CLI.
"""
from __future__ import annotations

import importlib
import sys

import migfleet

# name -> (module holding main(argv), one-line summary for the usage text)
COMMANDS: dict[str, tuple[str, str]] = {
    "validate": ("migfleet.cli.validate", "check schema + MIG geometry of every host; contacts no host"),
    "plan": ("migfleet.cli.plan", "what a deploy would change, per host and GPU (pyinfra --dry)"),
    "rollout": ("migfleet.cli.rollout", "canary, then batches, spec-checked, with a failure threshold"),
    "export": ("migfleet.cli.export", "print the live MIG layouts (inventory form, or a mig-parted config)"),
    "drift": ("migfleet.cli.drift", "list hosts whose live MIG or serving state differs from the inventory"),
    "import": ("migfleet.cli.importer", "turn a mig-parted config into a group_data module (mig_layout)"),
    "advise": ("migfleet.cli.advise", "propose MIG layouts and models per instance from measured demand; applies nothing"),
    "targets": ("migfleet.cli.targets", "Prometheus file_sd targets for every host's metrics endpoint"),
    "measure": ("migfleet.cli.measure", "measure a canary GPU's profiles and models into a capacity table (version 2)"),
    "spec": ("migfleet.cli.spec", "run the spec suite: prove each host is what the inventory says (pytest)"),
}


def write_output(text: str, path: str | None) -> None:
    """A command's result: to the file given with -o (its folder made if missing, replaced whole in
    one rename; ModuleEditError naming it when it is a folder or cannot be written), else to stdout."""
    if path:
        from migfleet.inventory.module_edit import write_file
        write_file(path, text)
    else:
        sys.stdout.write(text)


def usage() -> str:
    width = max(len(name) for name in COMMANDS)
    lines = ["usage: migfleet [--version] COMMAND [ARGS ...]", "",
             "MIG-partitioned NVIDIA GPU fleets with pyinfra. Commands:", ""]
    lines += [f"  {name.ljust(width)}  {summary}" for name, (_, summary) in COMMANDS.items()]
    lines += ["", "`migfleet COMMAND --help` describes each command."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        sys.stderr.write(usage())
        return 2
    if argv[0] in ("-h", "--help"):
        sys.stdout.write(usage())
        return 0
    if argv[0] == "--version":
        print(f"migfleet {migfleet.__version__}")
        return 0
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        sys.stderr.write(f"migfleet: unknown command {command!r}\n\n{usage()}")
        return 2
    run = importlib.import_module(COMMANDS[command][0]).main
    return run(rest)
