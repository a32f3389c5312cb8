"""What the serving deploys share for one host and run: the Tritons once this run's MIG changes are
made, which of them stay, start, roll or leave, and whether the host as a whole must drain.
Computed once per host per run from context's host read and MIG plans."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from migfleet.deploys import context
from migfleet.deploys.context import mig_work, once_per_host, settings, view
from migfleet.mig import catalog, placed
from migfleet.mig.geometry import Geometry
from migfleet.serving import rotation, triton
from migfleet.serving.containers import LABEL_GPU_UUID, LABEL_PLACE
from migfleet.inventory.paths import local_path, models_in
from migfleet.local_digests import LocalFile, local_files


def layouts_after() -> dict[str, tuple[int, placed.GpuLayout, Geometry | None]]:
    """Every GPU's layout once this run's MIG changes are made: the target where planned, the live
    layout where no rule selects the GPU (left alone)."""
    v, work = view(), mig_work()
    out = {}
    for uuid, gpu in v.gpus.items():
        if uuid in work:
            out[uuid] = (gpu.index, work[uuid].plan.target, work[uuid].geometry)
        else:
            out[uuid] = (gpu.index, placed.live(gpu), catalog.lookup(gpu.name))
    return out


def stable_devices() -> dict[str, str]:
    """{place key: MIG UUID} of the MIG devices this run's MIG changes leave in place."""
    v, work = view(), mig_work()
    out = {}
    for uuid, gpu in v.gpus.items():
        target = work[uuid].plan.target if uuid in work else placed.live(gpu)
        out.update(triton.stable_devices(gpu, target))
    return out


def rotation_config() -> str:
    """What the host-side rotation reads (serving.rotation.HOST_CONFIG)."""
    return json.dumps(rotation.host_config(settings()), indent=1, sort_keys=True) + "\n"


def model_repository() -> Path:
    """The local model repository (validate refused the inventory if it is missing or holds no model)."""
    return local_path(settings()["triton_model_repository"], context.inventory_folder())


def local_models() -> dict[str, LocalFile]:
    """The local model repository: relative path -> local file and its sha256 (caches skipped)."""
    return _models_at(str(model_repository()))


@lru_cache(maxsize=8)
def _models_at(path: str) -> dict[str, LocalFile]:
    """Listed once per run and repository, not once per host; a file is read only when the digest
    cache (local_digests) has no entry for its size and mtime, and uploaded from its path."""
    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"triton_model_repository {root} is not a directory")
    # (a name holding a newline cannot be a manifest line: facts.trees leaves it out on the host too)
    return local_files(root, [p for p in sorted(root.rglob("*")) if p.is_file() and "__pycache__" not in p.parts
                              and p.suffix != ".pyc" and "\n" not in p.name])


def models_digest() -> str:
    return _digest_of(str(model_repository()))


@lru_cache(maxsize=8)
def _digest_of(path: str) -> str:
    h = hashlib.sha256()
    for name, found in sorted(_models_at(path).items()):
        h.update(name.encode() + b"\0" + found.sha256.encode())
    return h.hexdigest()[:16]


def every_model() -> tuple[str, ...]:
    """The models of the local repository (what a Triton loads when its instance lists none)."""
    return tuple(models_in(model_repository()))


@once_per_host
def triton_specs() -> list[triton.Triton]:
    """The Tritons once this run's MIG changes are made, by place, each with its models."""
    models = {uuid: triton.gi_models(w.desired.instances, w.plan.target, w.geometry) for uuid, w in mig_work().items()}
    return triton.specs_for(layouts_after(), settings(), models_digest(), models, every_model())


@dataclass(frozen=True)
class ServingWork:
    plan: triton.TritonPlan
    rolling: tuple[str, ...]        # replaced in place, one at a time
    at_once: dict[str, tuple[str, ...]]   # GPU uuid -> its Tritons stopped before its MIG change ("" strays)
    host_drain: bool                # the change takes all of the host's serving capacity


@once_per_host
def serving_work() -> ServingWork:
    v, work, stable = view(), mig_work(), stable_devices()
    plan = triton.plan_tritons(triton_specs(), v.containers, stable)
    tritons = [c for c in v.containers if c.role == triton.ROLE]
    at_once: dict[str, tuple[str, ...]] = {}
    for uuid, w in work.items():
        doomed = sorted(c.name for c in tritons if not w.plan.converged and c.labels.get(LABEL_GPU_UUID) == uuid
                        and c.labels.get(LABEL_PLACE) not in stable)
        if doomed:
            at_once[uuid] = tuple(doomed)
    gone = {n for names in at_once.values() for n in names} | set(plan.to_remove)
    running = {c.name for c in tritons if c.alive}
    rolling = tuple(s.name for s in plan.to_start if s.name in running and s.name not in gone)
    fresh = [s for s in plan.to_start if s.name not in rolling]
    left = running - gone
    reboot = any(a.kind == "reboot" for w in work.values() for a in w.plan.actions)
    host_drain = bool(running) and (not left or reboot or (bool(rolling) and len(left) + len(fresh) <= 1))
    return ServingWork(plan, rolling, at_once, host_drain)
