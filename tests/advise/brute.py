"""advise's optimum found by enumeration, for tests only: independent of advise's candidates,
model sets and programs (migfleet/advise/candidates.py, classes.py, pergpu.py).

Every valid placed layout of each GPU is listed from the catalog geometry (placements, memory
slices, compute slices, instance counts; each set checked by the planner's fit), today's layout
beside them. The objective is advise's (docs/ADVISE.md), minimised in order: models no instance
loads, unmet requests/s, instances changed, slices. Two facts keep the enumeration small, both
provable from the objective alone:
- level 1 (missing, unmet) only improves when instances are added or models added to an
  instance, so only layouts no other layout contains and the largest model sets that fit need be
  tried for it;
- for level 2, host layouts are tried in order of (instances changed, slices); the first that
  reaches level 1's optimum wins. An instance of today counted as kept loads today's models; every
  other instance, again, one of the largest sets that fit.
What is left is a small linear program per choice (the time each instance gives each model).
"""
from __future__ import annotations

import heapq
from collections import Counter
from functools import lru_cache
from itertools import combinations, combinations_with_replacement, product

import numpy as np
from scipy.optimize import linprog

from migfleet.mig.fit import LayoutError, Want, fit_wants
from migfleet.mig.geometry import Geometry, default_ci
from migfleet.mig.placed import PlacedGi

TOL = 1e-6


class TooBig(Exception):
    """The enumeration would take too long for a unit test; the caller draws another host."""


@lru_cache(maxsize=16)
def all_layouts(geo: Geometry) -> tuple[tuple, ...]:
    """Every layout of full-size compute instances (each a tuple of PlacedGi), the empty one included."""
    slots = [(p, start, size) for p in geo.profiles if "+" not in p.name for start, size in p.placements]
    out = []

    def walk(i, used, compute, counts, chosen):
        if chosen:
            try:
                out.append(fit_wants(geo, [Want(p, s, (default_ci(p),)) for p, s, _ in chosen]).gis)
            except LayoutError:
                pass
        else:
            out.append(())
        for j in range(i, len(slots)):
            p, start, size = slots[j]
            span = set(range(start, start + size))
            if span & used or compute + p.slices > geo.compute_slices or counts.get(p.id, 0) >= p.instances:
                continue
            counts[p.id] = counts.get(p.id, 0) + 1
            walk(j + 1, used | span, compute + p.slices, counts, chosen + [(p, start, size)])
            counts[p.id] -= 1
    walk(0, set(), 0, {}, [])
    return tuple(out)


def _largest_sets(models, memory, room) -> list[frozenset]:
    fit = [m for m in models if memory.get(m, 0.0) <= room]
    sets = [frozenset(c) for k in range(len(fit), -1, -1) for c in combinations(fit, k)
            if sum(memory.get(m, 0.0) for m in c) <= room]
    return [s for s in sets if not any(s < t for t in sets)]


