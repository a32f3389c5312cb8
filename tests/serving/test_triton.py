"""One Triton per MIG device, by place: names, ports, arguments, the config hash, and the plan."""
from __future__ import annotations

import pytest

from migfleet.mig import placed
from migfleet.mig.state import ComputeInstance, MigDevice
from migfleet.serving import triton
from migfleet.serving.containers import LABEL_CONFIG, LABEL_MIG_UUID, LABEL_PLACE, label_value

from .conftest import a100, host_gpus, running_from

GPU0 = a100(0, [(7 + n, "1g.5gb", n) for n in range(7)])
GPU1 = a100(1, [(1, "3g.20gb", 4)])
GPUS = host_gpus(GPU0, GPU1)


def uuid_at(gpu, spec):
    return triton.live_devices(gpu)[(spec.place.gi_start, spec.place.ci_start)].uuid


def test_names_ports_and_arguments_follow_the_place(settings):
    specs = triton.live_specs(GPUS, settings, "m1")
    assert [s.name for s in specs] == [f"triton-gpu0-s{n}" for n in range(7)] + ["triton-gpu1-s4"]
    last = specs[-1]
    base = settings["triton_port_base"]
    assert (last.ports.http, last.ports.grpc, last.ports.metrics) == (base + 1400, base + 1401, base + 1402)
    args = triton.run_args_for(last.run_args, last.config_hash, "MIG-abc")
    assert "NVIDIA_VISIBLE_DEVICES=MIG-abc" in args and "--runtime=nvidia" in args
    assert label_value(args, LABEL_MIG_UUID) == "MIG-abc"
    assert label_value(args, LABEL_PLACE) == f"{GPU1.uuid}/4/0"
    assert label_value(args, LABEL_CONFIG) == last.config_hash
    assert "--http-address=127.0.0.1" in args and "--grpc-address=127.0.0.1" in args


def test_config_hash_ignores_the_mig_uuid_and_follows_settings_and_models(settings):
    (spec,) = triton.live_specs(host_gpus(GPU1), settings, "m1")
    # re-created at boot with another MIG UUID: the same spec, the same hash
    moved = a100(1, [(9, "3g.20gb", 4)])
    assert triton.live_specs(host_gpus(moved), settings, "m1") == [spec]
    assert triton.live_specs(host_gpus(GPU1), settings, "m2")[0].config_hash != spec.config_hash
    other = dict(settings, triton_server_args=["--log-verbose=1"])
    assert triton.live_specs(host_gpus(GPU1), other, "m1")[0].config_hash != spec.config_hash


def test_compute_instances_get_their_own_place(settings):
    gpu = GPU1.__class__(**{**GPU1.__dict__, "compute_instances": tuple(
        ComputeInstance(1, ci, 0, "1c.3g.20gb", 0, 1) for ci in range(3)),
        "mig_devices": tuple(MigDevice(f"MIG-{ci}", 1, ci, "1c.3g.20gb") for ci in range(3))})
    specs = triton.live_specs(host_gpus(gpu), settings)
    assert [s.name for s in specs] == ["triton-gpu1-s4", "triton-gpu1-s4-c1", "triton-gpu1-s4-c2"]
    # this driver printed no CI placements: places follow the CI order
    assert [uuid_at(gpu, s) for s in specs] == ["MIG-0", "MIG-1", "MIG-2"]


def test_converged_host_keeps_every_container(settings):
    specs = triton.live_specs(GPUS, settings, "m1")
    running = [running_from(s, uuid_at(GPUS[s.place.gpu_uuid], s)) for s in specs]
    bound = {k: v for g in GPUS.values() for k, v in triton.stable_devices(g, placed.live(g)).items()}
    plan = triton.plan_tritons(specs, running, bound)
    assert plan.converged and len(plan.unchanged) == 8


def test_fresh_host_starts_everything(settings):
    specs = triton.live_specs(GPUS, settings, "m1")
    plan = triton.plan_tritons(specs, [], {})
    assert plan.to_start == tuple(specs) and plan.to_remove == ()


def test_a_mig_change_on_one_gpu_restarts_only_the_tritons_on_what_changes(settings):
    specs = triton.live_specs(GPUS, settings, "m1")
    running = [running_from(s, uuid_at(GPUS[s.place.gpu_uuid], s)) for s in specs]
    # GPU 1 goes from one 3g.20gb at 4 to 3g.20gb at 4 plus 2g.10gb at 0: the 3g stays
    target = placed.GpuLayout(placed.ENABLED, placed.live(GPU1).gis + (placed.PlacedGi(0, 14, (1,)),))
    bound = {**triton.stable_devices(GPU0, placed.live(GPU0)), **triton.stable_devices(GPU1, target)}
    after = triton.specs_for({GPU0.uuid: (0, placed.live(GPU0), None), GPU1.uuid: (1, target, None)}, settings, "m1")
    plan = triton.plan_tritons(after, running, bound)
    assert [s.name for s in plan.to_start] == ["triton-gpu1-s0"]
    assert plan.to_remove == () and len(plan.unchanged) == 8


def test_dead_changed_or_rebound_containers_restart_and_strays_go(settings):
    specs = triton.live_specs(GPUS, settings, "m1")
    bound = {k: v for g in GPUS.values() for k, v in triton.stable_devices(g, placed.live(g)).items()}
    running = [running_from(s, uuid_at(GPUS[s.place.gpu_uuid], s)) for s in specs]
    running[0] = running_from(specs[0], uuid_at(GPU0, specs[0]), status="exited")
    running[1] = running_from(specs[1], uuid_at(GPU0, specs[1]), config_hash="stale")
    running[2] = running_from(specs[2], "MIG-of-another-boot")
    stray = running_from(specs[3], "MIG-x").__class__(name="triton-gpu3-s0", id="x", image="i", status="running",
                                                    labels={"migfleet.role": "triton"})
    plan = triton.plan_tritons(specs, running + [stray], bound)
    assert [s.name for s in plan.to_start] == ["triton-gpu0-s0", "triton-gpu0-s1", "triton-gpu0-s2"]
    assert plan.to_remove == ("triton-gpu3-s0",)


def test_port_range_and_collisions_are_refused(settings):
    with pytest.raises(triton.TritonPlanError, match="leaves no port for GPU 0"):
        triton.live_specs(GPUS, dict(settings, triton_port_base=65000))


def test_run_file_carries_the_arguments_with_the_uuid_left_open(settings):
    (spec,) = triton.live_specs(host_gpus(GPU1), settings, "m1")
    import json
    data = json.loads(spec.to_json())
    assert (data["gpu_uuid"], data["gi_start"], data["ci_start"]) == (GPU1.uuid, 4, 0)
    assert data["config"] == spec.config_hash and triton.MIG_UUID in " ".join(data["args"])
    assert not any(a.startswith("MIG-") for a in data["args"])
