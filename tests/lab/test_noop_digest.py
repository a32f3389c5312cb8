"""A converged host answers the deploy's read in one line, and every hand change is still seen.

On a thin lab host (`python -m lab up --hosts N --thin`: the simulated driver, no Docker), one field
of the read at a time is changed by hand: a GI destroyed, the boot record, the boot unit's file, the
unit disabled, a file of migfleet's host code, a kernel module holding the GPUs. For each, the deploy
reads the host in full (no "unchanged"), one deploy repairs what migfleet owns, and once the kept
read is the repaired host's again, the host answers short. Drift names the destroyed GI.

On the suite lab (serving: Docker, Tritons, Envoy), the serving cases: a Triton stopped, Envoy's
endpoints emptied, a model file edited; each seen by the deploy (and by drift where drift compares
it: the Tritons and Envoy's endpoints), and repaired by one deploy.

Each test keeps its reads in a cache folder of its own (XDG_CACHE_HOME), so nothing another run
kept is used.
"""
from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import time
import sys
from pathlib import Path

import pytest

from migfleet.mig import smi
from migfleet.serving import endpoints, settings as serving_settings

REPO = Path(__file__).resolve().parents[2]
THIN_DIR = Path(os.environ.get("MIGFLEET_THIN_DIR", "/var/lib/migfleet-thin"))
SHORT = re.compile(r"unchanged [0-9a-f]{64}")
CHANGED = re.compile(r"Grand total\s+(\d+|-)\s+(\d+|-)")


def _run(argv: list[str], cache: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    env.pop("MIGFLEET_LAB_THIN", None)
    return subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=timeout, env=env,
                          stdin=subprocess.DEVNULL)


