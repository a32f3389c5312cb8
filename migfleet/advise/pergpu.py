"""The per-GPU program: a layout per GPU and models per instance, one variable each.

It scores fixed layouts and models (`evaluate`: today's, a proposal, the greedy baseline's),
optimises a host where no two GPUs are alike, and checks the class program (classes.py) in tests.

Variables, per GPU g: x[g,L] (layout L of the GPU's candidates, one chosen), y[g,s,m] (model m
loaded on GPU instance s), f[g,s,m] (the share of instance s's time spent on m, at most 1 over its
models); per model: u[m] (requests/s not served), miss[m] (a model served today, or with demand,
that no instance loads), one[m] (one of today's instances that load m stays); per instance of
today: kept[t] (it stays: same placed GPU instance, same models).

    sum_L x[g,L] = 1;   y[g,s,m] <= z[g,s] := sum_{L holds s} x[g,L];   f <= y;   sum_m f[g,s,m] <= z[g,s]
    sum_m memory[m] y[g,s,m] <= memory of s's profile
    sum_{g,s} rps(s, m) f[g,s,m] + u[m] >= demand[m] x headroom
    sum_{g,s} y[g,s,m] + miss[m] >= 1
    kept[t] <= z[g,s_t], kept[t] <= y[g,s_t,m] (m in t's models), kept[t] <= 1 - y[g,s_t,m] (others)
    one[m] <= sum of kept[t] over today's instances t that load m
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from migfleet.advise.objective import objectives
from migfleet.advise.problem import Assignment, HostProblem, Score, disruption, expand, slices_used
from migfleet.advise.program import TOL, Program
from migfleet.mig.placed import GpuLayout, PlacedGi


def build(problem: HostProblem, cands: list[list[GpuLayout]], factor: float, fixed: Sequence[Assignment] | None):
    """The MILP; with `fixed`, every GPU's layout and models are pinned (only the routing is free)."""
    mdl = Program()
    universe = problem.universe
    required = problem.required(factor)
    xs, ys, fs, kept = [], {}, {}, []
    layouts_cost: dict[int, tuple[int, int]] = {}
    for g, gpu in enumerate(problem.gpus):
        layouts = cands[g]
        xs.append([mdl.var() for _ in layouts])
        mdl.row([(v, 1.0) for v in xs[g]], 1.0, 1.0)
        holders: dict[PlacedGi, list[int]] = {}
        for k, lay in enumerate(layouts):
            for gi in lay.gis:
                holders.setdefault(gi, []).append(xs[g][k])
            layouts_cost[xs[g][k]] = (len(lay.gis), sum(gpu.geometry.profile(gi.profile_id).slices for gi in lay.gis))
        pinned = dict(fixed[g].pairs()) if fixed else None
        if fixed:
            for k, lay in enumerate(layouts):
                if lay != fixed[g].layout:
                    mdl.ub[xs[g][k]] = 0.0
        for gi, hold in holders.items():
            z = [(v, -1.0) for v in hold]
            share = []
            for m in universe:
                if not problem.fits(gpu, gi, [m]):
                    continue
                y = mdl.var()
                ys[(g, gi, m)] = y
                if pinned is not None:
                    on = gi in pinned and m in expand(problem, pinned[gi])
                    mdl.lb[y] = mdl.ub[y] = 1.0 if on else 0.0
                mdl.row([(y, 1.0)] + z, -np.inf, 0.0)
                rate = problem.rps(gpu, gi, m)
                if rate > 0 and m in required:
                    f = mdl.var(integer=False)
                    fs[(g, gi, m)] = (f, rate)
                    mdl.row([(f, 1.0), (y, -1.0)], -np.inf, 0.0)
                    share.append((f, 1.0))
            if share:
                mdl.row(share + z, -np.inf, 0.0)
            mem = [(ys[(g, gi, m)], problem.memory.get(m, 0.0)) for m in universe
                   if (g, gi, m) in ys and problem.memory.get(m, 0.0) > 0]
            if len(mem) > 1:
                mdl.row(mem, -np.inf, problem.gi_memory(gpu, gi))
        for gi, models in gpu.today.pairs():
            t = mdl.var()
            want = expand(problem, models)
            kept.append((t, want))
            if gi not in holders or any((g, gi, m) not in ys for m in want):
                mdl.ub[t] = 0.0
                continue
            mdl.row([(t, 1.0)] + [(v, -1.0) for v in holders[gi]], -np.inf, 0.0)
            for m in universe:
                if (g, gi, m) not in ys:
                    continue
                if m in want:
                    mdl.row([(t, 1.0), (ys[(g, gi, m)], -1.0)], -np.inf, 0.0)
                else:
                    mdl.row([(t, 1.0), (ys[(g, gi, m)], 1.0)], -np.inf, 1.0)
    loads = {m: [y for (g, gi, mm), y in ys.items() if mm == m] for m in universe}
    routes = {m: [(f, rate) for (g, gi, mm), (f, rate) in fs.items() if mm == m] for m in required}
    obj1, obj2, us, misses = objectives(mdl, problem, required, loads, routes, layouts_cost, kept)
    _symmetry(mdl, problem, cands, xs)
    return mdl, obj1, obj2, xs, ys, fs, us, misses


