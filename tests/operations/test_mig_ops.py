"""MIG operations through pyinfra's API on simulated GPUs: names at prepare, commands at execute."""
from __future__ import annotations

import logging
from pathlib import Path

import pytest
from pyinfra.api.deploy import add_deploy

from migfleet.mig import catalog
from migfleet.mig import desired as layout
from migfleet.mig import plan as planner
from migfleet.deploys import mig as mig_task
from tests.operations.conftest import Fleet
from tests.operations.simulated_gpus import SimulatedGpus, gpu, with_instances, with_process

pytestmark = pytest.mark.usefixtures("sim_host_read")

A40 = "NVIDIA A100-SXM4-40GB"
H100 = "NVIDIA H100 80GB HBM3"
U0 = "GPU-00000000-0000-4000-8000-000000000001"
U1 = "GPU-00000000-0000-4000-8000-000000000002"
SEVEN = [{"gpus": "all", "instances": [{"profile": "1g.5gb", "count": 7}]}]
TWO_HALVES = [{"gpus": "all", "instances": [{"profile": "3g.20gb", "count": 2}]}]
CREATE_SEVEN = "nvidia-smi mig -i 0 -cgi " + ",".join(f"19:{s}" for s in range(7)) + " -C"
CREATE_TWO_3G40 = "nvidia-smi mig -i 0 -cgi 9:0,9:4 -C"
TWO_3G40 = [{"gpus": "all", "instances": [{"profile": "3g.40gb", "count": 2}]}]
MODE_QUERY = "nvidia-smi -i 0 --query-gpu=mig.mode.current,mig.mode.pending --format=csv,noheader"
RESET = "nvidia-smi --gpu-reset -i 0"
HOPPER_ENABLE = "enable MIG (Hopper: effective at once when idle; reset only if it stays pending)"
# The serving plan (made with the MIG plan) needs a local model repository: the repository's own.
MODELS = {"triton_model_repository": str(Path(__file__).resolve().parents[2] / "files" / "models")}


def run(hosts: dict, execute: bool = True) -> Fleet:
    hosts = {name: (sim, {**MODELS, **data}) for name, (sim, data) in hosts.items()}
    fleet = Fleet(hosts)
    add_deploy(fleet.state, mig_task.configure_mig)
    if execute:
        fleet.execute()
    return fleet


def nvidia(sim: SimulatedGpus) -> list[str]:
    return [c for c in sim.executed if c.startswith("nvidia-smi")]


def mig_ops(fleet: Fleet, host: str) -> list[str]:
    return [n.split(" | ", 1)[1] for n in fleet.changing_ops(host) if " | MIG GPU" in n]


def test_disabled_gpu_gets_mode_reset_and_instances():
    sim = SimulatedGpus(gpu(0, A40, U0))
    fleet = run({"h1": (sim, {"mig_layout": SEVEN})}, execute=False)
    assert mig_ops(fleet, "h1") == ["MIG GPU 0 (NVIDIA A100-SXM4-40GB): enable MIG, then reset the GPU (Ampere), "
                                    "create 7 x 1g.5gb"]
    assert nvidia(sim) == []       # prepare (what --dry shows) changes nothing
    fleet.execute()
    assert nvidia(sim) == ["nvidia-smi -i 0 -mig 1", RESET, CREATE_SEVEN]
    assert [g.name for g in sim.gpus[U0].gpu_instances] == ["1g.5gb"] * 7
    assert not fleet.failed


def test_converged_gpu_runs_nothing():
    sim = SimulatedGpus(with_instances(gpu(0, A40, U0), *[("1g.5gb", s) for s in range(7)]))
    fleet = run({"h1": (sim, {"mig_layout": SEVEN})})
    assert mig_ops(fleet, "h1") == []
    # nothing queued for a converged GPU (each queued operation costs pyinfra a stack walk)
    assert not any("MIG GPU" in n for n in fleet.ops("h1"))
    assert nvidia(sim) == []


def test_second_run_after_converging_is_a_no_op():
    sim = SimulatedGpus(gpu(0, A40, U0), gpu(1, A40, U1))
    run({"h1": (sim, {"mig_layout": SEVEN})})
    first = nvidia(sim)
    assert len(first) == 6
    again = run({"h1": (sim, {"mig_layout": SEVEN})})
    assert mig_ops(again, "h1") == []
    assert nvidia(sim) == first


