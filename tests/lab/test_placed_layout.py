"""One placed layout (issue scenario, on an H100 host): 2 x 3g.40gb -> 1 x 3g.40gb + 3 x 1g.10gb keeps
the 3g.40gb where it is; the spec suite and drift pass at once; after a reboot the same
placements come back (replayed from the boot record, not re-fitted), every Triton serves, the
spec suite passes and the next deploy changes nothing."""
from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from labtools import LAB_INVENTORY, REPO, deploy, pyinfra
from migfleet.mig import placed, smi

pytestmark = pytest.mark.lab
HOST = "lab-h3"         # NVIDIA H100 80GB HBM3, 2 x 3g.40gb in group_data/lab.py


def layout(lab):
    gpu = next(iter(smi.parse_snapshot(lab.ssh(HOST, smi.SNAPSHOT_COMMAND, timeout=30).stdout).values()))
    return placed.live(gpu)


def spec_and_drift(inventory) -> None:
    spec = subprocess.run([sys.executable, "-m", "pytest", "-q", "migfleet/spec", "--inventory", str(inventory),
                           "--hosts-limit", HOST], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert spec.returncode == 0, spec.stdout[-4000:]
    drift = subprocess.run([sys.executable, "-m", "migfleet", "drift", str(inventory)], cwd=REPO,
                           capture_output=True, text=True, timeout=120)
    assert drift.returncode == 0, drift.stdout + drift.stderr


def test_kept_instance_stays_and_the_reboot_restores_the_same_places(deployed, tmp_path, lab_cli_run):
    lab = deployed
    inventory = tmp_path / "lab_mixed.py"
    inventory.write_text(
        "import runpy\n"
        f"_hosts, _data = runpy.run_path({str(REPO / 'inventories' / 'lab.py')!r})['lab']\n"
        "_rule = {'gpus': 'all', 'instances': [{'profile': '3g.40gb', 'count': 1}, {'profile': '1g.10gb', 'count': 3}]}\n"
        f"lab = ([(n, {{**d, 'mig_layout': [_rule]}}) if n == {HOST!r} else (n, d) for n, d in _hosts], _data)\n")
    deploy("--limit", HOST)
    before = layout(lab)
    assert sorted((g.profile_id, g.start) for g in before.gis) == [(9, 0), (9, 4)]
    try:
        deploy("--limit", HOST, inventory=inventory)
        after = layout(lab)
        kept = [g for g in after.gis if g.profile_id == 9]
        assert len(kept) == 1 and kept[0] in before.gis, after          # the 3g.40gb did not move
        assert sorted(g.profile_id for g in after.gis) == [9, 19, 19, 19]
        spec_and_drift(inventory)

        lab_cli_run("reboot", HOST, timeout=120)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if layout(lab) == after:
                    break
            except (AssertionError, ValueError, smi.ParseError):
                pass                                                        # still booting
            time.sleep(1)
        assert layout(lab) == after, "the reboot did not restore the recorded places"
        record = json.loads(lab.ssh(HOST, "cat /etc/migfleet/mig-layout.json").stdout)
        assert placed.GpuLayout.from_json(record["gpus"][0]["layout"]) == after
        while time.monotonic() < deadline:                                  # Tritons re-bound and ready
            if lab.ssh(HOST, "systemctl is-active migfleet-tritons.service", check=False).stdout.strip() == "active":
                break
            time.sleep(1)
        spec_and_drift(inventory)
        proc = pyinfra("-y", "--json", str(inventory), "deploy.py", "--limit", HOST, timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]
        changed = [op["name"] for op in json.loads(proc.stdout)["results"]["operations"] if op["success"]]
        assert changed == [], changed
    finally:
        deploy("--limit", HOST, inventory=LAB_INVENTORY)
