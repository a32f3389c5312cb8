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

from migfleet.serving.containers import (
    LABEL_CONFIG, LABEL_GPU_UUID, LABEL_MIG_UUID, LABEL_ROLE, Container, label_value,
)
from migfleet.mig.state import GpuState

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


# -- re-bind after a reboot -------------------------------------------------------------------
# The boot unit re-creates the MIG instances at the same places, but their MIG UUIDs change, so
# Docker's restart of a Triton bound to the old UUID fails. The deploy leaves, per Triton, its
# `docker run` arguments with the UUID left open and the place of its MIG device (RUN_DIR/<name>.run);
# at boot REBIND_SCRIPT finds the device now at that place and runs the Triton again on it.

RUN_DIR = "/etc/migfleet/tritons"
RUN_SUFFIX = ".run"
REBIND_SCRIPT = "/usr/local/sbin/migfleet-tritons-rebind"
MIG_UUID_PLACEHOLDER = "@MIG_UUID@"


@dataclass(frozen=True)
class MigPlace:
    """Where a MIG device sits, in terms that survive its re-creation at boot."""
    gpu_uuid: str
    gi_profile_id: int
    gi_start: int
    ci_profile_id: int
    ci_start: int


def mig_place(gpu: GpuState, gi_id: int, ci_id: int) -> MigPlace:
    gi = next((g for g in gpu.gpu_instances if g.gi_id == gi_id), None)
    ci = next((c for c in gpu.compute_instances if (c.gi_id, c.ci_id) == (gi_id, ci_id)), None)
    if gi is None or ci is None:
        raise TritonPlanError(f"GPU {gpu.index} ({gpu.uuid}): no GPU instance {gi_id} with compute instance "
                              f"{ci_id} in the snapshot (GIs {[g.gi_id for g in gpu.gpu_instances]}, "
                              f"CIs {[(c.gi_id, c.ci_id) for c in gpu.compute_instances]})")
    return MigPlace(gpu.uuid, gi.profile_id, gi.start, ci.profile_id, ci.start)


def run_file_text(spec: TritonSpec, place: MigPlace, models_digest: str = "") -> str:
    """What REBIND_SCRIPT needs to run this Triton again on another MIG UUID at the same place.

    `arg` lines are the `docker run` arguments the config hash covers, in order, with the MIG UUID
    replaced by MIG_UUID_PLACEHOLDER; the `config` line stands where the config-hash label goes.
    """
    config_label = f"{LABEL_CONFIG}={spec.config_hash}"
    lines = [f"# Triton container {spec.name}: `docker run` arguments for the MIG device now at this place.",
             f"# Written by the migfleet deploy, read at boot by {REBIND_SCRIPT}; do not edit.",
             f"gpu {place.gpu_uuid}",
             f"gi {place.gi_profile_id} {place.gi_start}",
             f"ci {place.ci_profile_id} {place.ci_start}",
             f"models {models_digest}"]
    args = list(spec.run_args)
    for i, arg in enumerate(args):
        if arg == "--label" and i + 1 < len(args) and args[i + 1] == config_label:
            lines.append("config")
        elif i > 0 and args[i - 1] == "--label" and arg == config_label:
            continue
        else:
            if "\n" in arg or MIG_UUID_PLACEHOLDER in arg or arg.count(spec.mig_uuid) > 1:
                raise TritonPlanError(f"{spec.name}: argument {arg!r} cannot be written to its run file")
            lines.append("arg " + arg.replace(spec.mig_uuid, MIG_UUID_PLACEHOLDER))
    if lines.count("config") != 1:
        raise TritonPlanError(f"{spec.name}: no single --label {config_label} in its arguments")
    return "\n".join(lines) + "\n"


def run_files(gpus: Mapping[str, GpuState], settings: Mapping, models_digest: str = "") -> dict[str, str]:
    """File name under RUN_DIR -> text, one per Triton the MIG devices call for."""
    out = {}
    for spec in desired_tritons(gpus, settings, models_digest):
        place = mig_place(gpus[spec.gpu_uuid], spec.gi_id, spec.ci_id)
        out[spec.name + RUN_SUFFIX] = run_file_text(spec, place, models_digest)
    return out


# One line per MIG device: GPU UUID, GI profile ID and start, CI profile ID and start, MIG UUID.
# Input: `nvidia-smi -L`, `mig -lgi`, `mig -lci`, `-q`, each after a "@@ <section>" line. -L gives
# device index -> MIG UUID, -q device index -> GI/CI ids, -lgi/-lci ids -> profile and placement.
_DEVICES_AWK = r"""
/^@@ / { sec = $2; next }
sec == "L" && /^GPU [0-9]+: .*\(UUID: / { g = $2; sub(/:$/, "", g); gpu[g] = uuid_in($0); next }
sec == "L" && /^ +MIG .* Device +[0-9]+: \(UUID: / {
  n = $0; sub(/.* Device +/, "", n); sub(/:.*/, "", n); mig[g, n] = uuid_in($0); next }
sec == "lgi" || sec == "lci" { row = $0; gsub(/\|/, " ", row); k = split(row, f, " ") }
sec == "lgi" && k == 6 && f[1] ~ /^[0-9]+$/ && f[2] == "MIG" {
  split(f[6], p, ":"); gi[f[1], f[5]] = f[4] " " p[1]; next }
sec == "lci" && (k == 6 || k == 7) && f[1] ~ /^[0-9]+$/ && f[3] == "MIG" {
  start = 0; if (k == 7) { split(f[7], p, ":"); start = p[1] }
  ci[f[1], f[2], f[6]] = f[5] " " start; next }
sec == "q" && /^GPU [0-9A-Fa-f]+:/ { b++; next }
sec == "q" && /^ +MIG Device *$/ { indev = 1; next }
sec == "q" && indev && $1 == "Index" { di = $NF; next }
sec == "q" && indev && /^ +GPU Instance ID +:/ { dg = $NF; next }
sec == "q" && indev && /^ +Compute Instance ID +:/ { dev[b, di] = dg " " $NF; indev = 0; next }
sec == "q" && /^ +(GPU )?UUID +: +GPU-/ { block[$NF] = b; next }
function uuid_in(s) { sub(/.*\(UUID: /, "", s); sub(/\).*/, "", s); return s }
END {
  for (key in mig) {
    split(key, at, SUBSEP); u = gpu[at[1]]
    if (!((u in block) && ((block[u], at[2]) in dev))) continue
    split(dev[block[u], at[2]], ids, " ")
    if (!((at[1], ids[1]) in gi) || !((at[1], ids[1], ids[2]) in ci)) continue
    print u, gi[at[1], ids[1]], ci[at[1], ids[1], ids[2]], mig[key]
  }
}
"""

