"""The MIG engine against the 6-host suite lab, starting converged (`pyinfra --json` results, and the
simulated driver's state files read with `nvsim-ctl show` before and after).

States and messages pinned here:
- converged re-run: no operation changes anything on any host; every GPU's nvsim state (modes,
  GI/CI ids, MIG UUIDs, creation counter) is identical, so no changing nvidia-smi command ran.
- one GPU's layout changed (lab-h4 GPU 1: 7 x 1g.5gb -> 3 x 2g.10gb + 1 x 1g.5gb): `--dry` plans
  a change on lab-h4 only, exactly one MIG GPU operation changes ("MIG GPU 1 (...): destroy 6 CIs,
  destroy 6 GIs, create 3 x 2g.10gb": the 1g.5gb at slice 6 stays) and nothing is sent; the apply changes that GPU
  only (lab-h4 GPU 0 and every other host keep their MIG UUIDs and Triton containers).
- reset refused, mig_reboot_policy "never", layout needing a mode change (MIG off on lab-h2, an
  A100-80GB): lab-h2 ends with MIG mode Enabled, pending Disabled, no GPU instance, no Triton; the
  deploy exits non-zero naming the GPU and "GPU reset was refused and mig_reboot_policy is
  'never'; reboot the host to make MIG mode Disabled effective"; every other host converges.
- reset refused, mig_reboot_policy "if_reset_fails" (lab-h2, an A100, from MIG disabled): the
  host reboots ("reset refused (...); rebooting"), migfleet-mig.service builds the layout at boot
  and the deploy ends converged.
- a foreign process on an instance a layout change would destroy: the host fails with "used by
  PID <pid> (<name>); stop them or set mig_force to go ahead" and "host left untouched", nothing
  on the host changes; with mig_force the process is stopped and the layout applied.
- MIG mode by architecture, from MIG disabled (lab-h3, an H100; lab-h2, an A100-80GB): `--dry`
  names the H100's change "enable MIG (Hopper: effective at once when idle; reset only if it stays
  pending)" and the A100's "enable MIG, then reset the GPU (Ampere)"; applied, every nvidia-smi
  command line the H100 host was given (logged by a wrapper in front of the simulator's nvidia-smi,
  which keeps no log of its own) has `-mig 1` and the mode query but no `--gpu-reset`, and so has
  its boot replay after a reboot; the A100 host's has `--gpu-reset`.
"""
from __future__ import annotations

import json
import re
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest

from labtools import LAB_INVENTORY, deploy, pyinfra
from migfleet.mig import smi
from migfleet.serving import triton
from migfleet.serving.containers import LABEL_GPU_UUID, LABEL_ROLE

pytestmark = pytest.mark.lab

SEVEN_1G = {"instances": [{"profile": "1g.5gb", "count": 7}]}
THREE_2G_ONE_1G = {"instances": [{"profile": "2g.10gb", "count": 3}, {"profile": "1g.5gb", "count": 1}]}
H4_CHANGED = {"mig_layout": [{"gpus": [0], **SEVEN_1G}, {"gpus": [1], **THREE_2G_ONE_1G}]}


# ---------------------------------------------------------------- helpers

def nvsim_gpus(lab, host: str) -> dict[str, dict]:
    """The simulated driver's state of each GPU of a host (processes are kept apart by nvsim)."""
    return {g["uuid"]: g for g in json.loads(lab.ssh(host, "nvsim-ctl show").stdout)["gpus"]}


def all_gpus(lab) -> dict[str, dict[str, dict]]:
    with ThreadPoolExecutor(max_workers=len(lab.names)) as pool:
        return dict(zip(lab.names, pool.map(lambda h: nvsim_gpus(lab, h), lab.names)))


def mig_uuids(gpu: dict) -> list[str]:
    return sorted(ci["uuid"] for gi in gpu["gpu_instances"] for ci in gi["compute_instances"])


def layout(gpu: dict) -> list[tuple[int, int]]:
    return sorted((gi["profile_id"], gi["start"]) for gi in gpu["gpu_instances"])


def by_index(gpus: dict[str, dict], index: int) -> dict:
    return next(g for g in gpus.values() if g["index"] == index)


def inventory_with(tmp_path: Path, overrides: dict[str, dict]) -> Path:
    """inventories/lab.py with some hosts' data overridden (host data beats group_data/lab.py)."""
    path = tmp_path / "lab_override.py"
    path.write_text(
        "import runpy\n"
        f"_hosts, _data = runpy.run_path({str(LAB_INVENTORY)!r})['lab']\n"
        f"_over = {overrides!r}\n"
        "lab = ([(n, {**d, **_over.get(n, {})}) for n, d in _hosts], _data)\n")
    return path


