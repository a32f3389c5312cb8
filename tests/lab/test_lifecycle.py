"""Lab hosts: SSH with host key checking, own identity, systemd, docker, reboot, and a clean down."""
from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import paramiko
import pytest

from lab import SUITE_GPUS, host_number
from lab.host_gpus import models_for_host, parse_spec

REPO = Path(__file__).resolve().parents[2]
STATE_DIR = Path(os.environ.get("MIGFLEET_LAB_DIR", "/var/lib/migfleet-lab"))
INVENTORY = STATE_DIR / "inventory.json"


# ---------------------------------------------------------------- command-line values (no lab needed)

def test_gpu_spec_round_robin_and_counts():
    slots = parse_spec("A100-SXM4-40GB,a100-80gb:2,H100-80GB,NVIDIA H200")
    assert [models_for_host(slots, n) for n in (1, 2, 3, 4, 5)] == [
        ["NVIDIA A100-SXM4-40GB"], ["NVIDIA A100-SXM4-80GB"] * 2, ["NVIDIA H100 80GB HBM3"],
        ["NVIDIA H200"], ["NVIDIA A100-SXM4-40GB"]]


@pytest.mark.parametrize("spec, quoted", [("V100", "'V100'"), ("H100:0", "'H100:0'"), ("H100:x", "'H100:x'"),
                                          ("H100,,A100-40GB", "'H100,,A100-40GB'")])
def test_gpu_spec_errors_quote_the_input(spec, quoted):
    with pytest.raises(ValueError, match=re.escape(quoted)):
        parse_spec(spec)


def test_host_names():
    assert [host_number(x) for x in ("lab-h3", "h3", "3", "mflab-h3", "10.250.0.13")] == [3] * 5
    with pytest.raises(ValueError, match="'lab-x'"):
        host_number("lab-x")


# ---------------------------------------------------------------- a running lab


@pytest.mark.lab
def test_inventory_hand_off(lab):
    inv = lab.inventory
    assert inv["ssh_user"] == "root" and inv["bridge_ip"] == "10.250.0.1"
    assert inv["registry"] == "10.250.0.1:5000" and inv["apt_repo"] == "http://10.250.0.1:8081/"
    for i, host in enumerate(inv["hosts"], start=1):
        assert host == {"name": f"lab-h{i}", "address": f"10.250.0.{10 + i}", "gpu_models": host["gpu_models"]}
        assert host["gpu_models"], host
    if lab.started_here:
        slots = parse_spec(SUITE_GPUS)
        assert [h["gpu_models"] for h in inv["hosts"]] == [models_for_host(slots, n)
                                                          for n in range(1, len(inv["hosts"]) + 1)]
    known = Path(inv["known_hosts"]).read_text().splitlines()
    assert [line.split()[0] for line in known] == [f"{h['name']},{h['address']}" for h in inv["hosts"]]


@pytest.mark.lab
def test_ssh_checks_host_keys(lab, tmp_path):
    for name in lab.names:
        assert lab.ssh(name, "hostname").stdout.strip() == name
    # The same connection with a known_hosts holding another host's key must be refused.
    lines = Path(lab.inventory["known_hosts"]).read_text().splitlines()
    first_names = lines[0].split()[0]
    other_key = " ".join(lines[1].split()[1:]) if len(lines) > 1 else "ssh-ed25519 " + "A" * 68
    wrong = tmp_path / "known_hosts"
    wrong.write_text(f"{first_names} {other_key}\n")
    proc = lab.ssh(lab.names[0], "true", check=False, extra=("-o", f"UserKnownHostsFile={wrong}"))
    assert proc.returncode == 255 and "Host key verification failed" in proc.stderr, proc.stderr


@pytest.mark.lab
def test_paramiko_with_lab_known_hosts(lab):
    host = lab.inventory["hosts"][-1]
    client = paramiko.SSHClient()
    client.load_host_keys(lab.inventory["known_hosts"])
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect(host["address"], username="root", key_filename=lab.inventory["ssh_key"],
                   look_for_keys=False, allow_agent=False, timeout=10)
    try:
        _, out, _ = client.exec_command("cat /etc/hostname")
        assert out.read().decode().strip() == host["name"]
    finally:
        client.close()


@pytest.mark.lab
def test_hosts_have_own_identity(lab):
    seen = {"hostname": set(), "machine-id": set(), "host key": set()}
    for name in lab.names:
        out = lab.ssh(name, "hostname; cat /etc/machine-id; cat /etc/ssh/ssh_host_ed25519_key.pub; "
                            "ls /etc/ssh | grep -c '^ssh_host_' ; ip -4 -o addr show dev eth0").stdout.split("\n")
        hostname, machine_id, pubkey, n_keys, addr = out[:5]
        assert hostname == name
        assert n_keys == "2", f"{name} sees other host keys than its own ed25519 pair"
        address = lab.inventory["hosts"][lab.names.index(name)]["address"]
        assert f" {address}/24 " in addr
        seen["hostname"].add(hostname)
        seen["machine-id"].add(machine_id)
        seen["host key"].add(pubkey.split()[1])
    for what, values in seen.items():
        assert len(values) == len(lab.names), f"{what} not distinct across hosts: {values}"


