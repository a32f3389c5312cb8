"""Fleet sizing: the fewest GPUs of one model that serve every model's rate within its p99 target.

Each instance serves one model under one Triton setting (instance-group count, max batch size):
the capacity table's best point for that profile and model whose p99 is within the model's target
and whose memory fits the instance (`points.best`). A point was measured with the model alone on
the instance, so an instance never holds two models: its p99 is then the one measured.

The program (HiGHS, exact where it finishes), with GPU-layout patterns enumerated from the catalog
geometry (`layouts.enumerate_layouts`: each pattern is the profile counts of a placed layout the
planner's fit accepts, sub-layouts included, so every answer is placeable):

    y[k] GPUs take pattern k (integer);  x[o] instances of option o = (profile, model, point) (integer)
    per profile p:  sum_{o of p} x[o] = sum_k count[k][p] y[k]      (every slot of the patterns used)
    per model m:    sum_{o of m} rate[o] x[o] >= need[m]
    minimise sum y; then, held there, the slices sum slices[o] x[o]; then the instances sum x[o]

Instances of one option are interchangeable and slots of one profile too, so any assignment of
instances to the chosen GPUs' slots is as good: the program is exact over (GPUs, slices, instances).
"""
from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_array

from migfleet.advise.capacity import Capacity
from migfleet.advise.layouts import enumerate_layouts
from migfleet.advise.points import Point, best
from migfleet.advise.program import Program, stdout_to_stderr
from migfleet.inventory.model_files import setting_problems
from migfleet.mig.geometry import Geometry
from migfleet.mig.placed import GpuLayout


class SizeError(ValueError):
    """Demand that no fleet of this GPU model can serve with this table; the message says which model and why."""


@dataclass(frozen=True)
class Option:
    """One kind of instance: a profile serving one model at one measured point."""
    profile: str
    slices: int
    model: str
    point: Point


@dataclass(frozen=True)
class Instance:
    profile: str
    slices: int
    start: int                  # first memory slice (the placement)
    model: str
    point: Point

    def settings(self) -> dict:
        """The model's Triton settings on this instance, in the form an instance's `models` list takes."""
        return {"name": self.model, "instance_count": self.point.instance_count,
                "max_batch_size": self.point.max_batch_size}


@dataclass(frozen=True)
class Gpu:
    layout: GpuLayout
    instances: tuple[Instance, ...]


@dataclass
class Sizing:
    gpu_model: str
    needs: dict[str, float]             # model -> requests/s to serve
    targets: dict[str, float | None]    # model -> p99 target (ms) the points were picked within
    gpus: list[Gpu] = field(default_factory=list)
    proven: bool = True                 # False: a level stopped at the time limit; `gap`: GPUs at most above the optimum
    bound: int = 0                      # ceil(compute slices needed / slices per GPU)
    program_bound: int = 0              # the solver's own lower bound on GPUs (>= bound when proven)
    seconds: float = 0.0

    @property
    def slices(self) -> int:
        return sum(i.slices for g in self.gpus for i in g.instances)

    @property
    def instances(self) -> int:
        return sum(len(g.instances) for g in self.gpus)

    @property
    def gap(self) -> int:
        return len(self.gpus) - max(self.bound, self.program_bound)

    def served(self) -> dict[str, float]:
        out = dict.fromkeys(self.needs, 0.0)
        for g in self.gpus:
            for i in g.instances:
                out[i.model] = out.get(i.model, 0.0) + i.point.rate
        return out


def defaults_only(point: Point) -> bool:
    """Triton's defaults: one model instance, no dynamic batching (max_batch_size 0: the model's own config)."""
    return point.instance_count == 1 and point.max_batch_size == 0


def drop_untaken(capacity: Capacity, own_batch: Mapping[str, int]) -> None:
    """Drop the points of each model in `own_batch` (model -> its config.pbtxt's max_batch_size) whose
    setting it cannot take (model_files.setting_problems: validate would refuse the layout written)."""
    for gpu, table in capacity.gpus.items():
        for profile, entry in list(table.items()):
            capacity.put(gpu, profile, entry.memory_mib, {m: tuple(
                q for q in pts if m not in own_batch or not setting_problems(m, own_batch[m], q.max_batch_size))
                for m, pts in entry.points.items()})


