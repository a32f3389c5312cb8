"""One Triton container per MIG device: names, deterministic ports, `docker run` arguments, planning.

Ports depend only on where a MIG device sits (GPU index, its GPU instance's first memory slice,
its compute instance's first slice), never on driver-assigned GI/CI ids or on other GPUs, so a
layout change on one GPU cannot renumber another GPU's Tritons.
"""
from __future__ import annotations

import hashlib
import shlex
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

from migfleet.containers import (
    LABEL_CONFIG, LABEL_GPU_UUID, LABEL_MIG_UUID, LABEL_ROLE, Container, label_value,
)
from migfleet.state import GpuState

ROLE = "triton"
CONTAINER_MODEL_DIR = "/models"
READY_PATH = "/v2/health/ready"
LOG_TAIL_LINES = 50


class TritonPlanError(ValueError):
    pass


@dataclass(frozen=True)
class TritonPorts:
    http: int
    grpc: int
    metrics: int


@dataclass(frozen=True)
class TritonSpec:
    """The Triton one MIG device should have."""
    name: str                 # triton-gpu0-gi7 (…-ci1 for a compute instance other than 0)
    gpu_uuid: str
    gpu_index: int
    mig_uuid: str
    gi_id: int
    ci_id: int
    mig_name: str             # "1g.5gb"
    ports: TritonPorts
    run_args: tuple[str, ...]  # full `docker run` argument list, labels included
    config_hash: str


@dataclass(frozen=True)
class TritonPlan:
    to_remove: tuple[Container, ...]
    to_start: tuple[TritonSpec, ...]
    unchanged: tuple[TritonSpec, ...]

    @property
    def converged(self) -> bool:
        return not self.to_remove and not self.to_start

    def __iter__(self):
        return iter((self.to_remove, self.to_start, self.unchanged))


def container_name(gpu_index: int, gi_id: int, ci_id: int) -> str:
    base = f"triton-gpu{gpu_index}-gi{gi_id}"
    return base if ci_id == 0 else f"{base}-ci{ci_id}"


def ports_for(port_base: int, gpu_index: int, gi_start: int, ci_start: int) -> TritonPorts:
    if not (0 <= gi_start <= 9 and 0 <= ci_start <= 9):
        raise TritonPlanError(f"placement out of range for port allocation: gi_start={gi_start} ci_start={ci_start}")
    http = port_base + 1000 * gpu_index + 100 * gi_start + 10 * ci_start
    if http + 2 > 65535:
        raise TritonPlanError(
            f"triton_port_base {port_base} leaves no port for GPU {gpu_index} (would need {http + 2})")
    return TritonPorts(http=http, grpc=http + 1, metrics=http + 2)


def _config_hash(args: Sequence[str]) -> str:
    return hashlib.sha256("\0".join(args).encode()).hexdigest()[:16]


def docker_run_args(name: str, gpu: GpuState, mig_uuid: str, ports: TritonPorts,
                    settings: Mapping, models_digest: str = "") -> tuple[str, ...]:
    """`docker run` arguments (after `docker run`) for one Triton, with the config-hash label.

    The hash covers every argument plus `models_digest` (the synced model repository's digest),
    so any change of image, ports, device, flags or models recreates the container.
    """
    server_args = [
        "tritonserver",
        f"--model-repository={CONTAINER_MODEL_DIR}",
        "--http-address=127.0.0.1", f"--http-port={ports.http}",
        "--grpc-address=127.0.0.1", f"--grpc-port={ports.grpc}",
        "--metrics-address=127.0.0.1", f"--metrics-port={ports.metrics}",
        "--strict-readiness=true",
        *settings["triton_server_args"],
    ]
    flags = [
        "-d", "--name", name,
        "--runtime=nvidia", "-e", f"NVIDIA_VISIBLE_DEVICES={mig_uuid}",
        "--network", "host", "--restart", "unless-stopped",
        "-v", f"{settings['triton_model_dir']}:{CONTAINER_MODEL_DIR}:ro",
        "--label", f"{LABEL_ROLE}={ROLE}",
        "--label", f"{LABEL_MIG_UUID}={mig_uuid}",
        "--label", f"{LABEL_GPU_UUID}={gpu.uuid}",
        *settings["triton_docker_args"],
    ]
    command = [settings["triton_image"], *server_args]
    digest = _config_hash([*flags, *command, f"models={models_digest}"])
    return (*flags, "--label", f"{LABEL_CONFIG}={digest}", *command)


