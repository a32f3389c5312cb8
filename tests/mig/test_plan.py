"""plan_gpu(): the target placed layout and the actions from the current state to it."""
from __future__ import annotations

from dataclasses import replace

import pytest

from migfleet.mig.desired import ComputeSpec, DesiredGpu
from migfleet.mig.desired import DesiredInstance as D
from migfleet.mig.plan import Policy, plan_gpu, resets_for_mode
from migfleet.mig.state import ComputeInstance, GpuInstance, GpuProcess, GpuState

UUID = "GPU-e86cb44c-6756-fd30-cd4a-1e6da3caf9b0"
NAMES = {19: "1g.5gb", 14: "2g.10gb", 9: "3g.20gb", 5: "4g.20gb", 0: "7g.40gb"}
SIZES = {19: 1, 14: 2, 9: 4, 5: 4, 0: 8}
CI_IDS = {19: 0, 14: 1, 9: 2, 5: 3, 0: 4}


def gpu(gis=(), mig=(True, True), cis=None, procs=(), name="NVIDIA A100-SXM4-40GB"):
    """gis: [(gi_id, profile_id, start)]; by default each GI has its full-size CI 0."""
    g = tuple(GpuInstance(i, p, NAMES[p], s, SIZES[p]) for i, p, s in gis)
    c = cis if cis is not None else tuple(ComputeInstance(i, 0, CI_IDS[p], NAMES[p], 0, SIZES[p]) for i, p, _ in gis)
    return GpuState(0, UUID, name, "00000000:36:00.0", *mig, gpu_instances=g, compute_instances=tuple(c),
                    processes=tuple(procs))


def cmds(plan):
    return [a.command for a in plan.actions]


TWO_3G = DesiredGpu(True, (D("3g.20gb", 2),))


def test_empty_gpu_gets_its_instances_then_is_converged(a100):
    plan = plan_gpu(gpu(), TWO_3G, a100)
    assert not plan.converged and cmds(plan) == ["nvidia-smi mig -i 0 -cgi 9:0,9:4 -C"]
    assert plan.actions[0].description == ("GPU 0 (NVIDIA A100-SXM4-40GB): create GPU instances 3g.20gb at "
                                           "slice 0, 3g.20gb at slice 4 (each with one full compute instance)")
    done = plan_gpu(gpu([(1, 9, 4), (2, 9, 0)]), TWO_3G, a100)
    assert done.converged and done.actions == () and done.blocked is None


def test_same_profiles_elsewhere_count_as_converged(a100):
    want = DesiredGpu(True, (D("4g.20gb"), D("2g.10gb"), D("1g.5gb")))
    assert plan_gpu(gpu([(1, 5, 0), (5, 14, 4), (13, 19, 6)]), want, a100).converged
    # an explicit placement is part of the layout: 1g.5gb must be at 5, not 6
    pinned = DesiredGpu(True, (D("4g.20gb"), D("1g.5gb", placements=(5,))))
    assert not plan_gpu(gpu([(1, 5, 0), (13, 19, 6)]), pinned, a100).converged
    assert plan_gpu(gpu([(1, 5, 0), (13, 19, 5)]), pinned, a100).converged
    plan = plan_gpu(gpu([(1, 5, 0), (13, 19, 6)]), pinned, a100)
    assert cmds(plan) == ["nvidia-smi mig -i 0 -dci -gi 13 -ci 0", "nvidia-smi mig -i 0 -dgi -gi 13",
                          "nvidia-smi mig -i 0 -cgi 19:5 -C"]


def test_mig_disabled_gpu_enable_reset_create(a100):
    plan = plan_gpu(gpu(mig=(False, False)), TWO_3G, a100)
    assert [a.kind for a in plan.actions] == ["enable_mig", "reset_gpu", "create_gi"]
    assert cmds(plan)[:2] == ["nvidia-smi -i 0 -mig 1", "nvidia-smi --gpu-reset -i 0"]
    assert plan.needs_reset and not plan.needs_reboot


