import subprocess
import threading
import time
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from migfleet.serving import triton
from migfleet.serving.containers import Container

from .conftest import a100, host_gpus, running_from


def seven_slices(index: int):
    # nvidia-smi numbers 1g.5gb GIs 7..14 when created on an empty A100-40GB
    return a100(index, [(7 + n, "1g.5gb", n) for n in range(7)])


def test_names_ports_and_run_args(settings):
    gpus = host_gpus(a100(0, [(1, "3g.20gb", 4), (2, "3g.20gb", 0)]))
    specs = triton.desired_tritons(gpus, settings)
    assert [s.name for s in specs] == ["triton-gpu0-gi1", "triton-gpu0-gi2"]
    by_name = {s.name: s for s in specs}
    assert by_name["triton-gpu0-gi1"].ports == triton.TritonPorts(20400, 20401, 20402)
    assert by_name["triton-gpu0-gi2"].ports == triton.TritonPorts(20000, 20001, 20002)
    args = by_name["triton-gpu0-gi1"].run_args
    mig_uuid = gpus["GPU-00000000-aaaa-bbbb-cccc-000000000000"].mig_devices[0].uuid
    assert f"NVIDIA_VISIBLE_DEVICES={mig_uuid}" in args
    for flag in ("--runtime=nvidia", "--strict-readiness=true", "--http-address=127.0.0.1",
                 "--grpc-address=127.0.0.1", "--metrics-address=127.0.0.1", "--http-port=20400"):
        assert flag in args
    assert args[args.index("--network") + 1] == "host"
    assert args[args.index("--restart") + 1] == "unless-stopped"
    assert f"migfleet.mig_uuid={mig_uuid}" in args
    assert args.index(settings["triton_image"]) == args.index("tritonserver") - 1
    assert triton.run_command(by_name["triton-gpu0-gi1"]).startswith("docker run -d --name triton-gpu0-gi1 ")


def test_second_compute_instance_gets_its_own_name_and_ports(settings):
    gpu = a100(0, [(1, "3g.20gb", 4)])
    from migfleet.mig.state import ComputeInstance, MigDevice
    gpu = replace(gpu,
                  compute_instances=gpu.compute_instances + (ComputeInstance(1, 1, 0, "1c.3g.20gb", 1, 1),),
                  mig_devices=gpu.mig_devices + (MigDevice("MIG-second-ci", 1, 1, "1c.3g.20gb"),))
    specs = {s.name: s for s in triton.desired_tritons(host_gpus(gpu), settings)}
    assert specs["triton-gpu0-gi1-ci1"].ports.http == 20410


def test_already_converged(settings):
    gpus = host_gpus(seven_slices(0), seven_slices(1))
    specs = triton.desired_tritons(gpus, settings, "m1")
    plan = triton.plan_tritons(gpus, [running_from(s) for s in specs], settings, "m1")
    assert plan.converged
    assert plan.to_remove == () and plan.to_start == ()
    assert len(plan.unchanged) == 14


def test_fresh_host_starts_everything(settings):
    gpus = host_gpus(seven_slices(0))
    to_remove, to_start, unchanged = triton.plan_tritons(gpus, [], settings)
    assert to_remove == () and unchanged == ()
    assert [s.name for s in to_start] == [f"triton-gpu0-gi{g}" for g in range(7, 14)]


def test_layout_change_on_one_gpu_touches_only_that_gpu(settings):
    before = host_gpus(seven_slices(0), seven_slices(1))
    running = [running_from(s) for s in triton.desired_tritons(before, settings)]
    after = host_gpus(seven_slices(0), a100(1, [(1, "3g.20gb", 4), (2, "3g.20gb", 0)]))
    plan = triton.plan_tritons(after, running, settings)
    assert {c.name for c in plan.to_remove} == {f"triton-gpu1-gi{g}" for g in range(7, 14)}
    assert {s.name for s in plan.to_start} == {"triton-gpu1-gi1", "triton-gpu1-gi2"}
    assert {s.name for s in plan.unchanged} == {f"triton-gpu0-gi{g}" for g in range(7, 14)}
    # GPU 0's ports are those it had before the change
    old = {s.name: s.ports for s in triton.desired_tritons(before, settings)}
    assert all(s.ports == old[s.name] for s in plan.unchanged)