def desired_tritons(gpus: Mapping[str, GpuState], settings: Mapping,
                    models_digest: str = "") -> list[TritonSpec]:
    """One spec per MIG device of every GPU whose MIG mode is on and not pending a change."""
    specs = []
    for gpu in sorted(gpus.values(), key=lambda g: g.index):
        if not gpu.mig_current or gpu.mode_pending_change:
            continue
        gi_start = {gi.gi_id: gi.start for gi in gpu.gpu_instances}
        ci_start = {(ci.gi_id, ci.ci_id): ci.start for ci in gpu.compute_instances}
        for dev in gpu.mig_devices:
            if dev.gi_id not in gi_start:
                raise TritonPlanError(
                    f"GPU {gpu.index} ({gpu.uuid}): MIG device {dev.uuid} names GPU instance {dev.gi_id}, "
                    f"which the snapshot does not list (GIs: {sorted(gi_start)})")
            ports = ports_for(settings["triton_port_base"], gpu.index, gi_start[dev.gi_id],
                              ci_start.get((dev.gi_id, dev.ci_id), 0))
            name = container_name(gpu.index, dev.gi_id, dev.ci_id)
            args = docker_run_args(name, gpu, dev.uuid, ports, settings, models_digest)
            specs.append(TritonSpec(
                name=name, gpu_uuid=gpu.uuid, gpu_index=gpu.index, mig_uuid=dev.uuid,
                gi_id=dev.gi_id, ci_id=dev.ci_id, mig_name=dev.name, ports=ports,
                run_args=args, config_hash=label_value(args, LABEL_CONFIG)))
    _check_unique(specs)
    return specs


def _check_unique(specs: Sequence[TritonSpec]) -> None:
    seen: dict[int, str] = {}
    for spec in specs:
        for port in (spec.ports.http, spec.ports.grpc, spec.ports.metrics):
            if port in seen:
                raise TritonPlanError(f"port {port} allocated to both {seen[port]} and {spec.name}")
            seen[port] = spec.name


def plan_tritons(gpus: Mapping[str, GpuState], running: Iterable[Container], settings: Mapping,
                 models_digest: str = "") -> TritonPlan:
    """Compare the Tritons the MIG devices call for with the Triton containers present.

    A container is kept only if its name is wanted, it is running (or restarting under its
    restart policy) and its config-hash label matches; otherwise it is removed, and started
    again when still wanted. Containers without the triton role label are ignored.
    """
    wanted = {spec.name: spec for spec in desired_tritons(gpus, settings, models_digest)}
    present = {c.name: c for c in running if c.role == ROLE}
    to_remove, to_start, unchanged = [], [], []
    for name, container in sorted(present.items()):
        spec = wanted.get(name)
        if spec is not None and container.alive and container.config_hash == spec.config_hash:
            unchanged.append(spec)
        else:
            to_remove.append(container)
    kept = {spec.name for spec in unchanged}
    to_start = [spec for name, spec in wanted.items() if name not in kept]
    return TritonPlan(tuple(to_remove), tuple(to_start), tuple(unchanged))


def run_command(spec: TritonSpec) -> str:
    return shlex.join(["docker", "run", *spec.run_args])


def remove_gpu_command(gpu_uuid: str) -> str:
    """Removes every Triton bound to one GPU's MIG devices (before that GPU's layout changes)."""
    return (f"ids=$(docker ps -aq --filter label={LABEL_ROLE}={ROLE} "
            f"--filter {shlex.quote(f'label={LABEL_GPU_UUID}={gpu_uuid}')}); "
            '[ -z "$ids" ] || docker rm -f $ids')


def ready_wait_script(specs: Sequence[TritonSpec], timeout_s: int, poll_s: float = 2) -> str:
    """Shell that waits until every given Triton answers READY_PATH with 200, or fails naming the
    ones that did not and printing their last log lines."""
    items = " ".join(f"{s.name}:{s.ports.http}" for s in specs)
    return (
        f"deadline=$(( $(date +%s) + {int(timeout_s)} )); pending='{items}'; "
        "while :; do still=''; "
        "for item in $pending; do port=${item##*:}; "
        f"curl -fsS -o /dev/null --max-time 2 http://127.0.0.1:$port{READY_PATH} 2>/dev/null"
        ' || still="$still $item"; done; '
        'pending=$still; [ -z "$pending" ] && exit 0; '
        'if [ "$(date +%s)" -ge "$deadline" ]; then '
        "for item in $pending; do name=${item%:*}; port=${item##*:}; "
        f'echo "Triton container $name not ready on 127.0.0.1:$port{READY_PATH} after {int(timeout_s)} s;'
        f' last {LOG_TAIL_LINES} log lines:" >&2; '
        f"docker logs --tail {LOG_TAIL_LINES} $name >&2 2>&1; done; exit 1; fi; "
        f"sleep {poll_s}; done"
    )
