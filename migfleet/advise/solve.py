"""The exact solver: per host, a layout per GPU and models per instance, by mixed-integer
programming (HiGHS through scipy.optimize.milp).

solve_host optimises with the class program of classes.py (alike GPUs counted together). The
per-GPU program below scores fixed layouts and models (evaluate: today's, a proposal, the greedy
baseline's), optimises where no GPUs are alike, and checks the class program in tests.

Variables, per GPU g: x[g,L] (layout L of the GPU's candidates, one chosen), y[g,s,m] (model m
loaded on GPU instance s), f[g,s,m] (the share of instance s's time spent on m, at most 1 over its
models); per model: u[m] (requests/s not served), miss[m] (a model served today, or with demand,
that no instance loads); per instance of today: kept[t] (it stays: same placed GPU instance, same
models).

    sum_L x[g,L] = 1;   y[g,s,m] <= z[g,s] := sum_{L holds s} x[g,L];   f <= y;   sum_m f[g,s,m] <= z[g,s]
    sum_m memory[m] y[g,s,m] <= memory of s's profile
    sum_{g,s} rps(s, m) f[g,s,m] + u[m] >= demand[m] x headroom
    sum_{g,s} y[g,s,m] + miss[m] >= 1
    kept[t] <= z[g,s_t], kept[t] <= y[g,s_t,m] (m in t's models), kept[t] <= 1 - y[g,s_t,m] (others)

Objective, in order (two solves, the second holding the first's optimum): missing models and unmet
demand (one missing model outweighs all requests/s), then instances changed (today's not kept plus
new ones), then slices used, then model copies loaded.
"""
from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_array

from migfleet.advise import classes
from migfleet.advise.layouts import enumerate_layouts
from migfleet.advise.problem import Assignment, Gpu, HostProblem, HostResult, Score, disruption, expand, slices_used
from migfleet.mig.placed import GpuLayout, PlacedGi

TOL = 1e-6


class SolveError(RuntimeError):
    """The solver gave no optimum (it should always find one: today's layout is feasible)."""


def useful_profiles(problem: HostProblem, gpu: Gpu) -> set[str]:
    """Profiles with a rate for one of the host's models; others could only hold idle copies."""
    table = problem.capacity.profiles(gpu.geometry.model)
    models = set(problem.universe)
    return {name for name, entry in table.items() if any(entry.rps.get(m, 0) > 0 for m in models)}


def candidates(problem: HostProblem, gpu: Gpu) -> list[GpuLayout]:
    """The GPU's candidate layouts: every valid layout of its useful profiles, and today's, less
    those another one dominates, so that none of the dropped ones can score better. L1 dominates L2
    when it has as many instances, no more slices, at least as many of today's instances of each
    kind (profile, compute instances, models: alike ones are interchangeable), and its other
    instances pair one to one with L2's others on profiles at least as fast for every model of the
    host and with at least as much memory. Of layouts that dominate each other, the first stays."""
    every = list(enumerate_layouts(gpu.geometry, useful_profiles(problem, gpu)))
    if gpu.today.layout not in every:
        every.append(gpu.today.layout)
    kind = {gi: (gi.profile_id, gi.cis, expand(problem, ms)) for gi, ms in gpu.today.pairs()}
    geo = gpu.geometry
    pids = sorted({gi.profile_id for lay in every for gi in lay.gis})
    models = problem.universe
    rate = {p: tuple(problem.capacity.rps(geo.model, geo.profile(p).name, m) for m in models) for p in pids}
    mem = {p: problem.gi_memory(gpu, PlacedGi(0, p, ())) for p in pids}
    at_least = {(a, b): all(x >= y for x, y in zip(rate[a], rate[b])) and mem[a] >= mem[b] for a in pids for b in pids}
    info = []
    for lay in every:
        kept = Counter(kind[gi] for gi in lay.gis if gi in kind)
        others = sorted(gi.profile_id for gi in lay.gis if gi not in kind)
        slices = sum(geo.profile(gi.profile_id).slices for gi in lay.gis)
        info.append((lay, len(lay.gis), slices, kept, Counter(gi.profile_id for gi in lay.gis), others))
    # Same signature, same standing: only the first of each is looked at further.
    seen, unique = set(), []
    for item in info:
        sig = (item[1], item[2], tuple(sorted(item[3].items())), tuple(sorted(item[4].items())))
        if sig not in seen or item[0] == gpu.today.layout:
            seen.add(sig)
            unique.append(item)
    out = []
    for i, (lay, n, slices, kept, _, others) in enumerate(unique):
        if lay == gpu.today.layout or not any(
                j != i and n2 == n and s2 <= slices and all(k2[t] >= c for t, c in kept.items())
                and _pairs(sorted((all2 - Counter({t[0]: c for t, c in kept.items()})).elements()), others, at_least)
                and not (s2 == slices and j > i and _mutual(unique[j], unique[i], at_least))
                for j, (_, n2, s2, k2, all2, _) in enumerate(unique)):
            out.append(lay)
    return out


