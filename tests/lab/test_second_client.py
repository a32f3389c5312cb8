"""NVIDIA's mig-parted as a second, independent client of hosts migfleet converged: it reads the
same layout (export) and agrees with migfleet's own mig-parted export (assert), until a hand change;
and GPU services holding the GPUs are stopped and started again around a reset, while a holder
migfleet may not stop (or nvidia_drm) fails the host, naming it, with nothing changed."""
from __future__ import annotations

import json

import pytest
import yaml

from labtools import REPO, deploy, pyinfra
from migfleet.fleet import migparted_export
from migfleet.mig import smi

pytestmark = pytest.mark.lab


def sh(lab, host: str, command: str, rc: int = 0) -> str:
    proc = lab.ssh(host, command, check=False, timeout=120)
    assert proc.returncode == rc, f"{host}: {command}: rc={proc.returncode}\n{proc.stdout}{proc.stderr}"
    return proc.stdout


def live(lab, host: str):
    return smi.parse_snapshot(sh(lab, host, smi.SNAPSHOT_COMMAND))


@pytest.mark.parametrize("host", ["lab-h1", "lab-h3"])         # 2 x A100-40GB; H100
def test_mig_parted_sees_what_migfleet_applied(deployed, host):
    lab = deployed
    deploy("--limit", host)
    exported = yaml.safe_load(sh(lab, host, "nvidia-mig-parted export 2>/dev/null"))["mig-configs"]["current"]
    gpus = live(lab, host)
    ours = migparted_export.export_configs({"migfleet": migparted_export.host_rules(gpus)})
    # every GPU: the profiles and counts mig-parted reads are those migfleet laid out
    for gpu in gpus.values():
        entry = next(e for e in exported if e["devices"] == "all" or gpu.index in e["devices"])
        counts = {}
        for gi in gpu.gpu_instances:
            counts[gi.name] = counts.get(gi.name, 0) + 1
        assert entry["mig-enabled"] is True and entry["mig-devices"] == counts, (exported, counts)
    sh(lab, host, f"cat > /tmp/migfleet-export.yaml <<'EOF'\n{migparted_export.render_yaml(ours)}\nEOF")
    sh(lab, host, "nvidia-mig-parted assert -f /tmp/migfleet-export.yaml -c migfleet 2>/dev/null")
    gi = next(iter(gpus.values())).gpu_instances[0]
    # by hand: its Triton stopped first (the driver refuses to destroy an instance in use)
    sh(lab, host, f"docker rm -f $(docker ps -aq --filter name='^triton-gpu0-s{gi.start}($|-)') >/dev/null; "
                  f"nvidia-smi mig -i 0 -dci -gi {gi.gi_id} >/dev/null && nvidia-smi mig -i 0 -dgi -gi {gi.gi_id} >/dev/null")
    sh(lab, host, "nvidia-mig-parted assert -f /tmp/migfleet-export.yaml -c migfleet 2>/dev/null", rc=1)
    deploy("--limit", host)
    sh(lab, host, "nvidia-mig-parted assert -f /tmp/migfleet-export.yaml -c migfleet 2>/dev/null")


def mig_off_inventory(tmp_path, host: str):
    path = tmp_path / "lab_off.py"
    path.write_text("import runpy\n"
                    f"_hosts, _data = runpy.run_path({str(REPO / 'inventories' / 'lab.py')!r})['lab']\n"
                    f"lab = ([(n, {{**d, 'mig_layout': [{{'gpus': 'all', 'mig': False}}]}}) if n == {host!r} else (n, d)\n"
                    "        for n, d in _hosts], _data)\n")
    return path


def test_services_holding_the_gpus_are_stopped_and_started_again(deployed, tmp_path):
    lab, host = deployed, "lab-h3"
    deploy("--limit", host)
    sh(lab, host, "nvsim-ctl service install nvidia-persistenced nv-hostengine --enable --start")
    try:
        # MIG off needs a reset: both services hold the GPU, both may be stopped
        deploy("--limit", host, inventory=mig_off_inventory(tmp_path, host))
        assert not next(iter(live(lab, host).values())).mig_current
        assert sh(lab, host, "systemctl is-active nvidia-persistenced nvidia-dcgm").split() == ["active", "active"]
        # a holder migfleet may not stop: the host fails, naming it, and its GPU is not touched
        sh(lab, host, "nvsim-ctl service install fabricmanager --start")
        proc = pyinfra("-y", str(REPO / "inventories" / "lab.py"), "deploy.py", "--limit", host)
        text = proc.stdout + proc.stderr
        assert proc.returncode != 0 and "nvidia-fabricmanager.service holds the GPUs" in text, text[-3000:]
        assert "add it to mig_reset_services" in text
        assert not next(iter(live(lab, host).values())).mig_current
        sh(lab, host, "systemctl stop nvidia-fabricmanager")
        # nvidia_drm holds every GPU: named with the fix, nothing changed
        sh(lab, host, "nvsim-ctl module load nvidia_drm")
        proc = pyinfra("-y", str(REPO / "inventories" / "lab.py"), "deploy.py", "--limit", host)
        assert proc.returncode != 0 and "nvidia_drm is loaded" in proc.stdout + proc.stderr
        assert not next(iter(live(lab, host).values())).mig_current
        sh(lab, host, "nvsim-ctl module unload nvidia_drm")
        deploy("--limit", host)
        assert next(iter(live(lab, host).values())).mig_current
        assert sh(lab, host, "systemctl is-active nvidia-persistenced nvidia-dcgm").split() == ["active", "active"]
    finally:
        sh(lab, host, "systemctl disable --now nvidia-persistenced nvidia-dcgm nvidia-fabricmanager 2>/dev/null; "
                      "nvsim-ctl module unload nvidia_drm 2>/dev/null; true")
        deploy("--limit", host)
