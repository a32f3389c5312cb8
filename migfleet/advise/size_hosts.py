"""A sized fleet as identical new hosts of N GPUs, and that host's group data module.

One group data module gives every host of its group the same rules, so the hosts are alike: each
serves 1/H of every model's rate (the load balancer in front of the hosts' Envoys spreads requests
evenly). H is the fewest hosts whose share one host of at most N GPUs serves (`size` with
`max_gpus=N`), tried upward from ceil(fleet GPUs / N). A host may then use fewer than its N GPUs
(the rest are left alone: no rule selects them), and H x GPUs used can exceed the fleet's optimum,
since every host carries every model: both are said in the output.

The module holds `gpu_models` (N times the GPU model) and `mig_layout` (one rule per set of GPU
indexes alike), written through `module_edit.set_assignment`, the writer of `import -o` and
`advise --write`, into a new file only: the module is for new hosts, and a user's module is never
given a second assignment it did not ask for.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from migfleet.advise.capacity import Capacity
from migfleet.advise.size import Gpu, Sizing, SizeError, size
from migfleet.advise.write import WriteError, layout_source
from migfleet.inventory.module_edit import ModuleEditError, set_assignment
from migfleet.mig.geometry import Geometry

NEW_MODULE = '"""Group data for new hosts: MIG layouts and Triton settings per instance sized by migfleet advise --size."""\n\n'
MAX_HOSTS_TRIED = 64


@dataclass
class HostPlan:
    hosts: int
    per_host: int               # GPUs each host has
    host: Sizing                # one host's GPUs, serving 1/hosts of each model's rate


def plan(capacity: Capacity, geometry: Geometry, needs: Mapping[str, float], targets, per_host: int,
         fleet_gpus: int, time_limit: float) -> HostPlan:
    """The fewest identical hosts of `per_host` GPUs serving `needs` between them."""
    first = max(1, math.ceil(fleet_gpus / per_host))
    for hosts in range(first, first + MAX_HOSTS_TRIED):
        share = {m: r / hosts for m, r in needs.items()}
        host = size(capacity, geometry, share, targets, time_limit, max_gpus=per_host)
        if host.gpus or not any(r > 0 for r in needs.values()):
            return HostPlan(hosts, per_host, host)
    raise SizeError(f"no {first} to {first + MAX_HOSTS_TRIED - 1} identical hosts of {per_host} GPU(s) serve "
                    f"the demand (each host loads every model): raise --gpus-per-host")


def instances(gpu: Gpu, settings: bool) -> list[dict]:
    """One GPU's instances as mig_layout takes them: alike ones (profile and models) as one entry."""
    grouped: dict[tuple, list[int]] = {}
    for inst in gpu.instances:
        model = tuple(sorted(inst.settings().items())) if settings else inst.model
        grouped.setdefault((inst.profile, model), []).append(inst.start)
    out = []
    for (profile, model), starts in grouped.items():
        out.append({"profile": profile, "placements": sorted(starts),
                    "models": [dict(model) if settings else model]})
    return out


def rules(plan_: HostPlan, settings: bool) -> list[dict]:
    """Per set of GPU indexes with the same instances, one rule."""
    by_body: dict[str, tuple[list[int], list[dict]]] = {}
    for index, gpu in enumerate(plan_.host.gpus):
        body = instances(gpu, settings)
        by_body.setdefault(repr(body), ([], body))[0].append(index)
    return [{"gpus": indexes, "instances": body} for indexes, body in by_body.values()]


def notes(plan_: HostPlan, source: str) -> list[str]:
    out = [f"migfleet advise: --size {plan_.host.gpu_model}: {plan_.hosts} host(s) of {plan_.per_host} GPU(s), "
           f"each serving 1/{plan_.hosts} of {source}"]
    for index, gpu in enumerate(plan_.host.gpus):
        said = ", ".join(f"{i.profile}@{i.start} {i.model} (instance_count {i.point.instance_count}, "
                         f"max_batch_size {i.point.max_batch_size})" for i in gpu.instances)
        out.append(f"migfleet advise: GPU {index}: {said}")
    return out


def check_new(path: Path) -> None:
    if path.exists() or path.is_symlink():
        raise WriteError(f"{path}: exists; --size writes a new module for new hosts: name a file that does not exist")


def write(path: Path, plan_: HostPlan, settings: bool, source: str) -> list[dict]:
    """A new group data module for the plan's hosts; WriteError (nothing left behind) otherwise."""
    check_new(path)
    models = [plan_.host.gpu_model] * plan_.per_host
    rules_ = rules(plan_, settings)
    try:
        set_assignment(path, "gpu_models", models, None, [], NEW_MODULE)
        set_assignment(path, "mig_layout", rules_, layout_source(rules_), notes(plan_, source))
    except ModuleEditError as exc:
        if path.exists():
            path.unlink()
        raise WriteError(f"{exc}; advise wrote nothing") from None
    return rules_