def test_pending_enable_only_needs_the_reset():
    sim = SimulatedGpus(gpu(0, A40, U0, mig=False, pending=True))
    fleet = run({"h1": (sim, {"mig_layout": SEVEN})})
    assert mig_ops(fleet, "h1") == ["MIG GPU 0 (NVIDIA A100-SXM4-40GB): reset the GPU (Ampere), create 7 x 1g.5gb"]
    assert nvidia(sim) == [RESET, CREATE_SEVEN]


def test_relayout_destroys_then_creates_only_on_the_gpu_that_differs():
    seven = [("1g.5gb", s) for s in range(7)]
    sim = SimulatedGpus(with_instances(gpu(0, A40, U0), *seven), with_instances(gpu(1, A40, U1), ("3g.20gb", 0), ("3g.20gb", 4)))
    fleet = run({"h1": (sim, {"mig_layout": TWO_HALVES})})
    assert mig_ops(fleet, "h1") == ["MIG GPU 0 (NVIDIA A100-SXM4-40GB): destroy 7 CIs, destroy 7 GIs, "
                                    "create 2 x 3g.20gb"]
    cmds = nvidia(sim)
    # the driver numbers 1g.5gb instances 7 + start (NVIDIA MIG user guide, "Create GPU instances":
    # https://docs.nvidia.com/datacenter/tesla/mig-user-guide/#creating-gpu-instances)
    assert sorted(cmds[:7]) == sorted(f"nvidia-smi mig -i 0 -dci -gi {gi} -ci 0" for gi in range(7, 14))
    assert sorted(cmds[7:14]) == sorted(f"nvidia-smi mig -i 0 -dgi -gi {gi}" for gi in range(7, 14))
    assert cmds[14:] == ["nvidia-smi mig -i 0 -cgi 9:0,9:4 -C"]
    assert not any("-i 1 " in c for c in cmds)


def test_foreign_process_blocks_the_host_and_nothing_changes(caplog):
    busy = with_process(with_instances(gpu(0, A40, U0), ("3g.20gb", 0)), 4242, "python3", gi_id=2)
    sim, other = SimulatedGpus(busy), SimulatedGpus(gpu(0, A40, U1))
    with caplog.at_level(logging.INFO):
        fleet = run({"h1": (sim, {"mig_layout": SEVEN}), "h2": (other, {"mig_layout": SEVEN})})
    assert fleet.failed == {"h1"}
    assert nvidia(sim) == []
    assert nvidia(other)[-1] == CREATE_SEVEN             # the other host goes on
    text = caplog.text
    assert "PID 4242 (python3)" in text and U0 in text and "mig_force" in text


def test_force_destroys_instances_in_use():
    busy = with_process(with_instances(gpu(0, A40, U0), ("3g.20gb", 0)), 4242, "python3", gi_id=2)
    sim = SimulatedGpus(busy)
    fleet = run({"h1": (sim, {"mig_layout": SEVEN, "mig_force": True})})
    assert not fleet.failed
    kill = next(i for i, c in enumerate(sim.executed) if c.startswith("kill 4242 "))
    assert kill < sim.executed.index(nvidia(sim)[0])    # stopped first: the driver refuses a busy instance
    assert nvidia(sim)[:2] == ["nvidia-smi mig -i 0 -dci -gi 2 -ci 0", "nvidia-smi mig -i 0 -dgi -gi 2"]
    assert nvidia(sim)[-1] == CREATE_SEVEN


def test_refused_reset_without_reboot_fails_and_says_the_gpu_is_half_way(caplog):
    sim = SimulatedGpus(gpu(0, A40, U0), reset_refused=True)
    with caplog.at_level(logging.INFO):
        fleet = run({"h1": (sim, {"mig_layout": SEVEN})})
    assert fleet.failed == {"h1"}
    assert nvidia(sim) == ["nvidia-smi -i 0 -mig 1", RESET]   # nothing created
    assert "reset was refused" in caplog.text and "mig_reboot_policy is 'never'" in caplog.text
    assert "partly changed" in caplog.text and U0 in caplog.text