def test_same_name_new_mig_uuid_is_recreated(settings):
    before = host_gpus(a100(0, [(1, "3g.20gb", 4)]))
    running = [running_from(s) for s in triton.desired_tritons(before, settings)]
    gpu = next(iter(before.values()))
    dev = replace(gpu.mig_devices[0], uuid="MIG-recreated-instance")
    plan = triton.plan_tritons(host_gpus(replace(gpu, mig_devices=(dev,))), running, settings)
    assert [c.name for c in plan.to_remove] == ["triton-gpu0-gi1"]
    assert [s.mig_uuid for s in plan.to_start] == ["MIG-recreated-instance"]


def test_changed_settings_or_models_or_dead_container_recreate(settings):
    gpus = host_gpus(a100(0, [(1, "3g.20gb", 4), (2, "3g.20gb", 0)]))
    specs = triton.desired_tritons(gpus, settings, "m1")
    running = [running_from(specs[0], status="exited"), running_from(specs[1])]
    plan = triton.plan_tritons(gpus, running, settings, "m1")
    assert [c.name for c in plan.to_remove] == [specs[0].name]
    assert [s.name for s in plan.unchanged] == [specs[1].name]

    plan = triton.plan_tritons(gpus, [running_from(s) for s in specs], settings, "m2")
    assert len(plan.to_remove) == 2 and len(plan.to_start) == 2

    newer = dict(settings, triton_image="nvcr.io/nvidia/tritonserver:25.11-py3")
    plan = triton.plan_tritons(gpus, [running_from(s) for s in specs], newer, "m1")
    assert len(plan.to_start) == 2 and not plan.unchanged


def test_containers_of_vanished_devices_and_mig_disabled_gpus_are_removed(settings):
    before = host_gpus(seven_slices(0))
    running = [running_from(s) for s in triton.desired_tritons(before, settings)]
    envoy = Container("migfleet-envoy", "e1", "envoyproxy/envoy:v1.40-latest", "running",
                      {"migfleet.role": "envoy"})
    plan = triton.plan_tritons(host_gpus(a100(0, [], mig=False)), running + [envoy], settings)
    assert len(plan.to_remove) == 7 and plan.to_start == () and plan.unchanged == ()
    pending = host_gpus(a100(0, [(7, "1g.5gb", 0)], mig=True, pending=False))
    assert triton.desired_tritons(pending, settings) == []


def test_port_base_overflow_and_unknown_gi_are_refused(settings):
    gpus = host_gpus(a100(1, [(1, "3g.20gb", 4)]))
    with pytest.raises(triton.TritonPlanError, match="leaves no port for GPU 1"):
        triton.desired_tritons(gpus, dict(settings, triton_port_base=65000))
    gpu = next(iter(gpus.values()))
    broken = replace(gpu, gpu_instances=())
    with pytest.raises(triton.TritonPlanError, match="GPU instance 1"):
        triton.desired_tritons(host_gpus(broken), settings)


def test_remove_gpu_command_filters_on_gpu_label():
    cmd = triton.remove_gpu_command("GPU-1234")
    assert "--filter label=migfleet.role=triton" in cmd
    assert "label=migfleet.gpu_uuid=GPU-1234" in cmd


class _Ready(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == triton.READY_PATH else 404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_ready_wait_script_against_a_live_and_a_dead_port(settings):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ready)
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = triton.desired_tritons(host_gpus(a100(0, [(1, "3g.20gb", 4)])), settings)[0]
        live = replace(base, name="triton-live", ports=triton.TritonPorts(port, port + 1, port + 2))
        ok = subprocess.run(["sh", "-c", triton.ready_wait_script([live], timeout_s=10, poll_s=0.2)],
                            capture_output=True, text=True, timeout=30)
        assert ok.returncode == 0, ok.stderr
        dead_port = port + 1 if port < 65000 else port - 1
        dead = replace(base, name="triton-dead", ports=triton.TritonPorts(dead_port, 1, 2))
        started = time.monotonic()
        failed = subprocess.run(["sh", "-c", triton.ready_wait_script([live, dead], timeout_s=1, poll_s=0.2)],
                                capture_output=True, text=True, timeout=30)
        assert failed.returncode == 1
        assert f"Triton container triton-dead not ready on 127.0.0.1:{dead_port}" in failed.stderr
        assert "triton-live" not in failed.stderr
        assert time.monotonic() - started < 15
    finally:
        server.shutdown()
        server.server_close()