def options(capacity: Capacity, geometry: Geometry, needs: Mapping[str, float],
            targets: Mapping[str, float | None], profiles=None, keep=None) -> list[Option]:
    """Per profile and model, the best point within the model's target that fits the instance's
    memory (`keep`: only points it accepts, e.g. `defaults_only`; `profiles`: only these names)."""
    table = capacity.profiles(geometry.model)
    out = []
    for p in geometry.profiles:
        if p.name not in table or (profiles is not None and p.name not in profiles):
            continue
        room = table[p.name].memory_mib
        for m in sorted(needs):
            model_mib = capacity.model_memory.get(m)
            fit = [q for q in capacity.points(geometry.model, p.name, m)
                   if (q.memory_mib if q.memory_mib is not None else (model_mib or 0.0)) <= room
                   and (keep is None or keep(q))]
            chosen = best(fit, targets.get(m))
            if chosen is not None and chosen.rate > 0:
                out.append(Option(p.name, p.slices, m, chosen))
    return out


def _check(needs: Mapping[str, float], opts: list[Option], gpu_model: str, what: str) -> None:
    served = {o.model for o in opts}
    missing = [m for m, r in sorted(needs.items()) if r > 0 and m not in served]
    if missing:
        raise SizeError(f"{', '.join(missing)}: no profile of {gpu_model} in the capacity table serves "
                        f"{'it' if len(missing) == 1 else 'them'} {what}")


def slice_bound(needs: Mapping[str, float], opts: list[Option], geometry: Geometry) -> int:
    """Compute slices needed at each model's best rate per slice, over the slices of one GPU (rounded up)."""
    total = 0.0
    for m, need in needs.items():
        per_slice = max((o.point.rate / o.slices for o in opts if o.model == m), default=0.0)
        total += need / per_slice if need > 0 else 0.0
    return math.ceil(total / geometry.compute_slices - 1e-9)


def whole_gpu(needs: Mapping[str, float], opts: list[Option], geometry: Geometry) -> int:
    """GPUs when each GPU is one full instance serving one model (MIG off, or its full profile)."""
    full = {o.model: o.point.rate for o in opts if o.slices == geometry.compute_slices}
    _check(needs, [o for o in opts if o.slices == geometry.compute_slices], geometry.model,
           "on a whole GPU (the full profile)")
    return sum(math.ceil(need / full[m] - 1e-9) for m, need in needs.items() if need > 0)


def patterns(geometry: Geometry, profiles: set[str]) -> list[tuple[dict[str, int], GpuLayout]]:
    """Each distinct count of instances per profile a placed layout has, with one such layout."""
    out: dict[tuple, tuple[dict[str, int], GpuLayout]] = {}
    for lay in enumerate_layouts(geometry, profiles):
        counts: dict[str, int] = {}
        for gi in lay.gis:
            name = geometry.profile(gi.profile_id).name
            counts[name] = counts.get(name, 0) + 1
        if counts:
            out.setdefault(tuple(sorted(counts.items())), (counts, lay))
    return list(out.values())


def _solve(mdl: Program, c: np.ndarray, extra, limit: float):
    """HiGHS on the program; (x or None, proven, dual bound)."""
    n = len(mdl.lb)
    rows, cols, vals, rlo, rhi = list(mdl.rows), list(mdl.cols), list(mdl.vals), list(mdl.rlo), list(mdl.rhi)
    for coef, hi in extra:
        r = len(rlo)
        for j in np.nonzero(coef)[0]:
            rows.append(r)
            cols.append(int(j))
            vals.append(float(coef[j]))
        rlo.append(-np.inf)
        rhi.append(hi)
    a = coo_array((vals, (rows, cols)), shape=(len(rlo), n)).tocsr()
    with stdout_to_stderr():
        res = milp(c, constraints=[LinearConstraint(a, np.array(rlo), np.array(rhi))],
                   integrality=np.array(mdl.integer), bounds=Bounds(mdl.lb, mdl.ub),
                   options={"disp": False, "mip_rel_gap": 0.0, "time_limit": max(limit, 0.5)})
    dual = getattr(res, "mip_dual_bound", None)
    return res.x, res.status == 0, (res.fun if res.status == 0 else dual)