@pytest.mark.lab
def test_systemd_is_pid1_and_booted(lab):
    for name in lab.names:
        out = lab.ssh(name, "cat /proc/1/comm; systemctl is-system-running", check=False).stdout.split()
        assert out[0] == "systemd"
        assert out[1] in ("running", "degraded"), f"{name}: {out[1]}"


@pytest.mark.lab
def test_hosts_have_no_route_out(lab):
    routes = lab.ssh(lab.names[0], "ip -4 route").stdout
    assert "default" not in routes and "10.250.0.0/24" in routes, routes


@pytest.mark.lab
def test_docker_answers_on_ext4(lab):
    name = lab.names[0]
    out = lab.ssh(name, "docker info --format '{{.Driver}} {{.CgroupDriver}} {{.DockerRootDir}}'; "
                        "findmnt -n -o FSTYPE /var/lib/docker").stdout.split()
    assert out == ["overlay2", "cgroupfs", "/var/lib/docker", "ext4"], out


@pytest.mark.lab
def test_reboot_keeps_disk_drops_tmp_and_processes(lab, lab_cli_run):
    name = lab.names[0]
    token = secrets.token_hex(8)
    before = lab.ssh(name, f"echo {token} > /etc/lab-reboot-token; echo {token} > /tmp/lab-reboot-token; "
                           "systemd-run --quiet --unit=lab-reboot-sleeper sleep 3600; "
                           "ps -o lstart= -p 1").stdout.strip()
    assert lab.ssh(name, "systemctl is-active lab-reboot-sleeper").stdout.strip() == "active"
    time.sleep(1.1)   # systemd start times have a resolution of one second
    lab_cli_run("reboot", name, timeout=180)
    after = lab.ssh(name, "cat /etc/lab-reboot-token; ls /tmp/lab-reboot-token 2>&1; pgrep -x sleep; "
                          "ps -o lstart= -p 1", check=False).stdout.splitlines()
    assert after[0] == token, "a file in /etc did not survive the reboot"
    assert "No such file" in after[1], "/tmp survived the reboot"
    assert after[2] != before and not re.fullmatch(r"\d+", after[2]), "a process survived the reboot"
    assert after[-1] != before, "systemd was not restarted"
    lab.ssh(name, "rm -f /etc/lab-reboot-token")


# ---------------------------------------------------------------- teardown (run last; see conftest)

def leftovers() -> dict:
    """What the lab could leave on the machine, looked up without the lab's own code."""
    def out(*argv: str) -> str:
        return subprocess.run(argv, capture_output=True, text=True).stdout
    found = {
        "netns": [l for l in out("ip", "netns", "list").splitlines() if l.startswith("mflab")],
        "links": re.findall(r"^\d+: (mflab[^:@]*)", out("ip", "-o", "link"), re.M),
        "mounts": [l for l in Path("/proc/mounts").read_text().splitlines()
                   if str(STATE_DIR) in l or "/run/netns/mflab" in l],
        "processes": [l for l in out("pgrep", "-a", "-f", "unshare --mount --uts").splitlines()],
        "loop": [l for l in out("losetup", "-a").splitlines() if str(STATE_DIR) in l],
        "cgroups": [str(p) for p in Path("/sys/fs/cgroup").glob("*/mflab")],
        "state": [str(p) for p in (INVENTORY, STATE_DIR / "hosts", STATE_DIR / "lab.json",
                                   STATE_DIR / "known_hosts", STATE_DIR / "id_ed25519") if p.exists()],
    }
    return {k: v for k, v in found.items() if v}


def _needs_own_lab(lab):
    if not lab.started_here:
        pytest.skip("the lab was up before this session; not taking it down")


@pytest.mark.lab
def test_down_leaves_nothing(lab, lab_cli_run):
    _needs_own_lab(lab)
    assert leftovers(), "the lab is up, so the leftover check must see it"
    lab_cli_run("down", timeout=120)
    assert leftovers() == {}


@pytest.mark.lab
def test_down_after_interrupted_up(lab, lab_cli_run):
    _needs_own_lab(lab)
    proc = subprocess.Popen([sys.executable, "-m", "lab", "up", "--hosts", "2", "--gpus", "H100"], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not (STATE_DIR / "hosts/h2/boot.log").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert (STATE_DIR / "hosts/h2/boot.log").exists(), "up never reached the boot step"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    assert leftovers(), "the interrupted up left nothing to clean, so this test checks nothing"
    lab_cli_run("down", timeout=120)
    assert leftovers() == {}