class Brute:
    def __init__(self, problem, max_lps: int = 1000, max_steps: int = 8000):
        p = problem
        self.p = p
        self.models = p.universe
        self.required = p.required(p.headroom)
        self.total = sum(self.required.values())
        self.keep = p.served_today() | set(self.required)
        self.memory = {m: p.memory.get(m, 0.0) for m in self.models}
        self.lps = 0
        self.memo: dict = {}
        self.sets: dict = {}
        self.alone: dict = {}
        self.max_lps, self.max_steps = max_lps, max_steps
        self.today = []
        for gpu in p.gpus:
            sets = {gi: frozenset(self.models) if ms is None else ms for gi, ms in gpu.today.pairs()}
            self.today.append(sets)
        self.layouts = []
        for gpu in p.gpus:
            lays = list(all_layouts(gpu.geometry))
            if gpu.today.layout.gis not in lays:
                lays.append(gpu.today.layout.gis)
            self.layouts.append(lays)

    def _room(self, g, gi):
        return self.p.gi_memory(self.p.gpus[g], gi)

    def _rate(self, g, pid, m):
        geo = self.p.gpus[g].geometry
        return self.p.capacity.rps(geo.model, geo.profile(pid).name, m)

    def _unmet(self, loaded: Counter) -> float:
        """loaded: (gpu model, profile id, models) -> instances. The least unmet over time shares."""
        key = frozenset(loaded.items())
        if key in self.memo:
            return self.memo[key]
        self.lps += 1
        if self.lps > self.max_lps:
            raise TooBig
        cols, rates = [], []
        for t, (key, n) in enumerate(loaded.items()):
            g, pid, s = key
            for m in s:
                r = self._rate(g, pid, m)
                if r > 0 and m in self.required:
                    cols.append((t, m))
                    rates.append(r)
        if not cols:
            return self.total
        models = sorted(self.required)
        a = np.zeros((len(loaded) + len(models), len(cols)))
        b = [float(n) for n in loaded.values()] + [self.required[m] for m in models]
        for j, ((t, m), r) in enumerate(zip(cols, rates)):
            a[t, j] = 1.0
            a[len(loaded) + models.index(m), j] = r
        res = linprog(-np.array(rates), A_ub=a, b_ub=b, bounds=(0, None), method="highs")
        self.memo[key] = max(0.0, self.total + float(res.fun))
        return self.memo[key]

    def _hopeful(self, picks, target) -> bool:
        """A quick necessary condition: every free instance loading every model that fits it alone."""
        loaded = Counter()
        for _, _, f, fr in picks:
            for (g, pid, ms), n in f:
                loaded[(g, pid, ms)] += n
            for (g, pid), n in fr:
                if (g, pid) not in self.alone:
                    room = self._room(g, PlacedGi(0, pid, ()))
                    self.alone[(g, pid)] = frozenset(m for m in self.models if self.memory[m] <= room)
                loaded[(g, pid, self.alone[(g, pid)])] += n
        have = {m for (_, _, ms) in loaded for m in ms}
        return len(self.keep - have) <= target[0] and self._may_reach(loaded, target[1])

    def _may_reach(self, loaded: Counter, unmet: float) -> bool:
        """False where even the most each model could get, or all the time there is, leaves more
        than `unmet` unserved (no linear program needed to say so)."""
        per_model = dict.fromkeys(self.required, 0.0)
        anything = 0.0
        for (g, pid, s), n in loaded.items():
            rates = [self._rate(g, pid, m) for m in s if m in self.required]
            for m, r in zip([m for m in s if m in self.required], rates):
                per_model[m] += n * r
            anything += n * max(rates, default=0.0)
        most = min(anything, sum(min(self.required[m], v) for m, v in per_model.items()))
        return self.total - most <= unmet + TOL * max(1.0, unmet)

    def _best(self, fixed: list, free: list, target=None):
        """fixed: (g, pid, models) of instances whose models are set; free: (g, gi) of instances that
        load one of the largest sets that fit. The best (missing, unmet); with target, the first
        choice reaching it (or None)."""
        groups = Counter((g, gi.profile_id) for g, gi in free)
        options = []
        for (g, pid), n in groups.items():
            if (g, pid) not in self.sets:
                self.sets[(g, pid)] = _largest_sets(self.models, self.memory, self._room(g, PlacedGi(0, pid, ())))
            sets = self.sets[(g, pid)]
            options.append([((g, pid), combo) for combo in combinations_with_replacement(sets, n)])
        best = None
        for choice in product(*options):
            loaded = Counter((g, pid, s) for g, pid, s in fixed)
            for (g, pid), combo in choice:
                for s in combo:
                    loaded[(g, pid, s)] += 1
            have = {m for (_, _, s) in loaded for m in s}
            missing = len(self.keep - have)
            bound = target or best
            if bound is not None and missing > bound[0]:
                continue
            if target is not None and missing == target[0] and not self._may_reach(loaded, target[1]):
                continue
            value = (missing, self._unmet(loaded))
            if target is not None:
                if value[0] == target[0] and value[1] <= target[1] + TOL * max(1.0, target[1]):
                    return value
                continue
            if best is None or value[0] < best[0] or (value[0] == best[0] and value[1] < best[1] - TOL):
                best = value
                if best == (0, 0.0) or (best[0] == 0 and best[1] <= TOL):
                    return best
        return best

    def level1(self):
        tops = []
        for lays in self.layouts:
            by = {}
            for lay in lays:
                by.setdefault(tuple(sorted(Counter(gi.profile_id for gi in lay).items())), lay)
            counts = {k: Counter(dict(k)) for k in by}
            tops.append([by[k] for k in by if not any(k2 != k and all(counts[k2][p] >= c for p, c in counts[k].items())
                                                       for k2 in by)])
        best = None
        for combo in product(*tops):
            free = [(g, gi) for g, lay in enumerate(combo) for gi in lay]
            v = self._best([], free)
            if best is None or v[0] < best[0] or (v[0] == best[0] and v[1] < best[1] - TOL):
                best = v
            if best[0] == 0 and best[1] <= TOL:
                break
        return best

    def optimum(self):
        """(missing, unmet, instances changed, slices) of the lexicographic optimum."""
        target = self.level1()
        per_gpu = []
        for g, lays in enumerate(self.layouts):
            geo = self.p.gpus[g].geometry
            today = self.today[g]
            # Only which profiles are kept with what, and which are free, counts for level 1: one entry each.
            entries = {}
            for lay in lays:
                slices = sum(geo.profile(gi.profile_id).slices for gi in lay)
                able = [gi for gi in lay if gi in today and sum(self.memory[m] for m in today[gi]) <= self._room(g, gi)]
                for k in range(len(able), -1, -1):
                    for kept in combinations(able, k):
                        fixed = Counter((g, gi.profile_id, today[gi]) for gi in kept)
                        free = Counter((g, gi.profile_id) for gi in lay) - Counter((g, gi.profile_id) for gi in kept)
                        sig = (frozenset(fixed.items()), frozenset(free.items()))
                        cost = (len(today) + len(lay) - 2 * k, slices)
                        if sig not in entries or cost < entries[sig]:
                            entries[sig] = cost
            per_gpu.append(sorted((d, s, fixed, free) for (fixed, free), (d, s) in entries.items()))
        for step, (d, s, picks) in enumerate(_in_order(per_gpu)):
            if step > self.max_steps:
                raise TooBig
            if not self._hopeful(picks, target):
                continue
            fixed, free = [], []
            for _, _, f, fr in picks:
                fixed += list(Counter(dict(f)).elements())
                free += [(g, PlacedGi(0, pid, ())) for (g, pid) in Counter(dict(fr)).elements()]
            if self._best(fixed, free, target) is not None:
                return target[0], target[1], d, s
        raise AssertionError("no layout reaches level 1's optimum")


def _in_order(per_gpu):
    """Host choices (one entry per GPU) in increasing (sum of changes, sum of slices)."""
    start = (0,) * len(per_gpu)
    key = lambda idx: (sum(per_gpu[g][i][0] for g, i in enumerate(idx)),  # noqa: E731
                       sum(per_gpu[g][i][1] for g, i in enumerate(idx)))
    heap, seen = [(key(start), start)], {start}
    while heap:
        (d, s), idx = heapq.heappop(heap)
        yield d, s, [per_gpu[g][i] for g, i in enumerate(idx)]
        for g in range(len(idx)):
            if idx[g] + 1 < len(per_gpu[g]):
                nxt = idx[:g] + (idx[g] + 1,) + idx[g + 1:]
                if nxt not in seen:
                    seen.add(nxt)
                    heapq.heappush(heap, (key(nxt), nxt))
