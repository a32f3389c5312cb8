"""The lab's driver as NVIDIA's own tools and docs describe it, on an H100 and an A100 host (and every
host, for NVIDIA's named layout). Bring up: `python -m lab up --hosts 4 --gpus H100,A100-40GB,B200,A30`.

- NVIDIA's mig-parted (v0.15, built by lab/migparted.py, reading NVML and PCI sysfs) exports the
  layout made with nvidia-smi (2 x 3g.40gb on the H100, 7 x 1g.5gb on the A100), `assert` passes
  for the equivalent config and fails after a hand change.
- NVIDIA's own named layout `all-balanced` (mig-parted's config-default.yaml), made with nvidia-smi
  on GPU 0 of every lab host, passes mig-parted's `assert`: its device-filter finds the GPU's PCI
  device ID in sysfs and every profile name matches what mig-parted derives from NVML.
- MIG mode by architecture across `python -m lab reboot`: the H100 enables at once and is disabled
  again after the reboot; the A100 waits for a reset and keeps its mode. The mode query migfleet
  reads after a mode change (mig.smi.mig_mode) tells the two apart.
- Reset blockers: a GPU service (nvidia-persistenced, DCGM's nvidia-dcgm.service) makes
  `nvidia-smi --gpu-reset` refuse while `systemctl is-active` says active, and stopping it lets the
  reset pass; a loaded nvidia_drm (seen in `lsmod`) does the same until it is unloaded.

Each host is first stripped of what migfleet put there (its Tritons, migfleet-mig.service) and
put back by a deploy afterwards when there was anything to put back.
"""
from __future__ import annotations

import json
import re
import tarfile

import pytest
import yaml

from labtools import deploy
from lab import migparted
from migfleet.mig import smi

H100 = "NVIDIA H100 80GB HBM3"
A100 = "NVIDIA A100-SXM4-40GB"
BOOT_UNIT = "migfleet-mig.service"
SERVICES = ("nvidia-persistenced.service", "nvidia-dcgm.service")

pytestmark = pytest.mark.lab


def host_with(lab, model: str) -> str:
    for host in lab.inventory["hosts"]:
        if host["gpu_models"] and host["gpu_models"][0] == model:
            return host["name"]
    pytest.fail(f"the lab has no host whose GPU 0 is an {model} (bring it up with --gpus H100,A100-40GB)")


def sh(lab, host: str, command: str, rc: int = 0) -> str:
    proc = lab.ssh(host, command, check=False, timeout=120)
    assert proc.returncode == rc, f"{host}: {command}: rc={proc.returncode}\n{proc.stdout}{proc.stderr}"
    return proc.stdout


def modes(lab, host: str) -> str:
    """GPU 0's MIG mode, read with the query migfleet sends after a Hopper mode change."""
    return sh(lab, host, smi.mig_mode(0)).strip()


def clean_gpu(lab, host: str) -> None:
    """Every GPU of the host with no instances and MIG disabled, whatever the architecture (a
    mig-parted config covers every GPU of a host: the others are asserted MIG-disabled)."""
    sh(lab, host, "nvidia-smi mig -dci >/dev/null; nvidia-smi mig -dgi >/dev/null; "
                  "nvidia-smi -mig 0 >/dev/null; nvidia-smi --gpu-reset >/dev/null")
    assert modes(lab, host) == "Disabled, Disabled"


@pytest.fixture
def bare(lab):
    """bare(host): the host without migfleet's Tritons and boot unit; restored at the end."""
    touched = {}

    def strip(host: str) -> str:
        had_unit = lab.ssh(host, f"systemctl is-enabled {BOOT_UNIT}", check=False).stdout.strip() == "enabled"
        containers = sh(lab, host, "docker ps -aq --filter label=migfleet.role 2>/dev/null || true").split()
        if had_unit:
            sh(lab, host, f"systemctl disable {BOOT_UNIT} 2>/dev/null")
        if containers:
            sh(lab, host, f"docker rm -f {' '.join(containers)} >/dev/null")
        touched[host] = had_unit or bool(containers)
        clean_gpu(lab, host)
        return host

    yield strip
    for host, redeploy in touched.items():
        lab.ssh(host, f"systemctl disable --now {' '.join(SERVICES)} 2>/dev/null; "
                      f"rm -f {' '.join('/etc/systemd/system/' + s for s in SERVICES)}; systemctl daemon-reload; "
                      "nvsim-ctl module unload nvidia_drm 2>/dev/null; true", check=False)
        clean_gpu(lab, host)
        if redeploy:
            lab.ssh(host, f"systemctl enable {BOOT_UNIT}", check=False)
            deploy("--limit", host)