def _symmetry(mdl: Program, problem: HostProblem, cands, xs) -> None:
    """GPUs alike in model, today's layout and candidates are interchangeable: order their layout
    numbers, so the search does not visit each permutation."""
    seen: dict[tuple, int] = {}
    for g, gpu in enumerate(problem.gpus):
        key = (gpu.geometry.model, gpu.today, tuple(cands[g]))
        if key in seen:
            prev = seen[key]
            mdl.row([(v, float(k)) for k, v in enumerate(xs[prev])] + [(v, -float(k)) for k, v in enumerate(xs[g])],
                    -np.inf, 0.0)
        seen[key] = g


def read(problem: HostProblem, cands, sol, xs, ys, fs, us, misses) -> tuple[list[Assignment], Score]:
    chosen, loads = [], Counter()
    for g, gpu in enumerate(problem.gpus):
        lay = cands[g][int(np.argmax([sol[v] for v in xs[g]]))]
        on = {gi: {m for m in problem.universe if (g, gi, m) in ys and sol[ys[(g, gi, m)]] > 0.5} for gi in lay.gis}
        loads.update(m for ms in on.values() for m in ms)
        chosen.append((lay, on))
    proposal = []
    for g, (gpu, (lay, on)) in enumerate(zip(problem.gpus, chosen)):
        today = dict(gpu.today.pairs())
        models = []
        for gi in lay.gis:
            if gi in today and expand(problem, today[gi]) == on[gi]:
                models.append(today[gi])    # stays exactly as it is, in today's form (no list stays no list)
                continue
            # The objective does not count copies: drop a copy that serves nothing and is not the
            # model's last one, nor the instance's last model (no rank above changes).
            for m in sorted(on[gi]):
                idle = (g, gi, m) not in fs or sol[fs[(g, gi, m)][0]] <= TOL
                if idle and loads[m] > 1 and len(on[gi]) > 1:
                    on[gi].discard(m)
                    loads[m] -= 1
            models.append(frozenset(on[gi]))
        proposal.append(Assignment(lay, tuple(models)))
    served: dict[str, float] = {}
    for (g, gi, m), (f, rate) in fs.items():
        served[m] = served.get(m, 0.0) + rate * sol[f]
    score = Score(missing=sum(1 for v in misses.values() if sol[v] > 0.5),
                  unmet=float(sum(max(0.0, sol[u]) for u in us.values())),
                  disruption=disruption(problem, proposal), slices=slices_used(problem, proposal), served=served)
    return proposal, score


def evaluate(problem: HostProblem, assignments: Sequence[Assignment], factor: float | None = None) -> Score:
    """The score of given layouts and models: the best routing of demand x factor over them."""
    factor = problem.headroom if factor is None else factor
    cands = [[a.layout] for a in assignments]
    mdl, obj1, _, xs, ys, fs, us, misses = build(problem, cands, factor, assignments)
    sol = mdl.solve(obj1)
    _, score = read(problem, cands, sol, xs, ys, fs, us, misses)
    return score
