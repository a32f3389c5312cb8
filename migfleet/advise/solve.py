"""The exact solver: per host, a layout per GPU and models per instance, by mixed-integer
programming (HiGHS through scipy.optimize.milp).

solve_host optimises with the class program of classes.py (alike GPUs counted together) where some
GPUs are alike, else with the per-GPU program of pergpu.py; objective.py holds the objective both
share. Two solves: level 1 (models left on no instance, then unmet requests/s), then level 2
(instances changed, slices, models that keep an instance) with level 1 held at its optimum.

What cuts the work without changing the answer (Tuning; each measured in bench/advise_solve.py):
- level 1 is not solved where today's layout or the greedy baseline already leaves nothing unmet
  and no model without an instance (0 is the least it can be);
- level 2 gets the greedy answer's level-2 value as an upper bound, where greedy reaches level 1's
  optimum (the search drops every branch that cannot beat a known answer).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, replace

from migfleet.advise import classes, pergpu
from migfleet.advise.candidates import candidates, useful_profiles
from migfleet.advise.greedy import greedy_host, score as greedy_score
from migfleet.advise.pergpu import evaluate
from migfleet.advise.problem import Assignment, Gpu, HostProblem, HostResult, Score, expand
from migfleet.advise.program import TOL, SolveError
from migfleet.mig.placed import ENABLED, GpuLayout

__all__ = ["SolveError", "Tuning", "candidates", "evaluate", "settle_today", "solve_host", "useful_profiles"]


@dataclass(frozen=True)
class Tuning:
    """Work savers that leave the answer as it is; all off gives the plain two-level solve."""
    skip_proven_level1: bool = True
    greedy_bound: bool = True


PLAIN = Tuning(False, False)


def settle_today(problem: HostProblem) -> tuple[HostProblem, list[str]]:
    """Today's instances must fit their models' memory for today to be scored at all. A GPU with
    one that does not (the models listed for it, in the inventory, take more than the instance has,
    by the capacity table or DCGM's measure) is solved from an empty GPU, and said so."""
    notes, gpus = [], []
    for gpu in problem.gpus:
        over = []
        for gi, ms in gpu.today.pairs():
            models = sorted(expand(problem, ms))
            need = sum(problem.memory.get(m, 0.0) for m in models)
            if need > problem.gi_memory(gpu, gi):
                name = gpu.geometry.profile(gi.profile_id).name
                over.append(f"{name}@{gi.start} lists {', '.join(models)}: {need:.0f} MiB together, "
                            f"more than its {problem.gi_memory(gpu, gi):.0f} MiB")
        if over:
            notes.append(f"{problem.host}: GPU {gpu.index}: today's instance {'; '.join(over)}: today's layout "
                         "cannot hold its models, so the GPU is solved as if empty")
            gpu = Gpu(gpu.index, gpu.geometry, Assignment(GpuLayout(ENABLED, ()), ()), gpu.uuid)
        gpus.append(gpu)
    return (replace(problem, gpus=gpus) if notes else problem), notes


def _level2_value(problem: HostProblem, proposal: list[Assignment], s: Score) -> float:
    """What objective.py's level 2 gives this proposal."""
    a = 1.0 + sum(g.geometry.compute_slices for g in problem.gpus)
    today = [(gi, expand(problem, ms)) for g in problem.gpus for gi, ms in g.today.pairs()]
    held = {m for _, ms in today for m in ms}
    kept_models = set()
    for g, new in zip(problem.gpus, proposal):
        was = {gi: expand(problem, ms) for gi, ms in g.today.pairs()}
        for gi, ms in new.pairs():
            if gi in was and was[gi] == expand(problem, ms):
                kept_models |= was[gi]
    b = 1.0 + len(held)
    return b * (a * (s.disruption - len(today)) + s.slices) - len(kept_models & held)


def solve_host(problem: HostProblem, time_limit: float | None = None, program: str = "auto",
               tuning: Tuning = Tuning()) -> HostResult:
    """Today's layout when it still serves demand x keep; else the optimum for demand x headroom.
    program: "auto" (the class program where some GPUs are alike, else the per-GPU one), "classes" or
    "per_gpu" (to check one against the other)."""
    try:
        return _solve(problem, time_limit, program, tuning)
    except SolveError:
        if program != "auto":
            raise
    # HiGHS fails ("Solve error") on a few programs, presolve or not: the other, equivalent program
    # (per GPU, or alike GPUs counted together) is tried before the host is given up.
    started = time.perf_counter()
    settled = settle_today(problem)[0]
    cands = [candidates(settled, g) for g in settled.gpus]
    alike = not all(len(members) == 1 for members in classes.classes(settled, cands))
    return _solve(problem, time_limit, "per_gpu" if alike else "classes", tuning, started)


def _solve(problem: HostProblem, time_limit: float | None, program: str, tuning: Tuning,
           started: float | None = None) -> HostResult:
    started = time.perf_counter() if started is None else started
    problem, notes = settle_today(problem)
    today = [g.today for g in problem.gpus]
    now = evaluate(problem, today, problem.keep)
    if now.missing == 0 and now.unmet <= TOL:
        return HostResult(problem, today, True, now, evaluate(problem, today), time.perf_counter() - started,
                          notes=notes)
    cands = [candidates(problem, g) for g in problem.gpus]
    # Counting alike GPUs pays only where some are alike; one of a kind, the per-GPU program is smaller.
    if program == "per_gpu" or (program == "auto" and
                                all(len(members) == 1 for members in classes.classes(problem, cands))):
        mdl, obj1, obj2, xs, ys, fs, us, misses = pergpu.build(problem, cands, problem.headroom, None)
        answer = lambda sol: pergpu.read(problem, cands, sol, xs, ys, fs, us, misses)[0]  # noqa: E731
    else:
        mdl, obj1, obj2, index = classes.build(problem, cands, problem.headroom)
        answer = lambda sol: classes.read(problem, cands, sol, index, TOL)  # noqa: E731
    other = theirs = None
    if tuning.skip_proven_level1 or tuning.greedy_bound:
        other = greedy_host(problem)
        theirs = greedy_score(problem, other)
    at_zero = theirs is not None and theirs.missing == 0 and theirs.unmet <= TOL
    first = None
    if tuning.skip_proven_level1 and at_zero:
        best = 0.0
    else:
        first = mdl.solve(obj1, time_limit=time_limit)
        best = None if first is None else float(obj1 @ first)
    if best is None:        # nothing found in time: today's layout, unless the greedy baseline does better
        proposal, score = today, evaluate(problem, today)
    else:
        extra = [(obj1, best + TOL * max(1.0, best))]
        if tuning.greedy_bound and at_zero and best <= TOL:
            extra.append((obj2, _level2_value(problem, other, theirs) + 0.5))
        sol = mdl.solve(obj2, extra=extra, time_limit=time_limit)
        if sol is None and first is None:
            proposal = other            # stopped before any solution: the greedy answer meets level 1
        else:
            proposal = answer(first if sol is None else sol)
        # Scored again on its own: the numbers shown carry no tolerance of the two-level solve.
        score = evaluate(problem, proposal)
    if not mdl.proven:
        # Stopped at the time limit: the best found, and never worse than the greedy baseline's.
        if other is None:
            other = greedy_host(problem)
            theirs = greedy_score(problem, other)
        if not score.no_worse_than(theirs):
            proposal, score = other, theirs
    return HostResult(problem, proposal, False, now, score, time.perf_counter() - started, mdl.proven, notes)