H100 = "NVIDIA H100 80GB HBM3"
TWO_3G40 = DesiredGpu(True, (D("3g.40gb", 2),))
MODE_QUERY = "nvidia-smi -i 0 --query-gpu=mig.mode.current,mig.mode.pending --format=csv,noheader"


def test_hopper_mode_change_is_read_again_not_reset(h100):
    # NVIDIA's MIG guide: from Hopper on, an idle GPU switches MIG mode at once (no reset).
    assert h100.architecture == "Hopper"
    plan = plan_gpu(gpu(mig=(False, False), name=H100), TWO_3G40, h100)
    assert [a.kind for a in plan.actions] == ["enable_mig", "settle_mig", "create_gi"]
    assert cmds(plan) == ["nvidia-smi -i 0 -mig 1", MODE_QUERY, "nvidia-smi mig -i 0 -cgi 9:0,9:4 -C"]
    assert not any("--gpu-reset" in c for c in cmds(plan)) and not plan.needs_reset
    assert plan.actions[1].description == ("GPU 0 (NVIDIA H100 80GB HBM3): read MIG mode again; reset the GPU only "
                                           "if Enabled is still pending")
    done = plan_gpu(gpu([(1, 9, 4), (2, 9, 0)], name=H100), TWO_3G40, h100)
    assert done.converged and done.actions == ()


def test_hopper_pending_enable_sets_the_mode_again(h100):
    # pending on Hopper: the GPU was held when the mode was set; set again once idle (NVML docs)
    plan = plan_gpu(gpu(mig=(False, True), name=H100), TWO_3G40, h100)
    assert cmds(plan)[:2] == ["nvidia-smi -i 0 -mig 1", MODE_QUERY]
    assert "again (it is pending: the GPU was busy)" in plan.actions[0].description


def test_hopper_refused_reset_follows_the_reboot_policy(h100):
    state = gpu(mig=(False, True), name=H100)
    plan = plan_gpu(state, TWO_3G40, h100, Policy(reset_refused=True))
    assert plan.blocked and "GPU reset was refused and mig_reboot_policy is 'never'" in plan.blocked
    plan = plan_gpu(state, TWO_3G40, h100, Policy(reboot="if_reset_fails", reset_refused=True))
    assert [a.kind for a in plan.actions] == ["reboot"] and plan.needs_reboot


def test_hopper_disable_reads_the_mode_again(h100):
    plan = plan_gpu(gpu([(1, 9, 0)], name=H100), DesiredGpu(False), h100)
    assert [a.kind for a in plan.actions] == ["destroy_ci", "destroy_gi", "disable_mig", "settle_mig"]
    assert cmds(plan)[2:] == ["nvidia-smi -i 0 -mig 0", MODE_QUERY]


def test_unknown_architecture_is_read_again_and_ampere_resets(a100, h100):
    unknown = replace(h100, architecture="unknown")
    assert [a.kind for a in plan_gpu(gpu(mig=(False, False), name=H100), TWO_3G40, unknown).actions][:2] == \
        ["enable_mig", "settle_mig"]
    assert resets_for_mode(a100) and not resets_for_mode(h100) and not resets_for_mode(None)


def test_pending_enable_needs_only_the_reset(a100):
    plan = plan_gpu(gpu(mig=(False, True)), TWO_3G, a100)
    assert [a.kind for a in plan.actions] == ["reset_gpu", "create_gi"] and plan.needs_reset


def test_pending_with_refused_reset_follows_the_reboot_policy(a100):
    refused = Policy(reset_refused=True)
    plan = plan_gpu(gpu(mig=(False, True)), TWO_3G, a100, refused)
    assert plan.blocked and "mig_reboot_policy is 'never'" in plan.blocked and plan.actions == ()
    plan = plan_gpu(gpu(mig=(False, True)), TWO_3G, a100, Policy(reboot="if_reset_fails", reset_refused=True))
    assert [a.kind for a in plan.actions] == ["reboot"] and plan.needs_reboot and not plan.blocked


