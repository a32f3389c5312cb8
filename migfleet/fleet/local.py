"""`@local`: the machine migfleet runs on, read without SSH.

pyinfra's local connector names this host `@local` (`pyinfra @local deploy.py`, or an inventory
listing "@local"), and runs its commands in subprocesses. The fleet tools do the same: a command
runs through `sh -c` here, and answers as a command over SSH does (exit code, stdout, stderr).
"""
from __future__ import annotations

import socket
import subprocess
from dataclasses import dataclass

NAME = "@local"                 # the one name pyinfra's local connector gives its host
LOOPBACK_ADDRESS = "127.0.0.1"  # where this machine reaches its own listeners
LOCALHOST_NAMES = ("localhost", "localhost.localdomain", "localhost6", "localhost6.localdomain6")


def is_local(name: str) -> bool:
    return name == NAME


@dataclass(frozen=True)
class LocalTarget:
    """This machine, as a fleet target: no address, user or key, nothing to connect to."""
    name: str = NAME
    hostname: str = LOOPBACK_ADDRESS


def run(command: str, timeout: float = 60.0) -> tuple[int, str, str]:
    """Run one command through `sh -c` here; (exit code, stdout, stderr), as over SSH.

    A command past its timeout answers 124 and a shell that cannot start 127, as `timeout(1)`
    and `sh` do, so callers see one kind of failure whichever path ran it.
    """
    try:
        done = subprocess.run(["sh", "-c", command], stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        return 124, "", f"timed out after {timeout:g} s"
    except OSError as exc:
        return 127, "", f"cannot run sh: {exc.strerror or exc}"
    return done.returncode, done.stdout.decode(errors="replace"), done.stderr.decode(errors="replace")


def machine_name() -> str:
    """This machine's name for others to reach it by (a Prometheus scraping its metrics endpoint).

    The fully qualified name when the resolver knows one: a short name resolves elsewhere only
    through a search domain. Where the FQDN lookup only finds a loopback alias (a hostname mapped
    to 127.0.1.1 with `localhost` first, as some images do), the plain hostname is the better name.
    """
    fqdn = socket.getfqdn()
    if fqdn and fqdn not in LOCALHOST_NAMES:
        return fqdn
    return socket.gethostname()