def _mutual(a, b, at_least) -> bool:
    """b dominates a as well (a and b are as good as each other)."""
    _, _, _, ka, alla, othersa = a
    _, _, _, kb, allb, _ = b
    return all(kb[t] >= c for t, c in ka.items()) and \
        _pairs(sorted((allb - Counter({t[0]: c for t, c in ka.items()})).elements()), othersa, at_least)


def _pairs(big: list[int], small: list[int], at_least) -> bool:
    """Each of `small` paired with its own one of `big` at least as good (a perfect matching)."""
    if len(big) < len(small):
        return False
    match: dict[int, int] = {}

    def augment(i: int, seen: set) -> bool:
        for j, b in enumerate(big):
            if j not in seen and at_least[(b, small[i])]:
                seen.add(j)
                if j not in match or augment(match[j], seen):
                    match[j] = i
                    return True
        return False
    return all(augment(i, set()) for i in range(len(small)))


class _Model:
    """A MILP in scipy's form, built a row at a time."""

    def __init__(self):
        self.proven = True
        self.lb, self.ub, self.integer = [], [], []
        self.rows, self.cols, self.vals, self.rlo, self.rhi = [], [], [], [], []

    def var(self, lb: float = 0.0, ub: float = 1.0, integer: bool = True) -> int:
        self.lb.append(lb)
        self.ub.append(ub)
        self.integer.append(1 if integer else 0)
        return len(self.lb) - 1

    def row(self, terms: dict[int, float] | Sequence[tuple[int, float]], lo: float, hi: float) -> None:
        r = len(self.rlo)
        for col, val in (terms.items() if isinstance(terms, dict) else terms):
            self.rows.append(r)
            self.cols.append(col)
            self.vals.append(val)
        self.rlo.append(lo)
        self.rhi.append(hi)

    def solve(self, c: np.ndarray, extra: tuple | None = None, time_limit: float | None = None) -> np.ndarray:
        n = len(self.lb)
        rows, cols, vals, rlo, rhi = self.rows, self.cols, self.vals, self.rlo, self.rhi
        if extra is not None:       # one more row: objective of the earlier level held at its optimum
            coef, hi = extra
            nz = np.nonzero(coef)[0]
            r = len(rlo)
            rows, cols, vals = rows + [r] * len(nz), cols + nz.tolist(), vals + coef[nz].tolist()
            rlo, rhi = rlo + [-np.inf], rhi + [hi]
        cons = []
        if rlo:
            a = coo_array((vals, (rows, cols)), shape=(len(rlo), n)).tocsr()
            cons = [LinearConstraint(a, np.array(rlo, dtype=float), np.array(rhi, dtype=float))]
        options = {"mip_rel_gap": 0.0, "disp": False}
        if time_limit:
            options["time_limit"] = time_limit
        res = milp(c, constraints=cons, integrality=np.array(self.integer), bounds=Bounds(self.lb, self.ub),
                   options=options)
        self.proven = self.proven and res.status == 0     # 0: optimal; 1: stopped at the time limit
        if res.x is None and res.status != 1:
            raise SolveError(f"HiGHS found no solution: {res.message}")
        return res.x        # None: stopped at the time limit before any solution


