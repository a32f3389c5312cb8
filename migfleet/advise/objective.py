"""advise's objective, the same for the per-GPU and the class program (solve.py says why this order).

Level 1, minimised first: models that no instance would load (served today, or with demand), each
outweighing all requests/s, then unmet requests/s. Level 2, with level 1 held at its optimum:
instances changed (today's that do not stay, plus new ones), each outweighing all slices, then
slices used, then, at equal rank, models of today that keep none of their instances unchanged (a
model that keeps one stays served on the host while the change is applied).
"""
from __future__ import annotations

import numpy as np

from migfleet.advise.problem import HostProblem
from migfleet.advise.program import Program


def objectives(mdl: Program, problem: HostProblem, required: dict[str, float], loads: dict[str, list[int]],
               routes: dict[str, list[tuple[int, float]]], cost: dict[int, tuple[int, int]],
               kept: list[tuple[int, frozenset[str]]]):
    """Adds u[m] (unmet), miss[m] and one[m] (one of m's instances of today stays) and returns
    (level 1, level 2, us, misses). loads: m -> variables counting instances that load m; routes:
    m -> (time share variable, rate); cost: variable -> (instances, slices) one unit of it brings;
    kept: (variable, models) counting instances of today that stay with those models."""
    keep = sorted(problem.served_today() | set(required))
    us, misses = {}, {}
    for m, need in required.items():
        u = mdl.var(0.0, np.inf, integer=False)
        us[m] = u
        mdl.row(routes.get(m, []) + [(u, 1.0)], need, np.inf)
    for m in keep:
        miss = mdl.var()
        misses[m] = miss
        mdl.row([(v, 1.0) for v in loads.get(m, [])] + [(miss, 1.0)], 1.0, np.inf)
    holders: dict[str, list[int]] = {}
    for v, models in kept:
        for m in models:
            holders.setdefault(m, []).append(v)
    ones = []
    for m in sorted(holders):
        one = mdl.var()
        ones.append(one)
        mdl.row([(one, 1.0)] + [(v, -1.0) for v in holders[m]], -np.inf, 0.0)
    n = len(mdl.lb)
    total = sum(required.values())
    obj1 = np.zeros(n)
    for u in us.values():
        obj1[u] = 1.0
    for miss in misses.values():
        obj1[miss] = 1.0 + total
    a = 1.0 + sum(g.geometry.compute_slices for g in problem.gpus)     # one instance changed outweighs all slices
    b = 1.0 + len(ones)                                                 # one slice outweighs every model kept
    obj2 = np.zeros(n)
    for v, (count, slices) in cost.items():
        obj2[v] += b * (a * count + slices)
    for v, _ in kept:
        obj2[v] -= b * 2.0 * a
    for one in ones:
        obj2[one] = -1.0
    return obj1, obj2, us, misses