class Run:
    def __init__(self, proc):
        self.proc, self.rc, self.log = proc, proc.returncode, proc.stderr
        # pyinfra prints no JSON when every host failed ("No hosts remaining!")
        if proc.returncode != 0 and "No hosts remaining!" in proc.stderr:
            self.json = None
            return
        try:
            self.json = json.loads(proc.stdout)
        except json.JSONDecodeError:
            raise AssertionError(f"pyinfra --json printed no JSON (rc={proc.returncode}):\n"
                                 f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}") from None

    def __str__(self):
        return f"rc={self.rc}\n{self.log[-6000:]}"

    def changed(self) -> dict[str, list[str]]:
        """Operation name -> hosts it changed (executed) or would change (--dry)."""
        if self.json.get("results"):
            ops = self.json["results"]["operations"]
            return {op["name"]: op["success"] for op in ops if op["success"]}
        # Operations behind an `_if` (reloads, restarts) are listed as conditional on every host.
        return {op["name"]: op["hosts_with_change"] for op in self.json["plan"] if op["hosts_with_change"]}

    def errors(self) -> dict[str, list[str]]:
        return {op["name"]: op["error"] for op in self.json["results"]["operations"] if op["error"]}

    def ran_on(self, name_part: str) -> set[str]:
        return {h for op in self.json["results"]["operations"] if name_part in op["name"]
                for h in op["success"] + op["no_change"]}


def run(*args: str, inventory: Path = LAB_INVENTORY) -> Run:
    # -y skips pyinfra's change detection, which --dry needs to report changes.
    yes = () if "--dry" in args else ("-y",)
    return Run(pyinfra(*yes, "--json", str(inventory), "deploy.py", *args, timeout=300))


def tritons_on(lab, host: str, gpu_uuid: str) -> list[str]:
    out = lab.ssh(host, f"docker ps -q --no-trunc --filter label={LABEL_ROLE}={triton.ROLE} "
                        f"--filter label={LABEL_GPU_UUID}={gpu_uuid}").stdout
    return sorted(out.split())


def to_mig_disabled(lab, host: str) -> None:
    """By hand, as an operator would: no Tritons, no instances, MIG mode Disabled."""
    lab.ssh(host, f"ids=$(docker ps -aq --filter label={LABEL_ROLE}={triton.ROLE}); "
                  '[ -z "$ids" ] || docker rm -f $ids >/dev/null; '
                  "nvidia-smi mig -dci >/dev/null; nvidia-smi mig -dgi >/dev/null; "
                  "nvidia-smi -mig 0 >/dev/null && nvidia-smi --gpu-reset >/dev/null")
    assert all(not g["mig_current"] and not g["mig_pending"] for g in nvsim_gpus(lab, host).values())


@pytest.fixture
def restore(deployed):
    """Hosts a test touched: reset policy back to ok, foreign processes stopped, then deployed."""
    touched: dict[str, list[int]] = {}
    yield deployed, touched
    for host, pids in touched.items():
        kill = "".join(f"kill -9 {pid} 2>/dev/null; " for pid in pids)
        deployed.ssh(host, f"{kill}nvsim-ctl reset-policy ok", check=False)
    if touched:
        deploy(*(arg for host in touched for arg in ("--limit", host)))     # one --limit per host


# ---------------------------------------------------------------- tests

def test_rerun_on_a_converged_lab_changes_nothing(deployed):
    before = all_gpus(deployed)
    result = run()
    assert result.rc == 0, result
    assert result.changed() == {}, result.changed()
    # a converged host queues no operation at all (each would cost pyinfra a stack walk)
    assert not any(op["success"] or op["error"] for op in result.json["results"]["operations"]), result
    assert all_gpus(deployed) == before


