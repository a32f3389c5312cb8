"""Verification and rollout on the suite's lab: canary + batches with a failure threshold and resume,
the spec suite against tampered hosts, export as an inventory, drift after a hand change.

Every test puts the lab back (a deploy of inventories/lab.py) before it returns."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from labtools import REPO, LAB_INVENTORY, deploy, pyinfra

pytestmark = pytest.mark.lab


def migfleet(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "migfleet", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def spec_suite(inventory: Path, *hosts: str, timeout: float = 180) -> subprocess.CompletedProcess:
    limit = ["--hosts-limit", ",".join(hosts)] if hosts else []
    return subprocess.run([sys.executable, "-m", "pytest", "migfleet/spec", "--inventory", str(inventory), *limit,
                           "-q", "-p", "no:cacheprovider", "--tb=short", "-o", "addopts="],
                          cwd=REPO, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def write_inventory(path: Path, per_host: dict[str, dict] | None = None, every_host: dict | None = None) -> Path:
    """inventories/lab.py with data overridden per host (host data beats group data), group `lab` kept."""
    path.write_text(
        "import runpy\n"
        f"_hosts, _group = runpy.run_path({str(LAB_INVENTORY)!r})['lab']\n"
        f"_every, _per = {every_host or {}!r}, {per_host or {}!r}\n"
        "lab = ([(n, {**d, **_every, **_per.get(n, {})}) for n, d in _hosts], _group)\n")
    return path


def gpu_instances(lab, host: str) -> list[dict]:
    """`nvidia-smi mig -lgi` rows of a host: gpu, profile name, profile id, GI id, start, size."""
    out = lab.ssh(host, "nvidia-smi mig -lgi").stdout
    rows = re.findall(r"^\|\s+(\d+)\s+MIG (\S+)\s+(\d+)\s+(\d+)\s+(\d+):(\d+)\s+\|$", out, re.MULTILINE)
    return [dict(zip(("gpu", "name", "profile_id", "gi", "start", "size"), (int(r[0]), r[1], *map(int, r[2:]))))
            for r in rows]


def gpu_uuid(lab, host: str, index: int) -> str:
    return lab.ssh(host, f"nvidia-smi --query-gpu=uuid --format=csv,noheader -i {index}").stdout.strip()


def gpu_ids(lab, host: str, index: int) -> str:
    """How the spec suite names a GPU: PCI bus ID, UUID."""
    out = lab.ssh(host, f"nvidia-smi --query-gpu=pci.bus_id,uuid --format=csv,noheader -i {index}").stdout
    return ", ".join(x.strip() for x in out.split(","))


def destroy_instance(lab, host: str, gi: dict) -> None:
    """Remove the Triton on a GPU instance's MIG device, then its CI and GI, by hand."""
    lab.ssh(host, f"docker rm -f $(docker ps -aq --filter name='^triton-gpu{gi['gpu']}-s{gi['start']}($|-)')")
    lab.ssh(host, f"nvidia-smi mig -i {gi['gpu']} -dci -gi {gi['gi']} && nvidia-smi mig -i {gi['gpu']} "
                  f"-dgi -gi {gi['gi']}")


# ---------------------------------------------------------------- rollout

def rollout_lines(proc: subprocess.CompletedProcess) -> list[str]:
    """The rollout's own lines (the deploy and spec output it echoes start with '    | ')."""
    return [ln for ln in proc.stdout.splitlines() if not ln.startswith("    | ")]


def batch_hosts(lines: list[str]) -> list[list[str]]:
    return [m[1].split(", ") for ln in lines if (m := re.search(r"\] batch \d+/\d+(?: \(canary\))?: (.*)$", ln))]


