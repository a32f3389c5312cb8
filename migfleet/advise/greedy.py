"""A greedy baseline: the benchmark's and the tests' yardstick, and the exact solver's known
answer (solve.py: a bound for its search, and what it keeps if it stops before anything better).

From empty GPUs: while a model lacks capacity, give the model with the most unmet demand the free
GPU instance that serves it best per slice (a valid layout still, one model per new instance);
then load every model still without an instance where it fits. Like the peers' first-fit and
greedy planners, it ignores today's layout.
"""
from __future__ import annotations

from migfleet.advise.candidates import useful_profiles
from migfleet.advise.layouts import enumerate_layouts, layout_of
from migfleet.advise.pergpu import evaluate
from migfleet.advise.problem import Assignment, HostProblem, Score, disruption, slices_used
from migfleet.mig.geometry import default_ci
from migfleet.mig.placed import PlacedGi


def greedy_host(problem: HostProblem) -> list[Assignment]:
    valid = []
    for gpu in problem.gpus:
        valid.append({frozenset(lay.gis) for lay in enumerate_layouts(gpu.geometry, useful_profiles(problem, gpu))})
    chosen: list[dict[PlacedGi, set[str]]] = [{} for _ in problem.gpus]
    remaining = problem.required(problem.headroom)
    stuck: set[str] = set()
    while True:
        open_models = [m for m, r in remaining.items() if r > 1e-9 and m not in stuck]
        if not open_models:
            break
        m = max(open_models, key=lambda k: (remaining[k], k))
        best = None
        for g, gpu in enumerate(problem.gpus):
            for prof in gpu.geometry.profiles:
                for start, _ in prof.placements:
                    gi = PlacedGi(start, prof.id, (default_ci(prof),))
                    if gi in chosen[g] or frozenset(chosen[g]) | {gi} not in valid[g]:
                        continue
                    rate = problem.rps(gpu, gi, m)
                    if rate <= 0 or not problem.fits(gpu, gi, [m]):
                        continue
                    key = (min(rate, remaining[m]) / prof.slices, rate, -g, -start)
                    if best is None or key > best[0]:
                        best = (key, g, gi, rate)
        if best is None:
            stuck.add(m)
            continue
        _, g, gi, rate = best
        chosen[g][gi] = {m}
        remaining[m] -= rate
    loaded = {m for c in chosen for ms in c.values() for m in ms}
    for m in sorted(problem.served_today() - loaded):
        spot = next(((g, gi) for g, c in enumerate(chosen) for gi, ms in c.items()
                     if problem.fits(problem.gpus[g], gi, sorted(ms | {m}))), None)
        if spot:
            chosen[spot[0]][spot[1]].add(m)
    out = []
    for g, gpu in enumerate(problem.gpus):
        lay = layout_of(gpu.geometry, [(gi.profile_id, gi.start) for gi in chosen[g]])
        out.append(Assignment(lay, tuple(frozenset(chosen[g][gi]) for gi in lay.gis)))
    return out


def score(problem: HostProblem, proposal: list[Assignment]) -> Score:
    s = evaluate(problem, proposal)
    s.disruption, s.slices = disruption(problem, proposal), slices_used(problem, proposal)
    return s
