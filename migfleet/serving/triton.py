"""One Triton container per MIG device, identified by the device's place, never by driver ids.

A place is (GPU UUID, GPU instance start, compute instance start): it comes from the placed
layout, so it is known before the instances exist and survives their re-creation at boot.
Names, ports, `docker run` arguments and the config hash all derive from it; the MIG UUID is
filled in only when the container starts (by `migfleet.serving.rebind`, on the host), so the
hash is the same whatever UUID the driver gave the device.
"""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from migfleet.mig import catalog, desired
from migfleet.serving.models import CONTAINER_SERVED_DIR, SERVED_DIR, load_script, settings_from_json, settings_json, split_models
from migfleet.mig.geometry import CI_SLICES, Geometry
from migfleet.mig.placed import ENABLED, GpuLayout, live
from migfleet.mig.plan import live_models
from migfleet.mig.state import GpuState
from migfleet.serving.containers import (
    LABEL_CONFIG, LABEL_GPU_UUID, LABEL_MIG_UUID, LABEL_PLACE, LABEL_ROLE, TRITON_ROLE, config_hash,
)

ROLE = TRITON_ROLE
CONTAINER_MODEL_DIR = "/models"
READY_PATH = "/v2/health/ready"


def model_ready_path(model: str) -> str:
    """Where a Triton answers 200 once this model is loaded and ready (KServe v2)."""
    return f"/v2/models/{model}/ready"
RUN_DIR = "/etc/migfleet/tritons"
RUN_SUFFIX = ".json"
MIG_UUID = "@MIG_UUID@"          # stands for the device's MIG UUID in run files
LOAD_MODELS = "@LOAD_MODELS@"    # in an older run file: one --load-model=NAME per model it loads


class TritonPlanError(ValueError):
    pass


ModelsAt = Mapping[str, Mapping[int, Sequence]]     # GPU UUID -> GPU instance start -> models (desired.ServedModel)


def place_key(gpu_uuid: str, gi_start: int, ci_start: int) -> str:
    """The one spelling of a place: "<GPU UUID>/<GI start>/<CI start>" (container label, Envoy's
    listener template, the deploy's plan)."""
    return f"{gpu_uuid}/{gi_start}/{ci_start}"


def ci_starts(ci_profile_ids) -> list[int]:
    """Where each compute instance of a GPU instance starts, in CI order: they follow each other
    from slice 0, as the driver places them."""
    out, start = [], 0
    for ci in ci_profile_ids:
        out.append(start)
        start += CI_SLICES.get(ci, 1)
    return out


@dataclass(frozen=True, order=True)
class Place:
    gpu_index: int
    gi_start: int
    ci_start: int
    gpu_uuid: str
    profile: str                # GPU instance profile name, "1g.10gb"

    @property
    def key(self) -> str:
        return place_key(self.gpu_uuid, self.gi_start, self.ci_start)


@dataclass(frozen=True)
class TritonPorts:
    http: int
    grpc: int
    metrics: int


@dataclass(frozen=True)
class Device:
    """The MIG device now at a place: what the driver calls it until the instance is re-created."""
    uuid: str                   # MIG-...
    gi_id: int                  # GPU instance id (dcgm-exporter's GPU_I_ID)


@dataclass(frozen=True)
class Triton:
    """One Triton: its place, ports, `docker run` arguments and config hash, and (once bound) the MIG
    device it runs on. Its run file (`to_json`/`from_json`) is what the host-side start reads."""
    name: str                   # triton-gpu0-s4, or triton-gpu0-s4-c1 for a CI not at slice 0
    place: Place
    ports: TritonPorts
    run_args: tuple[str, ...]   # `docker run` arguments, MIG_UUID where the device goes, no config label
    config_hash: str
    models: tuple[str, ...] = ()    # what it loads (explicit model control); not in its config hash
    # requests/s it serves of each model (the capacity table's rate for its profile): its Envoy weight
    capacity: tuple[tuple[str, float], ...] = ()
    # its models' Triton settings, applied as they load; not in its config hash: a change reloads in place
    settings: tuple[desired.ServedModel, ...] = ()
    # the MIG device at its place now (None until bound); not part of its identity: the same Triton
    # is re-bound to a new device at every boot
    device: Device | None = field(default=None, compare=False)

    def bound(self, device: Device | None) -> "Triton":
        return replace(self, device=device)

    @property
    def mig_uuid(self) -> str:
        return self.device.uuid if self.device else "none"

    def to_json(self) -> str:
        """The run file (RUN_DIR/<name>.json); the device is left out (it changes at every boot)."""
        p = self.place
        return json.dumps({"name": self.name, "gpu_index": p.gpu_index, "gpu_uuid": p.gpu_uuid,
                           "gi_start": p.gi_start, "ci_start": p.ci_start, "profile": p.profile,
                           "http_port": self.ports.http, "grpc_port": self.ports.grpc,
                           "metrics_port": self.ports.metrics, "models": list(self.models),
                           "capacity": dict(self.capacity), "args": list(self.run_args), "config": self.config_hash,
                           **({"settings": settings_json(self.settings)} if self.settings else {})}, indent=1) + "\n"

    @classmethod
    def from_json(cls, text: str) -> "Triton":
        """A run file back; TritonPlanError naming what is missing or malformed."""
        try:
            d = json.loads(text)
            # older run files lack the GPU index, profile, metrics port and models: read as their names said
            index = d["gpu_index"] if "gpu_index" in d else int(str(d["name"]).split("-")[1].removeprefix("gpu"))
            place = Place(int(index), int(d["gi_start"]), int(d["ci_start"]), str(d["gpu_uuid"]), str(d.get("profile", "")))
            ports = TritonPorts(int(d["http_port"]), int(d["grpc_port"]), int(d.get("metrics_port", d["http_port"] + 2)))
            return cls(str(d["name"]), place, ports, tuple(str(a) for a in d["args"]), str(d["config"]),
                       tuple(str(m) for m in d.get("models", ())),
                       tuple((str(m), float(r)) for m, r in sorted(dict(d.get("capacity") or {}).items())),
                       settings_from_json(d.get("settings") or {}))
        except (ValueError, KeyError, TypeError, IndexError) as e:
            raise TritonPlanError(f"run file is not a Triton's ({type(e).__name__}: {e}): {text[:200]!r}") from None