def _build(problem: HostProblem, cands: list[list[GpuLayout]], factor: float, fixed: Sequence[Assignment] | None):
    """The MILP; with `fixed`, every GPU's layout and models are pinned (only the routing is free)."""
    mdl = _Model()
    universe = problem.universe
    required = problem.required(factor)
    keep = sorted(problem.served_today() | set(required))
    xs, ys, fs, kept = [], {}, {}, []
    c1, c2 = {}, {}
    ny = 0
    for g, gpu in enumerate(problem.gpus):
        layouts = cands[g]
        xs.append([mdl.var() for _ in layouts])
        mdl.row([(v, 1.0) for v in xs[g]], 1.0, 1.0)
        holders: dict[PlacedGi, list[int]] = {}
        for k, lay in enumerate(layouts):
            for gi in lay.gis:
                holders.setdefault(gi, []).append(xs[g][k])
        for k, lay in enumerate(layouts):
            geo = gpu.geometry
            c2[xs[g][k]] = ("x", len(lay.gis), sum(geo.profile(gi.profile_id).slices for gi in lay.gis))
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
                ny += 1
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
            kept.append(t)
            want = expand(problem, models)
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
    us, misses = {}, {}
    for m, need in required.items():
        u = mdl.var(0.0, np.inf, integer=False)
        us[m] = u
        terms = [(f, rate) for (g, gi, mm), (f, rate) in fs.items() if mm == m] + [(u, 1.0)]
        mdl.row(terms, need, np.inf)
    for m in keep:
        miss = mdl.var()
        misses[m] = miss
        mdl.row([(y, 1.0) for (g, gi, mm), y in ys.items() if mm == m] + [(miss, 1.0)], 1.0, np.inf)
    _symmetry(mdl, problem, cands, xs)
    n = len(mdl.lb)
    total = sum(required.values())
    obj1 = np.zeros(n)
    for u in us.values():
        obj1[u] = 1.0
    for miss in misses.values():
        obj1[miss] = 1.0 + total
    a = 1.0 + sum(g.geometry.compute_slices for g in problem.gpus)     # one instance changed outweighs all slices
    obj2 = np.zeros(n)
    for v, (_, count, slices) in c2.items():
        obj2[v] = a * count + slices
    for t in kept:
        obj2[t] = -2.0 * a
    return mdl, obj1, obj2, xs, ys, fs, us, misses


def _symmetry(mdl: _Model, problem: HostProblem, cands, xs) -> None:
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


def _read(problem: HostProblem, cands, sol, xs, ys, fs, us, misses) -> tuple[list[Assignment], Score]:
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
    mdl, obj1, _, xs, ys, fs, us, misses = _build(problem, cands, factor, assignments)
    sol = mdl.solve(obj1)
    _, score = _read(problem, cands, sol, xs, ys, fs, us, misses)
    return score


def solve_host(problem: HostProblem, time_limit: float | None = None, program: str = "auto") -> HostResult:
    """Today's layout when it still serves demand x keep; else the optimum for demand x headroom.
    program: "auto" (the class program where some GPUs are alike, else the per-GPU one), "classes" or
    "per_gpu" (to check one against the other)."""
    started = time.perf_counter()
    today = [g.today for g in problem.gpus]
    now = evaluate(problem, today, problem.keep)
    if now.missing == 0 and now.unmet <= TOL:
        return HostResult(problem, today, True, now, evaluate(problem, today), time.perf_counter() - started)
    cands = [candidates(problem, g) for g in problem.gpus]
    # Counting alike GPUs pays only where some are alike; one of a kind, the per-GPU program is smaller.
    if program == "per_gpu" or (program == "auto" and
                                all(len(members) == 1 for members in classes.classes(problem, cands))):
        mdl, obj1, obj2, xs, ys, fs, us, misses = _build(problem, cands, problem.headroom, None)
        answer = lambda sol: _read(problem, cands, sol, xs, ys, fs, us, misses)[0]  # noqa: E731
    else:
        mdl, obj1, obj2, index = classes.build(problem, cands, problem.headroom, _Model)
        answer = lambda sol: classes.read(problem, cands, sol, index, TOL)  # noqa: E731
    first = mdl.solve(obj1, time_limit=time_limit)
    if first is None:       # nothing found in time: today's layout, unless the greedy baseline does better
        proposal, score = today, evaluate(problem, today)
    else:
        best = float(obj1 @ first)
        sol = mdl.solve(obj2, extra=(obj1, best + TOL * max(1.0, best)), time_limit=time_limit)
        proposal = answer(first if sol is None else sol)
        # Scored again on its own: the numbers shown carry no tolerance of the two-level solve.
        score = evaluate(problem, proposal)
    if not mdl.proven:
        # Stopped at the time limit: the best found, and never worse than the greedy baseline's.
        from migfleet.advise.greedy import greedy_host, score as greedy_score
        other = greedy_host(problem)
        theirs = greedy_score(problem, other)
        if not score.no_worse_than(theirs):
            proposal, score = other, theirs
    return HostResult(problem, proposal, False, now, score, time.perf_counter() - started, mdl.proven)
