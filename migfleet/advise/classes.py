"""The exact program with GPUs alike taken together: a host's GPUs of one model, with the same
layout and models today, are one class, and the program counts how many of them take each layout
instead of choosing a layout per GPU (no permutations to search).

Per class c and candidate layout L: n[c,L] (integer) GPUs take L. L's instances fall into groups
alike for every purpose: the same profile and, for one of today's instances, the same models
today. Per group and model set M an instance may load: w[c,L,g,M] instances load exactly M, and
F[c,L,g,M,m] is their time spent on m:

    sum_L n[c,L] = GPUs of c;   sum_M w[c,L,g,M] = (instances of g in L) x n[c,L];   sum_m F[..,M,m] <= w[..,M]
    sum rps(profile, m) F[..,m] + u[m] >= demand[m] x headroom;   sum_{M holds m} w + miss[m] >= 1
    kept = sum of w[c,L,g,M] over today's groups g with M their models today

Exact: instances of one group with one model set are interchangeable, and time shares summed over
them split back evenly (each at most 1). Model sets: the largest that fit the instance's memory
(candidates.model_sets: a smaller set never ranks better), plus today's models for today's groups.
"""
from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np

from migfleet.advise.candidates import model_sets
from migfleet.advise.objective import objectives
from migfleet.advise.problem import Assignment, HostProblem, expand
from migfleet.advise.program import Program
from migfleet.mig.placed import PlacedGi


def classes(problem: HostProblem, cands) -> list[list[int]]:
    out: dict[tuple, list[int]] = {}
    for g, gpu in enumerate(problem.gpus):
        out.setdefault((gpu.geometry.model, gpu.today, tuple(cands[g])), []).append(g)
    return list(out.values())


def _sets(problem: HostProblem, gpu, pid: int, today_set: frozenset | None) -> list[frozenset]:
    memory = problem.gi_memory(gpu, PlacedGi(0, pid, ()))
    out = list(model_sets(problem, gpu.geometry, memory))
    if today_set is not None and today_set not in out and problem.fits(gpu, PlacedGi(0, pid, ()), sorted(today_set)):
        out.append(today_set)
    return out


def build(problem: HostProblem, cands, factor: float):
    mdl = Program()
    required = problem.required(factor)
    groups = classes(problem, cands)
    cost: dict[int, tuple[int, int]] = {}
    kept: list[tuple[int, frozenset[str]]] = []
    ns: dict[tuple, int] = {}
    ws: dict[tuple, list[tuple[frozenset, int]]] = defaultdict(list)
    fs: dict[tuple, tuple[int, float]] = {}
    loads: dict[str, list[int]] = defaultdict(list)
    routes: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for c, members in enumerate(groups):
        gpu = problem.gpus[members[0]]
        kind = {gi: expand(problem, ms) for gi, ms in gpu.today.pairs()}
        sets_of: dict[tuple, list[frozenset]] = {}
        row = []
        for k, lay in enumerate(cands[members[0]]):
            n = mdl.var(0.0, float(len(members)))
            ns[(c, k)] = n
            row.append((n, 1.0))
            cost[n] = (len(lay.gis), sum(gpu.geometry.profile(gi.profile_id).slices for gi in lay.gis))
            for (pid, today_set), mult in Counter((gi.profile_id, kind.get(gi)) for gi in lay.gis).items():
                if (pid, today_set) not in sets_of:
                    sets_of[(pid, today_set)] = _sets(problem, gpu, pid, today_set)
                total = []
                for s in sets_of[(pid, today_set)]:
                    w = mdl.var(0.0, float(mult * len(members)))
                    ws[(c, k, pid, today_set)].append((s, w))
                    total.append((w, 1.0))
                    if today_set is not None and s == today_set:
                        kept.append((w, s))
                    share = []
                    for m in sorted(s):
                        loads[m].append(w)
                        rate = problem.capacity.rps(gpu.geometry.model, gpu.geometry.profile(pid).name, m)
                        if rate > 0 and m in required:
                            f = mdl.var(0.0, np.inf, integer=False)
                            fs[(c, k, pid, today_set, s, m)] = (f, rate)
                            routes[m].append((f, rate))
                            share.append((f, 1.0))
                    if share:
                        mdl.row(share + [(w, -1.0)], -np.inf, 0.0)
                mdl.row(total + [(n, -float(mult))], 0.0, 0.0)
        mdl.row(row, float(len(members)), float(len(members)))
    obj1, obj2, _, _ = objectives(mdl, problem, required, loads, routes, cost, kept)
    return mdl, obj1, obj2, (groups, ns, ws, fs)


def read(problem: HostProblem, cands, sol, index, tol: float) -> list[Assignment]:
    """Per-GPU layouts and models from the counts; copies that serve nothing dropped (not the
    model's last on the host, nor an instance's last model), today's form kept where nothing changes."""
    groups, ns, ws, fs = index
    on: dict[int, dict[PlacedGi, set]] = {}
    busy: set[tuple[int, PlacedGi, str]] = set()
    for c, members in enumerate(groups):
        gpu = problem.gpus[members[0]]
        kind = {gi: expand(problem, ms) for gi, ms in gpu.today.pairs()}
        free = list(members)
        for k, lay in enumerate(cands[members[0]]):
            count = int(round(sol[ns[(c, k)]]))
            if not count:
                continue
            mine, free = free[:count], free[count:]
            for g in mine:
                on[g] = {gi: set() for gi in lay.gis}
            for (pid, today_set) in {(gi.profile_id, kind.get(gi)) for gi in lay.gis}:
                spots = [(g, gi) for g in mine for gi in lay.gis if (gi.profile_id, kind.get(gi)) == (pid, today_set)]
                for s, w in ws[(c, k, pid, today_set)]:
                    n = int(round(sol[w]))
                    taken, spots = spots[:n], spots[n:]
                    for g, gi in taken:
                        on[g][gi] = set(s)
                        for m in s:
                            f = fs.get((c, k, pid, today_set, s, m))
                            if f is not None and sol[f[0]] > tol:
                                busy.add((g, gi, m))
    copies = Counter(m for g in on for ms in on[g].values() for m in ms)
    out = []
    for g, gpu in enumerate(problem.gpus):
        today = dict(gpu.today.pairs())
        lay_gis = sorted(on[g])
        models = []
        for gi in lay_gis:
            ms = on[g][gi]
            if gi in today and expand(problem, today[gi]) == ms:
                models.append(today[gi])
                continue
            for m in sorted(ms):
                if (g, gi, m) not in busy and copies[m] > 1 and len(ms) > 1:
                    ms.discard(m)
                    copies[m] -= 1
            models.append(frozenset(ms))
        layout = next(lay for lay in cands[g] if sorted(lay.gis) == lay_gis)
        out.append(Assignment(layout, tuple(models)))
    return out