class Deployer:
    """`pyinfra -y INVENTORY deploy.py --limit HOST -vvv` (the host's answer printed) with the test's cache."""

    def __init__(self, inventory: str, host: str, cache: Path, ssh_config: str):
        self.inventory, self.host, self.cache, self.ssh_config = inventory, host, cache, ssh_config

    def deploy(self) -> tuple[bool, int]:
        """(the host answered short, operations changed)."""
        proc = _run([str(Path(sys.executable).parent / "pyinfra"), "-y", self.inventory, "deploy.py", "--limit",
                     self.host, "-vvv"], self.cache)
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
        answered = [ln for ln in proc.stdout.splitlines() + proc.stderr.splitlines()
                    if self.host in ln and SHORT.search(ln)]
        m = CHANGED.search(proc.stdout + proc.stderr)
        return bool(answered), 0 if m is None or m.group(2) == "-" else int(m.group(2))

    def drift(self) -> subprocess.CompletedProcess:
        return _run([sys.executable, "-m", "migfleet", "drift", self.inventory, "--limit", self.host], self.cache)

    def ssh(self, command: str) -> str:
        proc = subprocess.run(["ssh", "-F", self.ssh_config, "-o", "BatchMode=yes", self.host, command],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, f"{self.host}: {command!r}: {proc.stderr}"
        return proc.stdout

    def settle(self) -> None:
        """Deploys until the host answers short with nothing to change (at most three runs: a repair,
        the repaired host's full read kept, then the short answer)."""
        for _ in range(3):
            short, changed = self.deploy()
            if short and not changed:
                return
        raise AssertionError(f"{self.host} never answered short with nothing to change")


def _thin_up() -> dict | None:
    try:
        inventory = json.loads((THIN_DIR / "inventory.json").read_text())
    except (OSError, ValueError):
        return None
    return inventory if inventory.get("hosts") else None


@pytest.fixture
def thin(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("the lab needs root")
    inventory = _thin_up()
    if inventory is None:
        pytest.skip("no thin lab is up (python -m lab up --hosts N --thin)")
    host = inventory["hosts"][0]["name"]
    return Deployer("inventories/thin.py", host, tmp_path / "cache", str(THIN_DIR / "ssh_config"))


def _first_gi(d: Deployer) -> int:
    return smi.parse_lgi(d.ssh("nvidia-smi mig -lgi"))[0][1].gi_id


THIN_CASES = {
    "a GI destroyed": lambda d: d.ssh(f"nvidia-smi mig -i 0 -dci -gi {_first_gi(d)} >/dev/null && "
                                      f"nvidia-smi mig -i 0 -dgi -gi {_first_gi(d)} >/dev/null"),
    "the boot record edited": lambda d: d.ssh("echo ' ' >> /etc/migfleet/mig-layout.json"),
    "the boot unit's file edited": lambda d: d.ssh("echo '# by hand' >> /etc/systemd/system/migfleet-mig.service"),
    "the boot unit disabled": lambda d: d.ssh("systemctl disable migfleet-mig.service 2>/dev/null"),
    "a file of the host code edited": lambda d: d.ssh("echo '# by hand' >> /usr/local/lib/migfleet/migfleet/sections.py"),
}


def test_a_converged_thin_host_answers_short_and_each_hand_change_is_seen_and_repaired(thin):
    thin.settle()
    for case, tamper in THIN_CASES.items():
        tamper(thin)
        if case == "a GI destroyed":
            found = thin.drift()
            assert found.returncode != 0 and thin.host in found.stdout and "GPU instance" in found.stdout, case
        short, changed = thin.deploy()
        assert not short and changed > 0, case          # seen, and repaired by this one deploy
        short, changed = thin.deploy()
        assert not short and changed == 0, case         # the repaired host, read in full and kept
        short, changed = thin.deploy()
        assert short and changed == 0, case
    assert thin.drift().returncode == 0


def test_a_kernel_module_loaded_by_hand_is_seen_though_nothing_is_changed(thin):
    thin.settle()
    thin.ssh("nvsim-ctl module load nvidia_drm")
    try:
        short, changed = thin.deploy()
        assert not short and changed == 0
        assert thin.deploy() == (True, 0)
    finally:
        thin.ssh("nvsim-ctl module unload nvidia_drm")
    assert thin.deploy() == (False, 0)


# -- the suite lab: serving ------------------------------------------------------------------------

@pytest.fixture
def serving(lab, tmp_path):
    host = next((h["name"] for h in lab.inventory["hosts"] if h["name"] == "lab-h3"), lab.names[0])
    return Deployer("inventories/lab.py", host, tmp_path / "cache", lab.inventory["ssh_config"])


def _eds_path() -> str:
    config_dir = serving_settings.defaults()["envoy_config_dir"].rstrip("/")
    return f"{config_dir}/{endpoints.eds_file(endpoints.HTTP_CLUSTER)}"


def _a_triton(d: Deployer) -> str:
    return d.ssh("docker ps --filter label=migfleet.role=triton --format '{{.Names}}' | sort | head -n 1").strip()


def _a_model_file(d: Deployer) -> str:
    model_dir = serving_settings.defaults()["triton_model_dir"].rstrip("/")
    return d.ssh(f"find {model_dir} -type f -name '*.py' | sort | head -n 1").strip()


SERVING_CASES = {
    "a Triton stopped": (lambda d: d.ssh(f"docker stop -t 5 {_a_triton(d)} >/dev/null"), True),
    # a valid document with no endpoint (Envoy keeps the old endpoints of a document it rejects)
    "Envoy's endpoints emptied": (lambda d: d.ssh(
        f"f={_eds_path()}; printf '%s\\n' {shlex.quote(endpoints.eds_doc(endpoints.HTTP_CLUSTER, [], False))} "
        "> $f.hand && mv $f.hand $f"), True),
    "a model file edited": (lambda d: d.ssh(f"echo '# by hand' >> {_a_model_file(d)}"), False),
}


@pytest.mark.parametrize("case", list(SERVING_CASES))
def test_a_serving_hand_change_is_seen_by_the_deploy_and_drift_and_repaired(serving, case):
    tamper, drift_sees = SERVING_CASES[case]
    serving.settle()
    tamper(serving)
    if drift_sees:         # Envoy loads a changed endpoint file within a few seconds
        deadline = time.monotonic() + 30
        while (found := serving.drift()).returncode == 0 and time.monotonic() < deadline:
            time.sleep(2)
        assert found.returncode != 0 and serving.host in found.stdout, found.stdout
    short, changed = serving.deploy()
    assert not short and changed > 0
    serving.settle()
    assert serving.drift().returncode == 0