def size(capacity: Capacity, geometry: Geometry, needs: Mapping[str, float], targets: Mapping[str, float | None],
         time_limit: float = 60.0, max_gpus: int | None = None, keep=None, profiles=None) -> Sizing:
    """The fewest GPUs, then slices, then instances serving `needs` (requests/s per model).
    `max_gpus`: at most that many (None when no fleet that small serves it; SizeError never)."""
    started = time.monotonic()
    needs = {m: float(r) for m, r in needs.items() if r > 0}
    opts = options(capacity, geometry, needs, targets, profiles, keep)
    _check(needs, opts, geometry.model, "within its p99 target" + (" with these settings" if keep else ""))
    sizing = Sizing(geometry.model, dict(needs), {m: targets.get(m) for m in needs},
                    bound=slice_bound(needs, opts, geometry))
    if not needs:
        return sizing
    pats = patterns(geometry, {o.profile for o in opts})
    # A fleet that surely serves: each model alone on its own GPUs, one best instance each.
    ceiling = sum(math.ceil(need / max(o.point.rate for o in opts if o.model == m) - 1e-9) for m, need in needs.items())
    if any(o.slices == geometry.compute_slices for o in opts):
        try:        # whole-GPU serving is a fleet too: the answer never needs more
            ceiling = min(ceiling, whole_gpu(needs, opts, geometry))
        except SizeError:
            pass
    if max_gpus is not None:
        ceiling = min(ceiling, max_gpus)
    mdl = Program()
    ys = [mdl.var(0.0, float(ceiling)) for _ in pats]
    xs = [mdl.var(0.0, float(math.ceil(needs[o.model] / o.point.rate - 1e-9))) for o in opts]
    for name in {o.profile for o in opts}:
        mdl.row([(x, 1.0) for x, o in zip(xs, opts) if o.profile == name]
                + [(y, -float(cnt.get(name, 0))) for y, (cnt, _) in zip(ys, pats) if cnt.get(name)], 0.0, 0.0)
    for m, need in needs.items():
        mdl.row([(x, o.point.rate) for x, o in zip(xs, opts) if o.model == m], need, np.inf)
    n = len(mdl.lb)
    levels = [np.zeros(n), np.zeros(n), np.zeros(n)]
    levels[0][ys] = 1.0
    levels[1][xs] = [o.slices for o in opts]
    levels[2][xs] = 1.0
    extra = [(levels[0], float(ceiling))]
    shares = (0.6, 0.25, 0.15)
    sol = None
    for k, c in enumerate(levels):
        left = time_limit - (time.monotonic() - started)
        x, proven, dual = _solve(mdl, c, extra, left * shares[k] / sum(shares[k:]))
        sizing.proven = sizing.proven and proven     # every level: GPUs, then slices, then instances
        if k == 0:
            sizing.program_bound = math.ceil(dual - 1e-6) if dual is not None and np.isfinite(dual) else 0
        if x is None:
            break       # level 0: none within max_gpus (or none found in time); later: the earlier level's stands
        sol = x
        extra.append((c, float(round(c @ x)) + 1e-6))
    if sol is None:
        sizing.seconds = time.monotonic() - started
        return sizing if max_gpus is not None else _fallback(sizing, needs, opts, geometry)
    sizing.gpus = _read(geometry, sol, ys, xs, pats, opts)
    sizing.seconds = time.monotonic() - started
    return sizing


def _fallback(sizing: Sizing, needs, opts, geometry) -> Sizing:
    """No answer within the time limit: each model alone on its own whole-GPU instances (always placeable)."""
    full = [o for o in opts if o.slices == geometry.compute_slices]
    gpus = []
    for m, need in needs.items():
        o = max((o for o in full if o.model == m), key=lambda o: o.point.rate, default=None) \
            or max((o for o in opts if o.model == m), key=lambda o: o.point.rate)
        lay = next(lay for cnt, lay in patterns(geometry, {o.profile}) if cnt == {o.profile: 1})
        gi = lay.gis[0]
        gpus += [Gpu(lay, (Instance(o.profile, o.slices, gi.start, m, o.point),))] * math.ceil(need / o.point.rate - 1e-9)
    sizing.gpus = gpus
    return sizing


def _read(geometry: Geometry, sol, ys, xs, pats, opts) -> list[Gpu]:
    """GPUs of each pattern, their slots of each profile filled model by model."""
    todo: dict[str, list[Option]] = {}
    for x, o in zip(xs, opts):
        todo.setdefault(o.profile, []).extend([o] * int(round(sol[x])))
    gpus = []
    for y, (_, lay) in zip(ys, pats):
        for _ in range(int(round(sol[y]))):
            insts = []
            for gi in lay.gis:
                o = todo[geometry.profile(gi.profile_id).name].pop(0)
                insts.append(Instance(o.profile, o.slices, gi.start, o.model, o.point))
            gpus.append(Gpu(lay, tuple(insts)))
    return gpus