def test_one_gpu_layout_change_touches_only_that_gpu(restore, tmp_path):
    lab, touched = restore
    before = all_gpus(lab)
    h4 = before["lab-h4"]
    gpu0, gpu1 = by_index(h4, 0), by_index(h4, 1)
    tritons0 = tritons_on(lab, "lab-h4", gpu0["uuid"])
    inventory = inventory_with(tmp_path, {"lab-h4": H4_CHANGED})
    touched["lab-h4"] = []

    dry = run("--dry", inventory=inventory)
    assert dry.rc == 0, dry
    changed = dry.changed()
    assert changed and all(hosts == ["lab-h4"] for hosts in changed.values()), changed
    mig_ops = [name for name in changed if "| MIG GPU" in name]
    # the 1g.5gb at slice 6 stays where it is; six instances go, three 2g.10gb come
    assert mig_ops == ["Configure MIG | MIG GPU 1 (NVIDIA A100-SXM4-40GB): destroy 6 CIs, destroy 6 GIs, "
                       "create 3 x 2g.10gb"], mig_ops
    assert all_gpus(lab) == before, "--dry changed the driver state"

    applied = run(inventory=inventory)
    assert applied.rc == 0, applied
    assert {h for hosts in applied.changed().values() for h in hosts} == {"lab-h4"}, applied.changed()
    after = all_gpus(lab)
    assert layout(after["lab-h4"][gpu1["uuid"]]) == [(14, 0), (14, 2), (14, 4), (19, 6)]
    kept = {ci["uuid"] for gi in gpu1["gpu_instances"] if gi["start"] == 6 for ci in gi["compute_instances"]}
    assert set(mig_uuids(after["lab-h4"][gpu1["uuid"]])) & set(mig_uuids(gpu1)) == kept
    assert after["lab-h4"][gpu0["uuid"]] == gpu0
    assert {h: g for h, g in after.items() if h != "lab-h4"} == {h: g for h, g in before.items() if h != "lab-h4"}
    assert tritons_on(lab, "lab-h4", gpu0["uuid"]) == tritons0
    assert len(tritons_on(lab, "lab-h4", gpu1["uuid"])) == 4


def test_refused_reset_without_reboot_leaves_mode_pending(restore, tmp_path):
    # An A100: its MIG mode changes only at a reset (an idle Hopper GPU switches at once).
    lab, touched = restore
    before = all_gpus(lab)
    touched["lab-h2"] = []
    lab.ssh("lab-h2", "nvsim-ctl reset-policy refuse")
    inventory = inventory_with(tmp_path, {"lab-h2": {"mig_layout": [{"gpus": "all", "mig": False}],
                                                      "mig_reboot_policy": "never"}})
    result = run(inventory=inventory)
    assert result.rc != 0, result
    assert set().union(*result.errors().values()) == {"lab-h2"}, result.errors()

    gpu = next(iter(nvsim_gpus(lab, "lab-h2").values()))
    assert (gpu["mig_current"], gpu["mig_pending"], gpu["gpu_instances"]) == (True, False, [])
    assert lab.ssh("lab-h2", f"docker ps -aq --filter label={LABEL_ROLE}={triton.ROLE}").stdout.strip() == ""
    message = re.search(r"MIG GPU 0 \(NVIDIA A100-SXM4-80GB\): GPU reset was refused and mig_reboot_policy is "
                        r"'never'; reboot the host to make MIG mode Disabled effective \[(\S+); "
                        r"nvidia-smi said: [^\]]*In use by another client", result.log)
    assert message and message.group(1) == gpu["uuid"], result
    others = [h for h in lab.names if h != "lab-h2"]
    assert {h: before[h] for h in others} == {h: g for h, g in all_gpus(lab).items() if h != "lab-h2"}


def test_refused_reset_with_reboot_policy_reboots_into_the_layout(restore):
    lab, touched = restore
    want = layout(next(iter(nvsim_gpus(lab, "lab-h2").values())))
    touched["lab-h2"] = []
    to_mig_disabled(lab, "lab-h2")
    lab.ssh("lab-h2", "nvsim-ctl reset-policy refuse")
    started = time.monotonic()

    result = run("--limit", "lab-h2")        # group_data/lab.py: mig_reboot_policy = "if_reset_fails"
    assert result.rc == 0, result
    assert re.search(r"MIG GPU GPU-\S+: reset refused \([\s\S]*?\); rebooting", result.log), result
    uptime = float(lab.ssh("lab-h2", "cut -d' ' -f1 /proc/uptime").stdout)
    assert uptime < time.monotonic() - started, "lab-h2 did not reboot"
    gpu = next(iter(nvsim_gpus(lab, "lab-h2").values()))
    assert gpu["mig_current"] and gpu["mig_pending"] and layout(gpu) == want
    boot = lab.ssh("lab-h2", "journalctl -b -o cat -u migfleet-mig.service").stdout
    assert "migfleet-boot: MIG layout restored" in boot, boot
    assert len(tritons_on(lab, "lab-h2", gpu["uuid"])) == len(want)