def mig_parted(lab, host: str, args: str, rc: int = 0) -> str:
    # stderr carries go-nvlib's "unable to detect IOMMU FD" warnings, as on hosts without vfio.
    return sh(lab, host, f"nvidia-mig-parted {args} 2>/tmp/mig-parted.err", rc)


def config(device_filter: str, devices: dict) -> str:
    """GPU 0 with `devices`; mig-parted asserts every GPU a config covers, so any other GPU of the
    host (left MIG-disabled by clean_gpu) is covered as MIG-disabled."""
    spec = {"version": "v1", "mig-configs": {"lab": [
        {"device-filter": device_filter, "devices": [0], "mig-enabled": True, "mig-devices": devices},
        {"devices": list(range(1, 8)), "mig-enabled": False}]}}
    return json.dumps(spec)


@pytest.mark.parametrize("model, device_filter, create, profile, count, hand_change", [
    (H100, "0x233010DE", "-cgi 9,9 -C", "3g.40gb", 2, "-dci -gi 1 -ci 0"),
    (A100, "0x20B010DE", "-cgi 19,19,19,19,19,19,19 -C", "1g.5gb", 7, "-dci -gi 13 -ci 0"),
])
def test_mig_parted_reads_the_layout_made_with_nvidia_smi(lab, bare, model, device_filter, create, profile,
                                                          count, hand_change):
    host = bare(host_with(lab, model))
    sh(lab, host, "nvidia-smi -i 0 -mig 1 >/dev/null; nvidia-smi -i 0 --gpu-reset >/dev/null")
    sh(lab, host, f"nvidia-smi mig -i 0 {create} >/dev/null")

    exported = yaml.safe_load(mig_parted(lab, host, "export"))
    entries = exported["mig-configs"]["current"]
    # export names the device filter only where GPUs of several models differ; "all" when one.
    ours = [e for e in entries if e.get("device-filter", device_filter) == device_filter
            and (e["devices"] == "all" or 0 in e["devices"])]
    assert ours and ours[0]["mig-enabled"] is True and ours[0]["mig-devices"] == {profile: count}, exported

    sh(lab, host, f"cat > /tmp/lab-mig.yaml <<'EOF'\n{config(device_filter, {profile: count})}\nEOF")
    mig_parted(lab, host, "assert -f /tmp/lab-mig.yaml -c lab")
    sh(lab, host, f"nvidia-smi mig -i 0 {hand_change} >/dev/null")
    mig_parted(lab, host, "assert -f /tmp/lab-mig.yaml -c lab", rc=1)
    assert "selected configuration not currently applied" in sh(lab, host, "cat /tmp/mig-parted.err")


def nvidia_config_default() -> dict:
    with tarfile.open(migparted.tarball()) as tar:
        return yaml.safe_load(tar.extractfile("mig-parted/deployments/systemd/config-default.yaml").read())


def test_nvidia_balanced_layout_asserts_on_every_model(lab, bare):
    balanced = nvidia_config_default()["mig-configs"]["all-balanced"]
    for host in [h["name"] for h in lab.inventory["hosts"]]:
        bare(host)
        bus_id = sh(lab, host, "nvidia-smi -i 0 --query-gpu=pci.bus_id --format=csv,noheader").strip()
        address = bus_id[4:].lower()                         # 00000000:18:00.0 -> 0000:18:00.0
        device = int(sh(lab, host, f"cat /sys/bus/pci/devices/{address}/device"), 16)
        wanted = f"0x{device:04X}10DE"
        entry = next((e for e in balanced if wanted in (e["device-filter"] if isinstance(e["device-filter"], list)
                                                          else [e["device-filter"]])), None)
        assert entry, f"{host}: no all-balanced entry in NVIDIA's config for device {wanted}"
        sh(lab, host, "nvidia-smi -i 0 -mig 1 >/dev/null; nvidia-smi -i 0 --gpu-reset >/dev/null")
        # Largest first, as an operator would, so each finds a placement.
        for name, count in sorted(entry["mig-devices"].items(), key=lambda kv: -int(kv[0][0])):
            sh(lab, host, f"nvidia-smi mig -i 0 -cgi {','.join([name] * count)} -C >/dev/null")
        sh(lab, host, f"cat > /tmp/lab-mig.yaml <<'EOF'\n{config(wanted, entry['mig-devices'])}\nEOF")
        mig_parted(lab, host, "assert -f /tmp/lab-mig.yaml -c lab")