def run_args_for(run_args: Sequence[str], config: str, mig_uuid: str, models: Sequence[str] = ()) -> list[str]:
    """`docker run` arguments for one device: its UUID filled in, its models to load, the config-hash
    label added (the deploy's and the host's start use this one function)."""
    filled = []
    for a in run_args:
        filled += [f"--load-model={m}" for m in models] if a == LOAD_MODELS else [a.replace(MIG_UUID, mig_uuid)]
    at = filled.index("--label")
    return filled[:at] + ["--label", f"{LABEL_CONFIG}={config}"] + filled[at:]


def container_name(place: Place) -> str:
    base = f"triton-gpu{place.gpu_index}-s{place.gi_start}"
    return base if place.ci_start == 0 else f"{base}-c{place.ci_start}"


def ports_for(port_base: int, gpu_index: int, gi_start: int, ci_start: int) -> TritonPorts:
    if not (0 <= gi_start <= 9 and 0 <= ci_start <= 9):
        raise TritonPlanError(f"placement out of range for port allocation: gi_start={gi_start} ci_start={ci_start}")
    http = port_base + 1000 * gpu_index + 100 * gi_start + 10 * ci_start
    if http + 2 > 65535:
        raise TritonPlanError(f"triton_port_base {port_base} leaves no port for GPU {gpu_index} (would need {http + 2})")
    return TritonPorts(http=http, grpc=http + 1, metrics=http + 2)


def places(gpu_index: int, gpu_uuid: str, layout: GpuLayout, geometry: Geometry | None) -> list[Place]:
    """Every MIG device's place on a GPU holding `layout`."""
    if not layout.mig:
        return []
    out = []
    for gi in layout.gis:
        name = geometry.profile(gi.profile_id).name if geometry else f"profile {gi.profile_id}"
        out += [Place(gpu_index, gi.start, start, gpu_uuid, name) for start in ci_starts(gi.cis)]
    return out


def live_devices(gpu: GpuState) -> dict[tuple[int, int], Device]:
    """{(GI start, CI start): MIG device} of a GPU now; CI starts by order where the driver prints none."""
    gi_start = {g.gi_id: g.start for g in gpu.gpu_instances}
    ci_start = {}
    for gi_id in gi_start:
        cis = sorted((c for c in gpu.compute_instances if c.gi_id == gi_id), key=lambda c: c.ci_id)
        starts = ci_starts(c.profile_id for c in cis) if len(cis) > 1 and not any(c.start for c in cis) \
            else [c.start for c in cis]
        ci_start.update({(gi_id, c.ci_id): s for c, s in zip(cis, starts)})
    return {(gi_start[d.gi_id], ci_start.get((d.gi_id, d.ci_id), 0)): Device(d.uuid, d.gi_id)
            for d in gpu.mig_devices if d.gi_id in gi_start}


def devices(gpus: Mapping[str, GpuState]) -> dict[str, Device]:
    """{place key: MIG device} of every GPU now."""
    return {place_key(uuid, gi, ci): dev for uuid, gpu in gpus.items()
            for (gi, ci), dev in live_devices(gpu).items()}