def test_foreign_process_blocks_the_change_unless_forced(restore, tmp_path):
    lab, touched = restore
    before = nvsim_gpus(lab, "lab-h4")
    gpu1 = by_index(before, 1)
    victim = next(ci["uuid"] for gi in gpu1["gpu_instances"] if gi["start"] == 0 for ci in gi["compute_instances"])
    pid = int(lab.ssh("lab-h4", f"nvsim-ctl spawn --mig {victim} --name foreign-job").stdout.split()[-1])
    touched["lab-h4"] = [pid]

    blocked = run("--limit", "lab-h4", inventory=inventory_with(tmp_path, {"lab-h4": H4_CHANGED}))
    assert blocked.rc != 0, blocked
    assert re.search(rf"MIG blocked, {gpu1['uuid']}: GPU 1 \(NVIDIA A100-SXM4-40GB\): instances to destroy are "
                     rf"used by PID {pid} \(foreign-job\); stop them or set mig_force to go ahead", blocked.log), blocked
    assert "host left untouched, no GPU changed" in blocked.log
    assert nvsim_gpus(lab, "lab-h4") == before

    forced = run("--limit", "lab-h4",
                 inventory=inventory_with(tmp_path, {"lab-h4": {**H4_CHANGED, "mig_force": True}}))
    assert forced.rc == 0, forced
    after = nvsim_gpus(lab, "lab-h4")
    assert layout(after[gpu1["uuid"]]) == [(14, 0), (14, 2), (14, 4), (19, 6)]
    assert after[by_index(before, 0)["uuid"]] == by_index(before, 0)
    assert lab.ssh("lab-h4", f"kill -0 {pid}", check=False).returncode != 0, "the foreign process still runs"


# ---------------------------------------------------------------- MIG mode by architecture

SMI = "/usr/bin/nvidia-smi"
SMI_LOG = "/var/log/nvidia-smi-calls.log"


@contextmanager
def smi_calls(lab, host: str):
    """Every nvidia-smi command line the host runs, from now until the end of the block: a wrapper
    in front of the lab's nvidia-smi appends it to SMI_LOG, then runs the simulator's as before."""
    lab.ssh(host, f"cp -p {SMI} {SMI}.lab && rm -f {SMI_LOG} && printf '%s\\n' '#!/bin/sh' "
                  f"'echo \"$*\" >> {SMI_LOG}' 'exec {SMI}.lab \"$@\"' > {SMI}.new && chmod 755 {SMI}.new && "
                  f"mv {SMI}.new {SMI}")
    try:
        yield lambda: lab.ssh(host, f"cat {SMI_LOG} 2>/dev/null || true").stdout.splitlines()
    finally:
        lab.ssh(host, f"mv {SMI}.lab {SMI}; rm -f {SMI_LOG}", check=False)


def test_mig_mode_change_resets_only_ampere(restore, lab_cli_run):
    lab, touched = restore
    hopper, ampere = "lab-h3", "lab-h2"                     # an H100, an A100-80GB
    want = {h: layout(next(iter(nvsim_gpus(lab, h).values()))) for h in (hopper, ampere)}
    for host in (hopper, ampere):
        touched[host] = []
        to_mig_disabled(lab, host)
    limit = ("--limit", hopper, "--limit", ampere)
    with smi_calls(lab, hopper) as hopper_calls, smi_calls(lab, ampere) as ampere_calls:
        dry = run("--dry", *limit)
        assert dry.rc == 0, dry
        mig_ops = sorted(name for name in dry.changed() if "| MIG GPU" in name)
        assert mig_ops == [
            "Configure MIG | MIG GPU 0 (NVIDIA A100-SXM4-80GB): enable MIG, then reset the GPU (Ampere), "
            "create 1 x 2g.20gb, 2 x 1g.10gb, 1 x 3g.40gb",
            "Configure MIG | MIG GPU 0 (NVIDIA H100 80GB HBM3): enable MIG (Hopper: effective at once when idle; "
            "reset only if it stays pending), create 2 x 3g.40gb"], mig_ops
        assert not any("-mig" in c or "--gpu-reset" in c for c in hopper_calls() + ampere_calls()), \
            "--dry changed a GPU"

        applied = run(*limit)
        assert applied.rc == 0, applied
        calls = hopper_calls()
        assert "-i 0 -mig 1" in calls and smi.mig_mode(0).removeprefix("nvidia-smi ") in calls, calls
        assert not any("--gpu-reset" in c for c in calls), calls
        assert "--gpu-reset -i 0" in ampere_calls(), ampere_calls()
        for host in (hopper, ampere):
            gpu = next(iter(nvsim_gpus(lab, host).values()))
            assert gpu["mig_current"] and layout(gpu) == want[host], (host, gpu)
            assert len(tritons_on(lab, host, gpu["uuid"])) == len(want[host])

        # Hopper loses MIG mode at every boot: the boot replay sets it again, again without a reset
        lab_cli_run("reboot", hopper)
        boot = lab.ssh(hopper, "journalctl -b -o cat -u migfleet-mig.service").stdout
        assert "MIG mode Enabled in effect at once; no GPU reset" in boot, boot
        assert "migfleet-boot: MIG layout restored" in boot, boot
        calls = hopper_calls()
        assert "-i 0 -mig 1" in calls and not any("--gpu-reset" in c for c in calls), calls
        assert layout(next(iter(nvsim_gpus(lab, hopper).values()))) == want[hopper]