def test_mig_mode_by_architecture_across_reboot(lab, bare, lab_cli_run):
    hopper, ampere = bare(host_with(lab, H100)), bare(host_with(lab, A100))
    assert "Enabled MIG Mode for GPU" in sh(lab, hopper, "nvidia-smi -i 0 -mig 1")
    assert modes(lab, hopper) == "Enabled, Enabled"
    assert smi.parse_mig_mode(modes(lab, hopper)) == (True, True)     # in effect: migfleet resets nothing
    out = sh(lab, ampere, "nvidia-smi -i 0 -mig 1")
    assert re.search(r"pending enable state for GPU \S+:Not Supported", out), out
    assert modes(lab, ampere) == "Disabled, Enabled"
    assert smi.parse_mig_mode(modes(lab, ampere)) == (False, True)    # pending: a reset is needed
    sh(lab, ampere, "nvidia-smi -i 0 --gpu-reset >/dev/null")
    sh(lab, hopper, "nvidia-smi mig -i 0 -cgi 9 -C >/dev/null")
    sh(lab, ampere, "nvidia-smi mig -i 0 -cgi 9 -C >/dev/null")

    for host in (hopper, ampere):
        lab_cli_run("reboot", host)
    assert modes(lab, hopper) == "Disabled, Disabled"           # Hopper: lost with the driver
    assert modes(lab, ampere) == "Enabled, Enabled"             # Ampere: kept in the InfoROM
    assert sh(lab, ampere, "nvidia-smi mig -lgi", rc=6) == "No GPU instances found: Not Found\n"
    # The sysfs devices come back with the boot unit, so NVIDIA's tools still find the GPUs.
    assert sh(lab, hopper, "cat /sys/bus/pci/devices/0000:18:00.0/device").strip() == "0x2330"


def test_gpu_services_block_reset_until_stopped(lab, bare):
    host = bare(host_with(lab, H100))
    sh(lab, host, "nvsim-ctl service install nvidia-persistenced nv-hostengine --enable --start >/dev/null")
    assert sh(lab, host, f"systemctl is-active {' '.join(SERVICES)}").split() == ["active", "active"]
    out = sh(lab, host, "nvidia-smi --gpu-reset -i 0", rc=255)
    assert re.search(r"GPU \S+: In use by another client", out), out
    out = sh(lab, host, "nvidia-smi -i 0 -mig 1")                # Hopper too waits for an idle GPU
    assert "In use by another client" in out and modes(lab, host) == "Disabled, Enabled"

    sh(lab, host, "systemctl stop nvidia-dcgm.service")
    sh(lab, host, "nvidia-smi --gpu-reset -i 0", rc=255)          # nvidia-persistenced still holds it
    sh(lab, host, "systemctl stop nvidia-persistenced.service")
    assert sh(lab, host, f"systemctl is-active {' '.join(SERVICES)}", rc=3).split() == ["inactive", "inactive"]
    assert "successfully reset" in sh(lab, host, "nvidia-smi --gpu-reset -i 0")
    assert modes(lab, host) == "Enabled, Enabled"


def test_nvidia_drm_blocks_reset_until_unloaded(lab, bare):
    host = bare(host_with(lab, A100))
    sh(lab, host, "nvsim-ctl module load nvidia_drm")
    assert re.search(r"^nvidia_drm\s+\d+\s+0$", sh(lab, host, "lsmod"), re.M)
    out = sh(lab, host, "nvidia-smi --gpu-reset -i 0", rc=255)
    assert re.search(r"GPU \S+: In use by another client", out), out
    sh(lab, host, "nvsim-ctl module unload nvidia_drm")
    assert "nvidia_drm" not in sh(lab, host, "lsmod")
    assert "successfully reset" in sh(lab, host, "nvidia-smi --gpu-reset -i 0")