def test_other_layout_is_rebuilt(a100):
    seven = [(7 + i, 19, i) for i in range(7)]
    plan = plan_gpu(gpu(seven), TWO_3G, a100)
    assert [a.kind for a in plan.actions] == ["destroy_ci"] * 7 + ["destroy_gi"] * 7 + ["create_gi"]
    assert cmds(plan)[0] == "nvidia-smi mig -i 0 -dci -gi 7 -ci 0"
    assert cmds(plan)[7] == "nvidia-smi mig -i 0 -dgi -gi 7"


def test_foreign_process_blocks_unless_forced(a100):
    seven = [(7 + i, 19, i) for i in range(7)]
    state = gpu(seven, procs=[GpuProcess(4242, "python3", 9, 0, 300)])
    plan = plan_gpu(state, TWO_3G, a100)
    assert plan.actions == () and not plan.converged
    assert plan.blocked == ("GPU 0 (NVIDIA A100-SXM4-40GB): instances to destroy are used by PID 4242 (python3); "
                            "stop them or set mig_force to go ahead")
    forced = plan_gpu(state, TWO_3G, a100, Policy(force=True))
    # The driver refuses to destroy an instance in use: the forced plan stops the process first.
    assert forced.blocked is None and len(forced.actions) == 16
    assert forced.actions[0].kind == "stop_process" and forced.actions[0].command.startswith("kill 4242 ")
    assert "PID 4242 (python3)" in forced.actions[0].description
    assert [a.kind for a in forced.actions[1:]] == ["destroy_ci"] * 7 + ["destroy_gi"] * 7 + ["create_gi"]
    assert plan_gpu(state, TWO_3G, a100, Policy(ignore_pids=frozenset({4242}))).blocked is None


def test_forced_mode_change_stops_every_process_on_the_gpu(a100):
    state = gpu(mig=(False, False), procs=[GpuProcess(77, "train.py", None, None), GpuProcess(78, "", None, None)])
    assert "MIG mode must change but the GPU is used by PID 77 (train.py), PID 78 (unknown)" in \
        plan_gpu(state, TWO_3G, a100).blocked
    forced = plan_gpu(state, TWO_3G, a100, Policy(force=True))
    assert [a.kind for a in forced.actions] == ["stop_process", "stop_process", "enable_mig", "reset_gpu", "create_gi"]
    assert [a.command.split(";")[0] for a in forced.actions[:2]] == ["kill 77 2>/dev/null", "kill 78 2>/dev/null"]


def test_matching_instances_are_kept(a100):
    current = gpu([(1, 5, 0), (5, 14, 4), (13, 19, 6)],
                  procs=[GpuProcess(100, "tritonserver", 1, 0), GpuProcess(101, "tritonserver", 13, 0)])
    plan = plan_gpu(current, DesiredGpu(True, (D("4g.20gb"), D("1g.5gb", 3))), a100)
    assert plan.blocked is None     # the used GIs 1 and 13 stay
    assert cmds(plan) == ["nvidia-smi mig -i 0 -dci -gi 5 -ci 0", "nvidia-smi mig -i 0 -dgi -gi 5",
                          "nvidia-smi mig -i 0 -cgi 19:4,19:5 -C"]


def test_compute_instances_differ(a100):
    want = DesiredGpu(True, (D("3g.20gb", 2, compute=ComputeSpec("1c.3g.20gb", 3)),))
    plan = plan_gpu(gpu([(1, 9, 4), (2, 9, 0)]), want, a100)
    assert cmds(plan) == ["nvidia-smi mig -i 0 -dci -gi 1 -ci 0", "nvidia-smi mig -i 0 -dci -gi 2 -ci 0",
                          "nvidia-smi mig -i 0 -gi 1 -cci 0,0,0", "nvidia-smi mig -i 0 -gi 2 -cci 0,0,0"]
    cis = [ComputeInstance(gi, ci, 0, "1c.3g.20gb", ci, 1) for gi in (1, 2) for ci in range(3)]
    assert plan_gpu(gpu([(1, 9, 4), (2, 9, 0)], cis=cis), want, a100).converged


