"""python -m lab up|down|status|ssh|reboot|bare"""
from __future__ import annotations

import argparse
import json
import os
import sys

from . import THIN, host_number
from .host_run import LabError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab", description="migfleet test lab (namespaced hosts)")
    sub = parser.add_subparsers(dest="command", required=True)
    thin = argparse.ArgumentParser(add_help=False)
    thin.add_argument("--thin", action="store_true",
                      help="the thin lab (lab/thin.py): thin-hN hosts with sshd, systemd and the simulated "
                           "driver only, beside the suite lab")
    p_up = sub.add_parser("up", parents=[thin],
                          help="bring the lab up (idempotent; adds/removes hosts to match --hosts)")
    p_up.add_argument("--hosts", type=int, required=True, metavar="N")
    p_up.add_argument("--gpus", metavar="MODEL[:COUNT],...",
                      help="GPU models assigned round robin over hosts (default: the previous value, "
                           "else A100-40GB,A100-80GB,H100)")
    sub.add_parser("down", parents=[thin], help="remove every host, namespace, link, mount, loop device and state")
    p_status = sub.add_parser("status", parents=[thin], help="hosts, addresses, running, SSH answering")
    p_status.add_argument("--json", action="store_true")
    p_ssh = sub.add_parser("ssh", parents=[thin], help="run a command in a host over SSH: ssh HOST -- CMD...")
    p_ssh.add_argument("host")
    p_ssh.add_argument("cmd", nargs=argparse.REMAINDER)
    p_reboot = sub.add_parser("reboot", parents=[thin], help="power a host off (systemd poweroff) and boot it again")
    p_reboot.add_argument("host")
    p_bare = sub.add_parser("bare", help="a host without systemd (netns + sshd only): bare up|down")
    p_bare.add_argument("action", choices=("up", "down"))
    p_bare.add_argument("--gpus", metavar="MODEL[:COUNT],...", help="its simulated GPUs (default H100)")
    args = parser.parse_args(argv)
    if getattr(args, "thin", False) and not THIN:   # the lab's names are chosen at import: start again
        os.execve(sys.executable, [sys.executable, "-m", "lab", *(sys.argv[1:] if argv is None else argv)],
                  {**os.environ, "MIGFLEET_LAB_THIN": "1"})

    if os.geteuid() != 0 and args.command != "status":
        print("lab: needs root (namespaces, mounts, bridge)", file=sys.stderr)
        return 2
    from . import hosts   # after argument checks: `--help` works anywhere
    try:
        if args.command == "up":
            if THIN:
                from . import thin as thin_lab
                inventory = thin_lab.up(args.hosts, args.gpus)
            else:
                inventory = hosts.up(args.hosts, args.gpus)
            print(hosts.INVENTORY)
            for h in inventory["hosts"]:
                print(f"{h['name']}\t{h['address']}\t{', '.join(h['gpu_models'])}")
        elif args.command == "down":
            if THIN:
                from . import thin as thin_lab
                return 1 if thin_lab.down() else 0
            return 1 if hosts.down() else 0
        elif args.command == "status":
            st = hosts.status()
            if args.json:
                print(json.dumps(st, indent=2))
            else:
                print(f"state {st['state_dir']}  bridge {'up' if st['bridge'] else 'absent'}  "
                      f"inventory {st['inventory'] or '-'}")
                for h in st["hosts"]:
                    print(f"{h['name']}\t{h['address']}\t{'running' if h['running'] else 'stopped'}\t"
                          f"ssh {'yes' if h['ssh'] else 'no'}\t{', '.join(h['gpu_models'])}")
        elif args.command == "ssh":
            cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
            if not hosts.SSH_CONFIG.exists():
                raise LabError(f"the lab is not up ({hosts.SSH_CONFIG} is missing); run `python -m lab up`")
            argv_ssh = hosts.ssh_argv(host_number(args.host), cmd, batch=False)
            os.execvp(argv_ssh[0], argv_ssh)
        elif args.command == "bare":
            from . import bare
            if args.action == "up":
                print(json.dumps(bare.up(args.gpus), indent=2))
            else:
                bare.down()
        elif args.command == "reboot":
            n = host_number(args.host)
            took = hosts.reboot(n)
            print(f"{args.host} rebooted in {took:.1f} s")
    except (LabError, ValueError, TimeoutError) as e:
        print(f"lab: {e}", file=sys.stderr)
        return 1
    return 0
