"""What the serving deploys share for one host and run: the Tritons once this run's MIG changes are
made, which of them stay, start, roll or leave, and whether the host as a whole must drain.
Computed once per host per run from context's host read and MIG plans."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

from pyinfra import host

from migfleet.deploys import context
from migfleet.deploys.context import mig_work, once_per_host, settings, view
from migfleet.mig import catalog, placed
from migfleet.facts.served import ServedModels
from migfleet.mig.geometry import Geometry
from migfleet.serving import rotation, triton
from migfleet.serving.models import instance_mib, plan_lends
from migfleet.serving.containers import LABEL_GPU_UUID, LABEL_PLACE
from migfleet.inventory import model_files
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
    wanted = endpoints_models()
    return json.dumps(rotation.host_config(settings(), {m: mib for m, mib in model_mib().items() if m in wanted}),
                      indent=1, sort_keys=True) + "\n"


def endpoints_models() -> set[str]:
    """The models some Triton of the host loads once this run is done."""
    return {m for t in triton_specs() for m in t.models}


def model_mib() -> dict[str, float]:
    """MiB one loaded copy of each model of the repository takes: the capacity table's `memory_mib`
    where it gives one, else the size of the model's files."""
    sizes: dict[str, float] = {}
    for name, found in local_models().items():
        model = name.split("/", 1)[0]
        sizes[model] = sizes.get(model, 0.0) + Path(found.path).stat().st_size / (1 << 20)
    table = capacity_table()
    return {m: (table.model_memory.get(m, v) if table else v) for m, v in sizes.items() if m in every_model()}


def capacity_table():
    """The inventory's `triton_capacity_table` (advise's capacity table format), None when unset."""
    value = settings()["triton_capacity_table"]
    return _table(str(local_path(value, context.inventory_folder()))) if value else None


@lru_cache(maxsize=8)
def _table(path: str):
    from migfleet.advise import capacity
    try:
        return capacity.load([path])
    except capacity.CapacityError as e:
        raise context.HostMigError(f"triton_capacity_table: {e}") from None


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
    # validate's walk (links out of the repository never uploaded, caches and newline names skipped)
    return local_files(root, model_files.walk(root).files)


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
    models = {uuid: w.plan.models for uuid, w in mig_work().items()}
    layouts, table = layouts_after(), capacity_table()
    specs = triton.specs_for(layouts, settings(), models_digest(), models, every_model())
    if table is None:
        return specs
    gpu_model = {uuid: geo.model for uuid, (_, _, geo) in layouts.items() if geo is not None}
    return [replace(t, capacity=tuple(sorted((m, r) for m in t.models if (r := table.rps(
        gpu_model.get(t.place.gpu_uuid, ""), t.place.profile, m)) > 0))) for t in specs]


@dataclass(frozen=True)
class ServingWork:
    plan: triton.TritonPlan
    rolling: tuple[str, ...]        # replaced in place, one at a time
    at_once: dict[str, tuple[str, ...]]   # GPU uuid -> its Tritons stopped before its MIG change ("" strays)
    host_drain: bool                # the change takes all of the host's serving capacity, or a model's
    lends: tuple[tuple[str, str, str], ...] = ()    # (model, lender, the Triton(s) going) before they stop
    drains: tuple[str, ...] = ()    # models no Triton that stays can take: the host drains first


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
    doomed = {n for names in at_once.values() for n in names}
    goings = [(set(at_once[u]), False) for u in work if u in at_once]
    goings += [(set(plan.to_remove) - doomed, False)] + [({n}, True) for n in rolling]
    lends, drains = lends_and_drains(host.get_fact(ServedModels), [(g, back) for g, back in goings if g & running], running) \
        if running - left or rolling else ((), ())
    return ServingWork(plan, rolling, at_once, host_drain or bool(drains), lends, drains)


def lends_and_drains(now: dict, goings: list[tuple[set[str], bool]], running: set[str]) -> tuple[tuple, tuple]:
    """The lends the host's rotation will make (serving.models.plan_lends on what each Triton serves
    now: facts.served, {Triton: (profile, models)}), for each set of Tritons going in turn (a roll's
    one Triton comes back with its models, and its lends are given back); and the models none can take."""
    serving = {n: tuple(ms) for n, (_, ms) in now.items() if n in running}
    room = {n: instance_mib(profile) for n, (profile, _) in now.items()}
    wanted = {m: mib for m, mib in model_mib().items() if m in endpoints_models()}
    specs = {t.name: t for t in triton_specs()}
    lends, drains = [], []
    for going, back in goings:
        lent, drained = plan_lends(serving, room, sorted(going), wanted)
        lends += [(m, n, ", ".join(sorted(going & set(serving)))) for m, n in sorted(lent.items())]
        drains += [m for m in drained if m not in drains]
        for m, n in lent.items():
            serving[n] = (*serving[n], m)
        for n in going:
            serving.pop(n, None)
            if back and n in specs:
                serving[n], room[n] = specs[n].models, instance_mib(specs[n].place.profile)
                for m, lender in lent.items():
                    serving[lender] = tuple(x for x in serving[lender] if x != m)
    return tuple(lends), tuple(drains)