def test_rollout_stops_at_the_threshold_and_resumes(deployed, tmp_path):
    failing = "lab-h2"          # batch 2 of [h1] [h2 h3] [h4 h5] [h6]
    # First make lab-h2 (an A100: a mode change waits for a reset) need a MIG mode change (MIG off),
    # then refuse its reset: the rollout's deploy must enable MIG, and with mig_reboot_policy "never"
    # the refused reset fails the host.
    off = write_inventory(tmp_path / "mig_off.py", {failing: {"mig_layout": [{"gpus": "all", "mig": False}]}})
    inventory = write_inventory(tmp_path / "rollout_lab.py", every_host={
        "rollout_canary": 1, "rollout_batch_size": 2, "rollout_max_failures": 0, "mig_reboot_policy": "never"})
    state_file = tmp_path / "state" / "rollout-rollout_lab.json"
    converged = False
    try:
        deploy("--limit", failing, inventory=off)
        deployed.ssh(failing, "nvsim-ctl reset-policy refuse")

        first = migfleet("rollout", str(inventory), "--state-dir", str(tmp_path / "state"))
        lines = rollout_lines(first)
        assert first.returncode == 1, first.stdout[-4000:]
        assert batch_hosts(lines) == [["lab-h1"], ["lab-h2", "lab-h3"]], lines
        assert any("STOPPED after batch 2/4: 1 failure(s), more than 0 tolerated" in ln for ln in lines), lines
        named = [ln for ln in lines if ln.startswith(f"failed: {failing}:")]
        assert named and "GPU reset was refused" in named[0], lines
        state = json.loads(state_file.read_text())["hosts"]
        assert {h: s["status"] for h, s in state.items()} == {
            "lab-h1": "converged", "lab-h3": "converged", failing: "failed"}, state
        assert "GPU reset was refused" in state[failing]["reasons"][0], state

        deployed.ssh(failing, "nvsim-ctl reset-policy ok")
        second = migfleet("rollout", str(inventory), "--state-dir", str(tmp_path / "state"))
        lines2 = rollout_lines(second)
        assert second.returncode == 0, second.stdout[-4000:]
        assert "resume: skipping 2 converged host(s)" in lines2, lines2
        assert batch_hosts(lines2) == [[failing], ["lab-h4", "lab-h5"], ["lab-h6"]], lines2
        state2 = json.loads(state_file.read_text())["hosts"]
        assert {h: s["status"] for h, s in state2.items()} == {f"lab-h{i}": "converged" for i in range(1, 7)}
        # hosts converged by the first run are not recorded again (not deployed again)
        assert {h: state2[h] for h in ("lab-h1", "lab-h3")} == {h: state[h] for h in ("lab-h1", "lab-h3")}
        converged = True
    finally:
        deployed.ssh(failing, "nvsim-ctl reset-policy ok", check=False)
        if not converged:
            deploy()


# ---------------------------------------------------------------- spec suite against tampered hosts

def tamper_instance(lab, host):
    gi = next(g for g in gpu_instances(lab, host) if g["name"] == "1g.10gb")
    destroy_instance(lab, host, gi)
    return (f"{host} GPU {gi['gpu']} ({gpu_ids(lab, host, gi['gpu'])}): GPU instance at slice {gi['start']}: expected "
            f"{gi['name']} (ID {gi['profile_id']}) at slice {gi['start']}, found none")


def tamper_triton(lab, host):
    name = lab.ssh(host, "docker ps --format '{{.Names}}' --filter name=^triton-gpu0-").stdout.split()[0]
    lab.ssh(host, f"docker stop -t 5 {name}")
    return f"{host} GPU 0 ({gpu_uuid(lab, host, 0)}): container {name} state: expected running, found exited"


def tamper_envoy(lab, host):
    """Move the first triton_http endpoint to port 1 in the file Envoy reads its endpoints from
    (written beside it and renamed into place, as migfleet does: Envoy reloads it)."""
    path = "/etc/migfleet/envoy/eds-triton_http.json"
    out = lab.ssh(host, "python3 -c 'import json, os, sys; p = sys.argv[1]; d = json.load(open(p)); "
                        'e = d["resources"][0]["endpoints"][0]["lb_endpoints"][0]["endpoint"]; '
                        'print(e["address"]["socket_address"]["port_value"], e["hostname"]); '
                        'e["address"]["socket_address"]["port_value"] = 1; '
                        'open(p + ".t", "w").write(json.dumps(d)); os.replace(p + ".t", p)\' ' + path).stdout.split()
    port, name = out[0], out[1]
    gpu = int(re.fullmatch(r"triton-gpu(\d+)-.*", name)[1])
    return (f"{host} GPU {gpu} ({gpu_uuid(lab, host, gpu)}): Envoy cluster triton_http: expected backend "
            f"127.0.0.1:{port} ({name}), found absent")