def spec_for(place: Place, settings: Mapping, models_digest: str = "", models: Sequence = ()) -> Triton:
    name = container_name(place)
    ports = ports_for(settings["triton_port_base"], place.gpu_index, place.gi_start, place.ci_start)
    server_args = [
        # a shell reads the Triton's served file at every start, Docker's restarts too (serving.models)
        "/bin/sh", "-c", load_script(name), name, "tritonserver",
        f"--model-repository={CONTAINER_MODEL_DIR}",
        "--http-address=127.0.0.1", f"--http-port={ports.http}",
        "--grpc-address=127.0.0.1", f"--grpc-port={ports.grpc}",
        "--metrics-address=127.0.0.1", f"--metrics-port={ports.metrics}",
        "--strict-readiness=true",
        # Explicit model control: it loads exactly its models at start, and the rotation loads and
        # unloads them later without a restart (https://github.com/triton-inference-server/server/blob/main/docs/user_guide/model_management.md)
        "--model-control-mode=explicit",
        *settings["triton_server_args"],
    ]
    flags = [
        "-d", "--name", name,
        "--runtime=nvidia", "-e", f"NVIDIA_VISIBLE_DEVICES={MIG_UUID}",
        "--network", "host", "--restart", "unless-stopped",
        "-v", f"{settings['triton_model_dir']}:{CONTAINER_MODEL_DIR}:ro",
        "-v", f"{SERVED_DIR}:{CONTAINER_SERVED_DIR}:ro",
        "--label", f"{LABEL_ROLE}={ROLE}",
        "--label", f"{LABEL_MIG_UUID}={MIG_UUID}",
        "--label", f"{LABEL_GPU_UUID}={place.gpu_uuid}",
        "--label", f"{LABEL_PLACE}={place.key}",
        *settings["triton_docker_args"],
    ]
    args = (*flags, settings["triton_image"], *server_args)
    names, with_settings = split_models(models)
    return Triton(name, place, ports, args, config_hash(args, f"models={models_digest}"), names, settings=with_settings)


def specs_for(layouts: Mapping[str, tuple[int, GpuLayout, Geometry | None]], settings: Mapping,
              models_digest: str = "", models: ModelsAt | None = None, every_model: Sequence[str] = ()) -> list[Triton]:
    """One spec per MIG device of {gpu uuid: (index, layout, geometry)}, ports checked distinct; each
    loads the models `models` gives its GPU instance, else `every_model` (the repository's)."""
    models = models or {}
    specs = [spec_for(p, settings, models_digest, models.get(uuid, {}).get(p.gi_start) or every_model)
             for uuid, (index, layout, geo) in sorted(layouts.items(), key=lambda kv: kv[1][0])
             for p in places(index, uuid, layout, geo)]
    seen: dict[int, str] = {}
    for spec in specs:
        for port in (spec.ports.http, spec.ports.grpc, spec.ports.metrics):
            if port in seen:
                raise TritonPlanError(f"port {port} allocated to both {seen[port]} and {spec.name}")
            seen[port] = spec.name
    return specs


@dataclass(frozen=True)
class TritonPlan:
    to_remove: tuple[str, ...]              # containers no place wants any more
    to_start: tuple[Triton, ...]        # (re)started on the MIG device at their place
    unchanged: tuple[Triton, ...]

    @property
    def converged(self) -> bool:
        return not self.to_remove and not self.to_start


def plan_tritons(specs: Sequence[Triton], containers, bound: Mapping[str, str]) -> TritonPlan:
    """Which Tritons stay, start and go.

    A container stays only when it runs (or restarts under its policy) with the wanted config
    hash on the MIG UUID that will still be at its place after this run's MIG change (`bound`:
    place key -> MIG UUID, for the devices the MIG plans leave alone).
    """
    present = {c.name: c for c in containers if c.role == ROLE}
    unchanged, to_start = [], []
    for spec in specs:
        c = present.get(spec.name)
        uuid = bound.get(spec.place.key)
        if (c is not None and c.alive and c.config_hash == spec.config_hash and uuid is not None
                and c.labels.get(LABEL_MIG_UUID) == uuid):
            unchanged.append(spec)
        else:
            to_start.append(spec)
    wanted = {s.name for s in specs}
    return TritonPlan(tuple(sorted(n for n in present if n not in wanted)), tuple(to_start), tuple(unchanged))


def stable_devices(gpu: GpuState, target: GpuLayout) -> dict[str, str]:
    """{place key: MIG UUID} of the devices a GPU keeps through its MIG change (GIs equal in the
    live layout and the target)."""
    now = live(gpu)
    kept = {g.start for g in target.gis if now.at(g.start) == g} if now.mode == target.mode else set()
    return {place_key(gpu.uuid, gi, ci): dev.uuid for (gi, ci), dev in live_devices(gpu).items() if gi in kept}


def live_specs(gpus: Mapping[str, GpuState], settings: Mapping, models_digest: str = "",
               rules: Sequence[Mapping] = (), every_model: Sequence[str] = ()) -> list[Triton]:
    """The Tritons the GPUs' live placed layouts call for (GPUs whose MIG mode is on and settled),
    each bound to the MIG device now at its place (None where there is none), with the models the
    `mig_layout` rules give them."""
    layouts = {u: (g.index, live(g), catalog.lookup(g.name)) for u, g in gpus.items() if live(g).mode == ENABLED}
    try:
        wanted = desired.resolve(rules, gpus) if rules else {}
    except desired.RuleError:
        wanted = {}
    models = {u: live_models(gpus[u], wanted[u], geo) for u, (_, layout, geo) in layouts.items()
              if u in wanted and geo is not None}
    at = devices(gpus)
    return [t.bound(at.get(t.place.key)) for t in specs_for(layouts, settings, models_digest, models, every_model)]

