"""Random small hosts for the brute-force check of advise (tests/advise/test_optimum.py)."""
from __future__ import annotations

import random

from migfleet.advise.capacity import parse
from migfleet.advise.problem import Assignment, Gpu, HostProblem
from migfleet.mig import catalog
from migfleet.mig.placed import ENABLED, GpuLayout
from tests.advise.brute_layouts import all_layouts

A100, H100, H200 = "NVIDIA A100-SXM4-40GB", "NVIDIA H100 80GB HBM3", "NVIDIA H200"
MEMORY = (0, 0, 2000, 6000, 12000, 30000)


def random_host(rng: random.Random) -> HostProblem:
    n_gpus = 1 if rng.random() < 0.85 else 2
    first = rng.choice([A100, H100, H200])
    kinds = [first if g == 0 or rng.random() < 0.5 else rng.choice([A100, H100, H200]) for g in range(n_gpus)]
    models = [f"m{i}" for i in range(rng.randint(1, 6))]
    memory = {m: rng.choice(MEMORY) for m in models}
    gpus_table = {}
    for kind in set(kinds):
        geo = catalog.lookup(kind)
        table = {}
        for p in geo.profiles:
            if "+" in p.name or rng.random() < 0.25:
                continue
            rates = {m: round(p.slices * rng.uniform(5, 15), 1) for m in models
                     if rng.random() < 0.7 and memory[m] <= p.memory_mib}
            if rates:
                table[p.name] = {"rps": rates}
        gpus_table[kind] = table
    data = {"version": 1, "gpus": gpus_table, "models": {m: {"memory_mib": v} for m, v in memory.items() if v}}
    if not data["models"]:
        del data["models"]
    cap = parse(data, "random")
    gpus = []
    for g, kind in enumerate(kinds):
        geo = catalog.lookup(kind)
        lays = all_layouts(geo)
        gis = rng.choice(lays) if rng.random() < 0.85 else ()
        layout = GpuLayout(ENABLED, gis)
        sets = []
        for gi in layout.gis:
            room = geo.profile(gi.profile_id).memory_mib
            fit = [m for m in models if memory[m] <= room]
            if rng.random() < 0.1 and sum(memory[m] for m in models) <= room:
                sets.append(None)
                continue
            rng.shuffle(fit)
            chosen = []
            for m in fit[:rng.randint(1, 2)]:
                if sum(memory[x] for x in chosen) + memory[m] <= room:
                    chosen.append(m)
            sets.append(frozenset(chosen))
        gpus.append(Gpu(g, geo, Assignment(layout, tuple(sets))))
    scale = sum(60.0 for _ in kinds)
    demand = {m: round(rng.uniform(0, scale / len(models) * 1.5), 1) for m in models if rng.random() < 0.8}
    return HostProblem("h", gpus, demand, cap, {m: float(v) for m, v in memory.items()}, headroom=1.3, keep=1.3)
