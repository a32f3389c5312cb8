"""Lab fixtures: reuse a lab that is up, or bring the suite's lab up when MIGFLEET_LAB=up (and take
it down at the end of the session unless MIGFLEET_LAB_KEEP=1); `deployed` converges it with migfleet.

The suite's lab: 6 hosts, GPU models round robin (lab-h1 and lab-h4 carry two A100-40GB each), so
the acceptance tests have a multi-GPU host, every model, and enough hosts for canary + batches."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from lab import SUITE_GPUS as GPUS, SUITE_HOSTS as HOSTS
from labtools import deploy

REPO = Path(__file__).resolve().parents[2]
STATE_DIR = Path(os.environ.get("MIGFLEET_LAB_DIR", "/var/lib/migfleet-lab"))
INVENTORY = STATE_DIR / "inventory.json"


def lab_cli(*args: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "lab", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"python -m lab {' '.join(args)} failed (rc={proc.returncode}):\n"
                             f"{proc.stdout}\n{proc.stderr}")
    return proc


def _answers_ssh(address: str) -> bool:
    try:
        with socket.create_connection((address, 22), timeout=2) as s:
            s.settimeout(2)
            return s.recv(8).startswith(b"SSH-")
    except OSError:
        return False


def running_inventory() -> dict | None:
    try:
        inventory = json.loads(INVENTORY.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    if inventory["hosts"] and all(_answers_ssh(h["address"]) for h in inventory["hosts"]):
        return inventory
    return None


@dataclass
class Lab:
    inventory: dict
    started_here: bool      # this session brought it up, so it may also take it down

    @property
    def names(self) -> list[str]:
        return [h["name"] for h in self.inventory["hosts"]]

    def ssh(self, host: str, command: str, timeout: float = 60, check: bool = True,
            extra: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
        argv = ["ssh", "-F", self.inventory["ssh_config"], "-o", "BatchMode=yes", *extra, host, command]
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"{host}: {command!r} failed (rc={proc.returncode}): {proc.stderr.strip()}")
        return proc


@pytest.fixture(scope="session")
def lab():
    if os.geteuid() != 0:
        pytest.skip("the lab needs root")
    inventory = running_inventory()
    if inventory is not None:
        yield Lab(inventory, started_here=False)
        return
    if os.environ.get("MIGFLEET_LAB") != "up":
        pytest.skip(f"no lab is up (run `python -m lab up --hosts {HOSTS} --gpus {GPUS}`, "
                    "or set MIGFLEET_LAB=up)")
    lab_cli("up", "--hosts", str(HOSTS), "--gpus", GPUS)
    inventory = running_inventory()
    assert inventory is not None, "python -m lab up returned but the hosts do not answer SSH"
    yield Lab(inventory, started_here=True)
    if INVENTORY.exists() and os.environ.get("MIGFLEET_LAB_KEEP") != "1":
        lab_cli("down")


@pytest.fixture(scope="session")
def deployed(lab):
    """The lab converged by migfleet. Tests that change it must put it back (deploy again) before
    they return, so the tests after them find a converged lab."""
    deploy()
    return lab


@pytest.fixture(scope="session")
def lab_cli_run():
    """`python -m lab ...` as a subprocess of this interpreter, failing the test on a non-zero exit."""
    return lab_cli


def pytest_collection_modifyitems(config, items):
    """Teardown tests of the lab run after every other test of the session."""
    last = [item for item in items if "test_lifecycle.py::test_down" in item.nodeid]
    items[:] = [item for item in items if item not in last] + last
