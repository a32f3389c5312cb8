"""Export and drift against the lab's simulated driver (lab/nvsim), run locally: no lab needed."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from migfleet.mig import catalog
from migfleet.fleet import export
from migfleet.mig import desired as layout
from migfleet.mig import smi as parsers
from migfleet.mig import plan as planner
from migfleet.fleet import checks as spec_checks

REPO = Path(__file__).resolve().parents[2]
MODELS = "NVIDIA H100 80GB HBM3,NVIDIA A100-SXM4-40GB,NVIDIA H200"

pytestmark = pytest.mark.skipif(not (REPO / "lab" / "nvsim" / "smi.py").exists(), reason="lab/nvsim absent")


@pytest.fixture
def sim(tmp_path):
    """Runs shell commands with `nvidia-smi` = nvsim over a fresh state in tmp_path."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    wrapper = bindir / "nvidia-smi"
    wrapper.write_text(f'#!/bin/sh\ncd "{REPO}" && exec "{sys.executable}" -m lab.nvsim.smi "$@"\n')
    wrapper.chmod(0o755)
    env = {**os.environ, "NVSIM_ROOT": str(tmp_path / "root"), "PATH": f"{bindir}:{os.environ['PATH']}"}

    def sh(command: str) -> str:
        done = subprocess.run(["sh", "-c", command], env=env, cwd=REPO, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, f"{command}: {done.stdout}{done.stderr}"
        return done.stdout

    subprocess.run([sys.executable, "-m", "lab.nvsim.ctl", "init", "--model", MODELS, "--hostname", "sim1"],
                   env=env, cwd=REPO, check=True, capture_output=True, timeout=60)
    return sh


def snapshot(sim):
    return parsers.parse_snapshot(sim(parsers.SNAPSHOT_COMMAND))


def geometry_for(gpu):
    return catalog.lookup(gpu.name)


def partition(sim):
    for i in (0, 1):
        sim(f"nvidia-smi -i {i} -mig 1 && nvidia-smi --gpu-reset -i {i}")
    sim("nvidia-smi mig -i 0 -cgi 9,14,19,19 -C")          # driver-chosen placements
    sim("nvidia-smi mig -i 1 -cgi 9:4 && nvidia-smi mig -i 1 -gi 1 -cci 0,0,0")   # 3 x 1c on 3g at 4 (GI 1)
    sim("nvidia-smi mig -i 1 -cgi 19:0,19:2 -C")            # explicit, with holes at 1 and 3


def test_export_of_simulated_host_plans_no_change(sim):
    partition(sim)
    live = snapshot(sim)
    rules = export.host_layout(live)
    assert len(rules) == 3          # three different GPUs: one rule each, by UUID
    gpu1 = next(g for g in live.values() if g.index == 1)
    assert rules[1] == {"gpus": {"uuid": gpu1.uuid}, "instances": [
        {"profile": "1g.5gb", "placements": [0, 2]},
        {"profile": "3g.20gb", "placements": [4], "compute": {"profile": "1c.3g.20gb", "count": 3}}]}
    assert rules[2] == {"gpus": {"uuid": next(g.uuid for g in live.values() if g.index == 2)}, "mig": False}
    assert spec_checks.compare_host("sim1", live, rules, geometry_for) == []
    desired = layout.resolve(rules, live)
    for uuid, want in desired.items():
        plan = planner.plan_gpu(live[uuid], want, geometry_for(live[uuid]))
        assert plan.converged and not plan.actions, (uuid, plan)


def test_drift_after_a_hand_made_change(sim):
    partition(sim)
    rules = export.host_layout(snapshot(sim))
    gpu0 = next(g for g in snapshot(sim).values() if g.index == 0)
    gi = next(g for g in gpu0.gpu_instances if g.name == "2g.20gb")
    sim(f"nvidia-smi mig -i 0 -gi {gi.gi_id} -dci && nvidia-smi mig -i 0 -dgi -gi {gi.gi_id}")
    found = spec_checks.compare_host("sim1", snapshot(sim), rules, geometry_for)
    assert [(m.gpu_index, m.field, m.expected, m.found) for m in found] == [
        (0, f"GPU instance at slice {gi.start}", f"2g.20gb (ID 14) at slice {gi.start}", "none")]


def test_boot_on_hopper_is_drift_in_mig_mode(sim):
    partition(sim)
    rules = export.host_layout(snapshot(sim))
    subprocess.run([sys.executable, "-m", "lab.nvsim.ctl", "boot"], cwd=REPO, check=True, timeout=60,
                   env={**os.environ, "NVSIM_ROOT": sim("echo $NVSIM_ROOT").strip()}, capture_output=True)
    found = spec_checks.compare_host("sim1", snapshot(sim), rules, geometry_for)
    by_gpu = {}
    for m in found:
        by_gpu.setdefault(m.gpu_index, []).append(m.field)
    assert by_gpu[0] == ["MIG mode"]            # H100: mode back to disabled
    assert all(f.startswith("GPU instance at slice") for f in by_gpu[1])   # A100 keeps MIG on, GIs gone
    assert 2 not in by_gpu
