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
What is left is a small linear program per choice (the time each instance gives each model),
handed to HiGHS itself; none is needed where one greedy split of the time already serves the most
there is to serve (then it is the program's value). What depends on the GPU kind alone (its
layouts, their profile counts) is listed once per process and shared by every host.
"""
from __future__ import annotations

import heapq
from collections import Counter
from itertools import combinations, combinations_with_replacement, product

from migfleet.mig.placed import PlacedGi
from tests.advise.brute_layouts import all_layouts, maximal_shapes, shape_of, shapes_of, slices_of
from tests.advise.brute_lp import most_served

TOL = 1e-6


class TooBig(Exception):
    """The enumeration would take too long for a unit test; the caller draws another host."""


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
        self.rates: dict = {}
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
        if (g, pid, m) not in self.rates:
            geo = self.p.gpus[g].geometry
            self.rates[(g, pid, m)] = self.p.capacity.rps(geo.model, geo.profile(pid).name, m)
        return self.rates[(g, pid, m)]

    def _unmet(self, loaded: Counter) -> float:
        """loaded: (gpu model, profile id, models) -> instances. The least unmet over time shares."""
        key = frozenset(loaded.items())
        if key in self.memo:
            return self.memo[key]
        low, high = self._served_bounds(loaded)
        if high - low <= TOL * 1e-3 * max(1.0, high):     # a feasible split serves the most there is: no program
            self.memo[key] = max(0.0, self.total - high)
            return self.memo[key]
        self.lps += 1
        if self.lps > self.max_lps:
            raise TooBig
        cols, rates = [], []
        for t, (g, pid, s) in enumerate(loaded):
            for m in s:
                r = self._rate(g, pid, m)
                if r > 0 and m in self.required:
                    cols.append((t, m))
                    rates.append(r)
        if not cols:
            return self.total
        models = sorted(self.required)
        row = {m: len(loaded) + i for i, m in enumerate(models)}
        upper = [float(n) for n in loaded.values()] + [self.required[m] for m in models]
        served = most_served(rates, [(t, row[m]) for t, m in cols], upper)
        self.memo[key] = max(0.0, self.total - served)
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
        return self.total - self._served_bounds(loaded)[1] <= unmet + TOL * max(1.0, unmet)

    def _served_bounds(self, loaded: Counter) -> tuple[float, float]:
        """(what one feasible split of time serves, the most any could): each instance in turn gives
        its time to its fastest models that still want some; above, each model's own most and all
        the time at each instance's fastest rate. Where they meet, that is the program's value."""
        per_model = dict.fromkeys(self.required, 0.0)
        anything = 0.0
        need = dict(self.required)
        low = 0.0
        for (g, pid, s), n in loaded.items():
            rates = sorted(((self._rate(g, pid, m), m) for m in s if m in self.required), reverse=True)
            time = float(n)
            for r, m in rates:
                per_model[m] += n * r
                if r > 0 and time > 0 and need[m] > 0:
                    x = min(time, need[m] / r)
                    time -= x
                    need[m] -= x * r
                    low += x * r
            anything += n * (rates[0][0] if rates else 0.0)
        return low, min(anything, sum(min(self.required[m], v) for m, v in per_model.items()))

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
            if bound is not None and missing == bound[0] and not self._may_reach(loaded, bound[1]):
                continue        # cannot reach the target, or do better than the best so far
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
        for g, lays in enumerate(self.layouts):
            shapes = dict(shapes_of(self.p.gpus[g].geometry)[0])
            today = self.p.gpus[g].today.layout.gis
            shapes.setdefault(shape_of(today), today)
            tops.append([shapes[k] for k in maximal_shapes(tuple(shapes))])
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
            shapes, containing = shapes_of(geo)
            for shape in shapes:
                free = frozenset(((g, pid), n) for pid, n in shape)
                entries[(frozenset(), free)] = (len(today) + sum(n for _, n in shape), slices_of(geo, shape))
            able = {gi for gi, ms in today.items() if sum(self.memory[m] for m in ms) <= self._room(g, gi)}
            # Layouts that keep at least one of today's instances: only those holding one of them.
            holding = sorted({i for gi in able for i in containing.get(gi, ())})
            others = [lays[i] for i in holding] + lays[len(all_layouts(geo)):]     # today's, where not listed
            for lay in others:
                slices = sum(geo.profile(gi.profile_id).slices for gi in lay)
                every = Counter((g, gi.profile_id) for gi in lay)
                mine = [gi for gi in lay if gi in able]
                for k in range(len(mine), -1, -1):
                    cost = (len(today) + len(lay) - 2 * k, slices)
                    for kept in combinations(mine, k):
                        fixed = Counter((g, gi.profile_id, today[gi]) for gi in kept)
                        free = every.copy()
                        for gi in kept:
                            free[(g, gi.profile_id)] -= 1
                        sig = (frozenset(fixed.items()), frozenset((p, n) for p, n in free.items() if n))
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
