"""Solve time of `migfleet advise`'s exact solver (and the greedy baseline) for 1, 100 and 1,000 GPUs.

    .venv/bin/python bench/advise_solve.py [--sizes 1,100,1000] [--seed 0]

Fleets of hosts with 8 GPUs each (A100-SXM4-40GB, H100 80GB HBM3 and H200 hosts in turn), each GPU
today 7 x its smallest profile with one of two models per instance (the same on every GPU of a host,
as a mig_layout rule gives it), a third model with demand but no instance, per-host demand drawn at
random so that today's layout falls short (every host goes through the full solve, not the
keep-today check), each solve level stopped at --time-limit seconds (default 5; the best found is
kept and counted as not proven optimal); then every host again on the demand its proposal was made
for (the keep-today check only, as a steady fleet runs). Prints wall and CPU time per size and
writes bench/results/advise/solve.json.
Numbers, not a pass/fail test: the machine may be shared.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from migfleet.advise.capacity import parse  # noqa: E402
from migfleet.advise.greedy import greedy_host, score  # noqa: E402
from migfleet.advise.problem import Assignment, Gpu, HostProblem  # noqa: E402
from migfleet.advise.solve import solve_host  # noqa: E402
from migfleet.mig import catalog  # noqa: E402
from migfleet.mig.desired import DesiredInstance  # noqa: E402
from migfleet.mig.fit import fit  # noqa: E402

MODELS_ = ("a", "b", "c")
GPU_MODELS = ("NVIDIA A100-SXM4-40GB", "NVIDIA H100 80GB HBM3", "NVIDIA H200")
PER_SLICE = {1: 10.0, 2: 9.5, 3: 9.3, 4: 9.0, 7: 8.6}       # requests/s per slice, falling with size


def table():
    gpus = {}
    for model in GPU_MODELS:
        geo = catalog.lookup(model)
        gpus[model] = {p.name: {"rps": {m: round(PER_SLICE[p.slices] * p.slices * (1 + 0.2 * k), 1)
                                        for k, m in enumerate(MODELS_)}}
                       for p in geo.profiles if "+" not in p.name}
    return parse({"version": 1, "p99_ms": 50, "models": {"a": {"memory_mib": 3000}, "b": {"memory_mib": 8000},
                                                          "c": {"memory_mib": 15000}}, "gpus": gpus}, "bench")


def fleet(n_gpus: int, rng: random.Random, cap) -> list[HostProblem]:
    hosts, left, h = [], n_gpus, 0
    while left > 0:
        k = min(8, left)
        geo = catalog.lookup(GPU_MODELS[h % len(GPU_MODELS)])
        small = min((p for p in geo.profiles if "+" not in p.name), key=lambda p: p.slices)
        layout = fit(geo, [DesiredInstance(small.name, small.instances)])
        # GPUs of a host share their layout, as mig_layout rules give it (one rule per model or "all").
        today = Assignment(layout, tuple(frozenset({rng.choice(MODELS_[:2])}) for _ in layout.gis))
        gpus = [Gpu(i, geo, today) for i in range(k)]
        demand = {m: rng.uniform(4, 22) * k for m in MODELS_}      # x1.3: about 40-110 % of what the GPUs hold
        hosts.append(HostProblem(f"h{h}", gpus, demand, cap, headroom=1.3, keep=1.3))
        left -= k
        h += 1
    return hosts


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1,100,1000")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--time-limit", type=float, default=5.0, help="per host and level, as advise's --time-limit")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "advise" / "solve.json"))
    args = ap.parse_args()
    cap = table()
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        problems = fleet(size, random.Random(args.seed), cap)
        t0, c0 = time.perf_counter(), time.process_time()
        results = [solve_host(p, args.time_limit) for p in problems]
        exact_s, exact_cpu = time.perf_counter() - t0, time.process_time() - c0
        # Steady state: each host asked again on the demand its proposal was made for (keep check only).
        again = [HostProblem(p.host, [Gpu(g.index, g.geometry, a) for g, a in zip(p.gpus, r.proposal)], p.demand,
                             cap, headroom=1.3, keep=1.0) for p, r in zip(problems, results)]
        t0 = time.perf_counter()
        steady = [solve_host(p, args.time_limit) for p in again]
        steady_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        greedy = [greedy_host(p) for p in problems]
        greedy_s = time.perf_counter() - t0
        scores = [score(p, g) for p, g in zip(problems, greedy)]
        worse = sum(not r.score.no_worse_than(s) for r, s in zip(results, scores))
        row = {"gpus": size, "hosts": len(problems), "exact_s": round(exact_s, 2), "exact_cpu_s": round(exact_cpu, 2),
               "proven_optimal_hosts": sum(r.proven for r in results), "time_limit_s": args.time_limit,
               "steady_s": round(steady_s, 2), "steady_changes": sum(r.changes for r in steady),
               "greedy_s": round(greedy_s, 2),
               "slowest_host_s": round(max(r.solve_s for r in results), 3),
               "unmet_exact": round(sum(r.score.unmet for r in results), 1),
               "unmet_greedy": round(sum(s.unmet for s in scores), 1),
               "changed_exact": sum(r.score.disruption for r in results),
               "changed_greedy": sum(s.disruption for s in scores), "exact_worse_than_greedy": worse}
        rows.append(row)
        print(f"{size:5d} GPUs ({row['hosts']} hosts): exact {exact_s:7.2f} s wall, {exact_cpu:7.2f} s CPU "
              f"(slowest host {row['slowest_host_s']} s, proven optimal {row['proven_optimal_hosts']}/{row['hosts']}); "
              f"again on the same demand {steady_s:.2f} s, {row['steady_changes']} host(s) changed; "
              f"greedy {greedy_s:6.2f} s; unmet req/s exact {row['unmet_exact']} / greedy {row['unmet_greedy']}; "
              f"instances changed exact {row['changed_exact']} / greedy {row['changed_greedy']}; "
              f"hosts where exact is worse: {worse}", flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    load = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else []
    Path(args.out).write_text(json.dumps({"seed": args.seed, "cpus": os.cpu_count(), "load_average_after": load,
                                          "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