def test_same_change_on_several_hosts_is_one_operation_and_different_changes_are_not():
    a, b = SimulatedGpus(gpu(0, A40, U0)), SimulatedGpus(gpu(0, A40, U1))
    c = SimulatedGpus(with_instances(gpu(0, A40, "GPU-00000000-0000-4000-8000-00000000000c"), ("3g.20gb", 0)))
    fleet = run({"h1": (a, {"mig_layout": SEVEN}), "h2": (b, {"mig_layout": SEVEN}),
                 "h3": (c, {"mig_layout": SEVEN})}, execute=False)
    assert fleet.changing_ops("h1") and [o for o in fleet.changing_ops("h1") if "MIG GPU" in o] == \
        [o for o in fleet.changing_ops("h2") if "MIG GPU" in o]
    h3 = [o for o in fleet.changing_ops("h3") if "MIG GPU" in o]
    assert h3 == ["Configure MIG | MIG GPU 0 (NVIDIA A100-SXM4-40GB): destroy 1 CI, destroy 1 GI, "
                  "create 7 x 1g.5gb"]


def test_operation_names_carry_no_uuid_but_logs_do(caplog):
    sim = SimulatedGpus(gpu(0, H100, U0))
    with caplog.at_level(logging.INFO):
        fleet = run({"h1": (sim, {"mig_layout": TWO_3G40})}, execute=False)
    assert mig_ops(fleet, "h1") == [f"MIG GPU 0 (NVIDIA H100 80GB HBM3): {HOPPER_ENABLE}, create 2 x 3g.40gb"]
    assert (f"GPU 0 (NVIDIA H100 80GB HBM3, 00000000:06:00.0, {U0}): MIG disabled -> {HOPPER_ENABLE}, "
            "create 2 x 3g.40gb") in caplog.text
    assert CREATE_TWO_3G40 in caplog.text       # -v lists the commands


# ---------------------------------------------------------------- MIG mode by architecture

def test_hopper_mode_change_takes_effect_without_a_reset(caplog):
    sim = SimulatedGpus(gpu(0, H100, U0))
    with caplog.at_level(logging.INFO):
        fleet = run({"h1": (sim, {"mig_layout": TWO_3G40})}, execute=False)
        planned = caplog.text              # what --dry -v shows: no reset among the planned commands
        assert MODE_QUERY in planned and "--gpu-reset" not in planned
        fleet.execute()
    assert nvidia(sim) == ["nvidia-smi -i 0 -mig 1", MODE_QUERY, CREATE_TWO_3G40]
    assert f"MIG GPU {U0}: MIG mode Enabled in effect at once; no GPU reset" in caplog.text
    assert [g.name for g in sim.gpus[U0].gpu_instances] == ["3g.40gb"] * 2 and not fleet.failed
    again = run({"h1": (sim, {"mig_layout": TWO_3G40})})
    assert mig_ops(again, "h1") == [] and nvidia(sim)[3:] == []


def test_hopper_mode_that_stays_pending_is_reset():
    sim = SimulatedGpus(gpu(0, H100, U0), pending_until_reset=True)
    fleet = run({"h1": (sim, {"mig_layout": TWO_3G40})})
    assert nvidia(sim) == ["nvidia-smi -i 0 -mig 1", MODE_QUERY, RESET, CREATE_TWO_3G40]
    assert not fleet.failed and sim.gpus[U0].mig_current


def test_hopper_pending_mode_whose_reset_is_refused_follows_the_reboot_policy(caplog):
    sim = SimulatedGpus(gpu(0, H100, U0), pending_until_reset=True, reset_refused=True)
    with caplog.at_level(logging.INFO):
        fleet = run({"h1": (sim, {"mig_layout": TWO_3G40})})
    assert fleet.failed == {"h1"}
    assert nvidia(sim) == ["nvidia-smi -i 0 -mig 1", MODE_QUERY, RESET]
    assert "MIG mode Enabled still pending; resetting the GPU" in caplog.text
    assert "GPU reset was refused and mig_reboot_policy is 'never'" in caplog.text


def test_hopper_disable_reads_the_mode_again():
    sim = SimulatedGpus(with_instances(gpu(0, H100, U0), ("3g.40gb", 0)))
    fleet = run({"h1": (sim, {"mig_layout": [{"gpus": "all", "mig": False}]})}, execute=False)
    assert mig_ops(fleet, "h1") == ["MIG GPU 0 (NVIDIA H100 80GB HBM3): disable MIG (Hopper: effective at once when "
                                    "idle; reset only if it stays pending), destroy 1 CI, destroy 1 GI"]
    fleet.execute()
    assert nvidia(sim) == ["nvidia-smi mig -i 0 -dci -gi 2 -ci 0", "nvidia-smi mig -i 0 -dgi -gi 2",
                           "nvidia-smi -i 0 -mig 0", MODE_QUERY]
    assert not sim.gpus[U0].mig_current and not fleet.failed