@pytest.mark.parametrize("host, tamper", [("lab-h2", tamper_instance), ("lab-h3", tamper_triton),
                                          ("lab-h6", tamper_envoy)], ids=["instance", "triton", "envoy"])
def test_spec_suite_names_tampering(deployed, host, tamper):
    try:
        expected = tamper(deployed, host)
        proc = spec_suite(LAB_INVENTORY, host)
        assert proc.returncode == 1, proc.stdout[-3000:]
        assert expected in proc.stdout, proc.stdout[-5000:]
    finally:
        deploy("--limit", host)
    after = spec_suite(LAB_INVENTORY, host)
    if after.returncode != 0:
        # Leave the lab converged for the tests after this one even when the deploy did not:
        # a recreated Envoy reads the config file the deploy wrote.
        deployed.ssh(host, "docker rm -f migfleet-envoy", check=False)
        deploy("--limit", host)
    assert after.returncode == 0, f"the deploy did not undo the tampering:\n{after.stdout[-3000:]}"


# ---------------------------------------------------------------- export and drift

def test_export_plans_nothing_and_drift_lists_a_hand_change(deployed, tmp_path):
    exported = tmp_path / "exported.py"
    proc = migfleet("export", str(LAB_INVENTORY), "-o", str(exported))
    assert proc.returncode == 0, proc.stderr

    dry = pyinfra(str(exported), "deploy.py", "--dry")
    assert dry.returncode == 0, dry.stdout[-3000:] + dry.stderr[-2000:]
    out = dry.stdout + dry.stderr           # pyinfra logs to stderr
    # nothing to change on any GPU: no MIG operation queued at all
    mig_ops = [ln.strip() for ln in out.splitlines() if re.match(r"\s*Configure MIG \| MIG GPU \d", ln)]
    assert mig_ops == [], out[-4000:]
    drift = migfleet("drift", str(exported))
    assert drift.returncode == 0, drift.stdout + drift.stderr

    host = "lab-h5"
    try:
        gi = next(g for g in gpu_instances(deployed, host) if g["name"] == "2g.20gb")
        destroy_instance(deployed, host, gi)
        deployed.ssh(host, f"nvidia-smi mig -i {gi['gpu']} -cgi 19:{gi['start']} -C")
        uuid = gpu_uuid(deployed, host, gi["gpu"])
        drift = migfleet("drift", str(LAB_INVENTORY), "--json")
        assert drift.returncode == 1, drift.stdout + drift.stderr
        rows = [json.loads(ln) for ln in drift.stdout.splitlines()]
        # the hand change also took a Triton away: serving drift names it; the MIG row is exact
        assert any(r["host"] == host and not r["field"].startswith("GPU instance") for r in rows), rows
        rows = [r for r in rows if r["field"].startswith("GPU instance")]
        assert rows == [{"host": host, "gpu_index": gi["gpu"], "gpu_uuid": uuid,
                         "field": f"GPU instance at slice {gi['start']}",
                         "expected": f"2g.20gb (ID {gi['profile_id']}) at slice {gi['start']}",
                         "found": f"1g.10gb (ID 19) at slice {gi['start']}",
                         "gpu_bus_id": gpu_ids(deployed, host, gi["gpu"]).split(", ")[0]}], rows
        assert f"1 of 6 host(s) differ from {LAB_INVENTORY} ({host})" in drift.stderr
        table = migfleet("drift", str(LAB_INVENTORY))
        assert table.returncode == 1 and re.search(
            rf"^{host}\s+{gi['gpu']}\s+{uuid}\s+GPU instance at slice {gi['start']}\s+2g\.20gb .*1g\.10gb",
            table.stdout, re.MULTILINE), table.stdout
    finally:
        deploy("--limit", host)
    assert migfleet("drift", str(LAB_INVENTORY)).returncode == 0