_REBIND_SH = r"""#!/bin/sh
# Runs every Triton of __RUN_DIR__ again on the MIG device now at its place:
# the boot unit re-creates the MIG instances, and their new MIG UUIDs differ
# from the ones the containers were bound to.
# Generated by migfleet; do not edit.
set -u
say() { echo "migfleet-tritons: $*"; }
warn() { echo "migfleet-tritons: $*" >&2; }

# a := $1 with the MIG UUID placeholder replaced by $uuid
fill() {
  case $1 in
    *"__PLACEHOLDER__"*) a="${1%%"__PLACEHOLDER__"*}$uuid${1#*"__PLACEHOLDER__"}" ;;
    *) a=$1 ;;
  esac
}

# What the config hash covers (docker run arguments, then models=<digest>), NUL-separated.
hashed() {
  sep='' digest=''
  while IFS= read -r line; do
    case $line in
      "arg "*) fill "${line#arg }"; printf "$sep%s" "$a"; sep='\0' ;;
      models|"models "*) digest=${line#models}; digest=${digest# } ;;
    esac
  done < "$file"
  printf "${sep}models=%s" "$digest"
}

start() {
  set --
  while IFS= read -r line; do
    case $line in
      "arg "*) fill "${line#arg }"; set -- "$@" "$a" ;;
      config) set -- "$@" --label "__LABEL_CONFIG__=$hash" ;;
    esac
  done < "$file"
  docker run "$@" >/dev/null
}

set -- "__RUN_DIR__"/*"__SUFFIX__"
[ -e "$1" ] || { say "no Triton to re-bind in __RUN_DIR__"; exit 0; }

listing=$(nvidia-smi -L) || { warn "nvidia-smi -L failed: $listing"; exit 1; }
gis=$(nvidia-smi mig -lgi)
cis=$(nvidia-smi mig -lci)
query=$(nvidia-smi -q) || { warn "nvidia-smi -q failed"; exit 1; }
devices=$(printf '%s\n' '@@ L' "$listing" '@@ lgi' "$gis" '@@ lci' "$cis" '@@ q' "$query" | awk '__DEVICES_AWK__')

failed=''
for file in "$@"; do
  name=${file##*/}; name=${name%"__SUFFIX__"}
  place=$(awk '$1 == "gpu" { g = $2 } $1 == "gi" { i = $2 " " $3 } $1 == "ci" { c = $2 " " $3 }
               END { print g " " i " " c }' "$file")
  uuid=$(printf '%s\n' "$devices" | awk -v want="$place" '$1" "$2" "$3" "$4" "$5 == want { n++; u = $6 }
                                                           END { if (n == 1) print u }')
  if [ -z "$uuid" ]; then
    warn "$name: no MIG device at its place (GPU, GI profile and start, CI profile and start: $place);" \
         "the MIG layout differs from the last deploy's"
    failed="$failed $name"; continue
  fi
  if bound=$(docker inspect --format '{{index .Config.Labels "__LABEL_MIG_UUID__"}}' "$name" 2>/dev/null); then
    [ "$bound" = "$uuid" ] && { say "$name: bound to $uuid already"; continue; }
    docker rm -f "$name" >/dev/null || { warn "$name: docker rm -f failed"; failed="$failed $name"; continue; }
    say "$name: removed (bound to ${bound:-no MIG device})"
  fi
  hash=$(hashed | sha256sum | cut -c1-16)
  if start; then
    say "$name: started on $uuid"
  else
    warn "$name: docker run failed"; failed="$failed $name"
  fi
done
[ -z "$failed" ] || { warn "not re-bound:$failed"; exit 1; }
say "every Triton is bound to the MIG device at its place"
"""


def rebind_script(run_dir: str = RUN_DIR) -> str:
    """POSIX sh run at boot (migfleet-tritons.service): for each run file, the Triton container is
    started again on the MIG UUID now at its place unless it is bound to it already; a place with
    no MIG device names the container and fails the script after the others are done."""
    if "'" in _DEVICES_AWK:
        raise ValueError("the devices awk program must not contain a single quote")
    values = {"__RUN_DIR__": run_dir, "__SUFFIX__": RUN_SUFFIX, "__PLACEHOLDER__": MIG_UUID_PLACEHOLDER,
              "__LABEL_CONFIG__": LABEL_CONFIG, "__LABEL_MIG_UUID__": LABEL_MIG_UUID,
              "__DEVICES_AWK__": _DEVICES_AWK.strip("\n")}
    script = _REBIND_SH
    for token, value in values.items():
        script = script.replace(token, value)
    return script
