"""What a GPU may become: its candidate layouts, and the model sets an instance may load.

Both are cut down only where what is dropped can never score better than what stays (under the
objective of solve.py), so the programs built from them keep the optimum.
"""
from __future__ import annotations

from collections import Counter
from itertools import combinations

from migfleet.advise.layouts import enumerate_layouts
from migfleet.advise.problem import Gpu, HostProblem, expand
from migfleet.mig.geometry import Geometry
from migfleet.mig.placed import GpuLayout, PlacedGi

_CACHE: dict[tuple, list[GpuLayout]] = {}
_CACHE_MAX = 512


def useful_profiles(problem: HostProblem, gpu: Gpu) -> set[str]:
    """Every profile but the `+me` ones (the same memory and compute as their base profile, one
    instance at most: never ahead of it) unless the capacity table rates them. A profile without a
    rate still counts: it may hold the copy of a model that would otherwise crowd a rated instance."""
    table = problem.capacity.profiles(gpu.geometry.model)
    rated = {name for name, entry in table.items() if any(entry.rps.get(m, 0) > 0 for m in problem.universe)}
    return {p.name for p in gpu.geometry.profiles if "+" not in p.name} | rated


def _key(problem: HostProblem, gpu: Gpu) -> tuple:
    geo = gpu.geometry
    models = tuple(problem.universe)
    pids = tuple(p.id for p in geo.profiles)
    rate = tuple(tuple(problem.capacity.rps(geo.model, geo.profile(p).name, m) for m in models) for p in pids)
    mem = tuple(problem.gi_memory(gpu, PlacedGi(0, p, ())) for p in pids)
    return (geo, gpu.today, models, tuple(expand(problem, ms) for ms in gpu.today.models), rate, mem,
            tuple(sorted(useful_profiles(problem, gpu))))


def candidates(problem: HostProblem, gpu: Gpu) -> list[GpuLayout]:
    """The GPU's candidate layouts: every valid layout of its useful profiles, and today's, less
    those another one dominates, so that none of the dropped ones can score better. L1 dominates L2
    when it has as many instances, no more slices, at least as many of today's instances of each
    kind (profile, compute instances, models: alike ones are interchangeable), and its other
    instances pair one to one with L2's others on profiles at least as fast for every model of the
    host and with at least as much memory. Of layouts that dominate each other, the first stays.
    The same problem gives the same list: it is kept (GPUs alike, hosts alike)."""
    key = _key(problem, gpu)
    if key not in _CACHE:
        if len(_CACHE) >= _CACHE_MAX:
            _CACHE.clear()
        _CACHE[key] = _candidates(problem, gpu)
    return _CACHE[key]


def _candidates(problem: HostProblem, gpu: Gpu) -> list[GpuLayout]:
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
                and _pairs(sorted((all2 - _profiles(kept)).elements()), others, at_least)
                and not (s2 == slices and j > i and _mutual(unique[j], unique[i], at_least))
                for j, (_, n2, s2, k2, all2, _) in enumerate(unique)):
            out.append(lay)
    return out


def _profiles(kept: Counter) -> Counter:
    """Kept instances counted by profile. Summed: kinds of one profile with different models are
    several instances of it (a dict keyed by profile kept only the last kind's count, and judged
    layouts dominated that were not)."""
    out: Counter = Counter()
    for (pid, _, _), c in kept.items():
        out[pid] += c
    return out


def _mutual(a, b, at_least) -> bool:
    """b dominates a as well (a and b are as good as each other)."""
    _, _, _, ka, alla, othersa = a
    _, _, _, kb, allb, _ = b
    return all(kb[t] >= c for t, c in ka.items()) and \
        _pairs(sorted((allb - _profiles(ka)).elements()), othersa, at_least)


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


def model_sets(problem: HostProblem, geometry: Geometry, memory_mib: float) -> list[frozenset[str]]:
    """The model sets an instance with this much memory needs to be offered: the largest that fit
    (no model can be added). A set inside a larger one that fits never ranks better: the larger
    serves every model the smaller does, leaves no model missing that the smaller loads, and changes
    the instance as much (an instance of today that stays keeps today's set, offered beside these)."""
    del geometry
    fitting = [m for m in problem.universe if problem.memory.get(m, 0.0) <= memory_mib]
    if sum(problem.memory.get(m, 0.0) for m in fitting) <= memory_mib:
        return [frozenset(fitting)]
    out: list[frozenset[str]] = []
    for k in range(len(fitting), 0, -1):
        for combo in combinations(fitting, k):
            s = frozenset(combo)
            if sum(problem.memory.get(m, 0.0) for m in s) <= memory_mib and not any(s < t for t in out):
                out.append(s)
    return out