def test_new_instances_with_small_cis_find_their_gi_id_when_run(a100):
    want = DesiredGpu(True, (D("3g.20gb", compute=ComputeSpec("1c.3g.20gb", 2)), D("1g.5gb")))
    plan = plan_gpu(gpu(), want, a100)
    assert cmds(plan)[:2] == ["nvidia-smi mig -i 0 -cgi 9:0", "nvidia-smi mig -i 0 -cgi 19:4 -C"]
    # The new GI's ID is the driver's choice: the action names its place, the operation reads the ID.
    assert cmds(plan)[2] == "nvidia-smi mig -i 0 -gi {gi} -cci 0,0" and plan.actions[2].gi_start == 0


def test_disable_mig(a100):
    off = DesiredGpu(False)
    assert plan_gpu(gpu(mig=(False, False)), off, a100).converged
    plan = plan_gpu(gpu([(1, 9, 0)]), off, a100)
    assert [a.kind for a in plan.actions] == ["destroy_ci", "destroy_gi", "disable_mig", "reset_gpu"]
    assert cmds(plan)[2] == "nvidia-smi -i 0 -mig 0"
    assert [a.kind for a in plan_gpu(gpu(mig=(False, True)), off, a100).actions] == ["disable_mig"]
    blocked = plan_gpu(gpu([(1, 9, 0)], procs=[GpuProcess(7, "train.py", 1, 0)]), off, a100)
    assert "PID 7 (train.py)" in blocked.blocked


def test_pending_disable_on_enabled_gpu_is_cancelled(a100):
    plan = plan_gpu(gpu([(1, 9, 4), (2, 9, 0)], mig=(True, False)), TWO_3G, a100)
    assert cmds(plan) == ["nvidia-smi -i 0 -mig 1"] and not plan.converged


def test_mode_change_blocked_by_a_process_on_the_whole_gpu(h100):
    state = gpu(mig=(False, False), procs=[GpuProcess(55, "Xorg", None, None)], name="NVIDIA H100 80GB HBM3")
    plan = plan_gpu(state, DesiredGpu(True, (D("1g.10gb", 7),)), h100)
    assert "MIG mode must change but the GPU is used by PID 55 (Xorg)" in plan.blocked


# ------------------------------------------------------------ boot script

FAKE_SMI = r"""#!/bin/sh
echo "$*" >> "$LOG"
case "$*" in
  --query-gpu=*) cat "$STATE";;
  "-i 0 -mig 1") sed -i 's/Disabled, Disabled/Enabled, Enabled/' "$STATE"; echo "Enabled MIG Mode";;
  "--gpu-reset -i 0") echo "GPU reset";;
  "mig -lgi") printf '%s\n' '+---+' '| GPU instances: |' '|===|' \
      '|   0  MIG 3g.40gb          9        2          0:4     |' '+---+';;
  *-X*) echo "unknown option" >&2; exit 3;;
  "mig -i 0 -cgi"*|"mig -i 0 -gi 2 -cci"*) echo ok;;
  *) echo "unexpected: $*" >&2; exit 3;;
esac
"""


def test_the_new_gi_id_is_read_off_the_driver_when_its_cis_are_created(a100):
    """One executor (deploy and boot replay alike): after -cgi, the action lists the GPU's instances,
    takes the ID of the one at its start and creates its CIs there; here against the lab simulator."""
    from migfleet.mig import smi
    from tests.operations.simulated_gpus import SimulatedGpus, gpu as sim_gpu

    uuid = "GPU-00000000-0000-4000-8000-000000000001"
    sim = SimulatedGpus(sim_gpu(0, a100.model, uuid, mig=True))

    def run(command):
        ok, out, err = sim.run(command)
        return (0 if ok else 1), "\n".join(out + err)

    want = DesiredGpu(True, (D("3g.20gb", compute=ComputeSpec("1c.3g.20gb", 2)), D("1g.5gb")))
    plan = plan_gpu(sim.gpus[uuid], want, a100)
    for action in plan.actions:
        assert run(action.command_now(run))[0] == 0
    assert plan_gpu(sim.gpus[uuid], want, a100).converged
    sim.state["gpus"][0]["gpu_instances"].clear()       # the instance at slice 0 is gone: said, not guessed
    with pytest.raises(smi.ParseError, match="expected one GPU instance at slice 0 of GPU 0, found 0"):
        plan.actions[2].command_now(run)
