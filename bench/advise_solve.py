"""Solve time of `migfleet advise` for 1, 100 and 1,000 GPUs, today's solver beside the new one.

    .venv/bin/python bench/advise_solve.py [--sizes 1,100,1000] [--seed 0] [--baseline COMMIT] [--workers N]

Fleets of hosts with 8 GPUs each (A100-SXM4-40GB, H100 80GB HBM3 and H200 hosts in turn), each GPU
today 7 x its smallest profile with one of two models per instance (the same on every GPU of a host,
as a mig_layout rule gives it), a third model with demand but no instance, per-host demand drawn at
random so that today's layout falls short: every host goes through the full solve. Each solve level
stops at --time-limit seconds (default 5; the best found is kept, counted as not proven optimal).

Run side by side, on the same fleet, in one run:
- baseline: the solver of --baseline (default a637c87, hosts one after the other), from `git
  archive` of that commit, in its own process;
- plain: this solver with its work savers off (solve.PLAIN), one process, no cache: the smaller
  program alone (largest model sets, candidates kept per kind of GPU);
- savers: plus the work savers (level 1 skipped where greedy meets demand, greedy's bound on level 2);
- workers: plus a process per core (--workers, default every core);
- cache: plus identical hosts solved once, on a fleet whose hosts come in --kinds kinds (the same
  GPUs, today and demand), beside the same fleet without the cache.
Each host's answer is compared with the baseline's and greedy's: "worse" counts hosts where it ranks
below either. Writes bench/results/advise/solve.json; numbers, not a pass/fail test (the machine may
be shared: the load average is written beside them).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if __name__ == "__main__" or "migfleet" not in sys.modules:
    sys.path.insert(0, os.environ.get("ADVISE_BENCH_TREE", str(ROOT)))

from migfleet.advise.capacity import parse  # noqa: E402
from migfleet.advise.problem import Assignment, Gpu, HostProblem  # noqa: E402
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


def fleet(n_gpus: int, rng: random.Random, cap, kinds: int = 0) -> list[HostProblem]:
    """kinds > 0: hosts repeat after that many (identical problems, for the cache)."""
    hosts, left, h = [], n_gpus, 0
    while left > 0:
        k = min(8, left)
        geo = catalog.lookup(GPU_MODELS[h % len(GPU_MODELS)])
        small = min((p for p in geo.profiles if "+" not in p.name), key=lambda p: p.slices)
        layout = fit(geo, [DesiredInstance(small.name, small.instances)])
        pick = random.Random(h % kinds) if kinds else rng
        # GPUs of a host share their layout, as mig_layout rules give it (one rule per model or "all").
        today = Assignment(layout, tuple(frozenset({pick.choice(MODELS_[:2])}) for _ in layout.gis))
        gpus = [Gpu(i, geo, today) for i in range(k)]
        demand = {m: pick.uniform(4, 22) * k for m in MODELS_}      # x1.3: about 40-110 % of what the GPUs hold
        hosts.append(HostProblem(f"h{h}", gpus, demand, cap, headroom=1.3, keep=1.3))
        left -= k
        h += 1
    return hosts


def _key(s) -> list:
    return [s.missing, round(s.unmet, 6), s.disruption, s.slices]


def _ranks_below(a: list, b: list) -> bool:
    """a ranks below b (lexicographic, unmet within 1e-6)."""
    if a[0] != b[0]:
        return a[0] > b[0]
    if abs(a[1] - b[1]) > 1e-6 * max(1.0, b[1]):
        return a[1] > b[1]
    return a[2:] > b[2:]


def run_baseline(size: int, seed: int, time_limit: float) -> dict:
    """In this process, with the baseline tree first on the path (see main)."""
    from migfleet.advise.solve import solve_host
    problems = fleet(size, random.Random(seed), table())
    t0, c0 = time.perf_counter(), time.process_time()
    results = [solve_host(p, time_limit) for p in problems]
    return {"wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0,
            "keys": [_key(r.score) for r in results], "proven": sum(r.proven for r in results)}


def baseline(commit: str, size: int, seed: int, time_limit: float) -> dict:
    with tempfile.TemporaryDirectory() as tree:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit, "migfleet"], capture_output=True,
                                 check=True).stdout
        subprocess.run(["tar", "-x", "-C", tree], input=archive, check=True)
        code = (f"import json, sys; sys.path.insert(0, {str(ROOT / 'bench')!r}); import advise_solve as b; "
                f"print(json.dumps(b.run_baseline({size}, {seed}, {time_limit})))")
        path = os.pathsep.join([tree] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              env={**os.environ, "ADVISE_BENCH_TREE": tree, "PYTHONPATH": path})
        if done.returncode:
            raise SystemExit(f"baseline {commit} failed:\n{done.stderr[-3000:]}")
        return json.loads(done.stdout.strip().splitlines()[-1])


def timed(problems, time_limit, **kw) -> dict:
    from migfleet.advise.fleet import Failure, solve_hosts
    t0, c0 = time.perf_counter(), time.process_time()
    rs = solve_hosts(problems, time_limit, **kw)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    assert not any(isinstance(r, Failure) for r in rs), [r for r in rs if isinstance(r, Failure)]
    return {"wall_s": round(wall, 2), "cpu_s_this_process": round(cpu, 2), "keys": [_key(r.score) for r in rs],
            "proven": sum(r.proven for r in rs), "slowest_host_s": round(max(r.solve_s for r in rs), 3)}


def main() -> None:
    from migfleet.advise.fleet import workers_default
    from migfleet.advise.greedy import greedy_host, score
    from migfleet.advise.solve import PLAIN
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1,100,1000")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--time-limit", type=float, default=5.0, help="per host and level, as advise's --time-limit")
    ap.add_argument("--baseline", default="a637c87", help="commit whose solver runs beside (empty: none)")
    ap.add_argument("--workers", type=int, default=workers_default())
    ap.add_argument("--kinds", type=int, default=5, help="kinds of host in the cache row's fleet")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "advise" / "solve.json"))
    args = ap.parse_args()
    cap = table()
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        problems = fleet(size, random.Random(args.seed), cap)
        row = {"gpus": size, "hosts": len(problems), "time_limit_s": args.time_limit, "workers": args.workers}
        runs = {}
        if args.baseline:
            runs["baseline"] = baseline(args.baseline, size, args.seed, args.time_limit)
        runs["plain"] = timed(problems, args.time_limit, workers=1, cache=False, tuning=PLAIN)
        runs["savers"] = timed(problems, args.time_limit, workers=1, cache=False)
        runs["workers"] = timed(problems, args.time_limit, workers=args.workers, cache=False)
        repeated = fleet(size, random.Random(args.seed), cap, kinds=args.kinds)
        runs["repeated_no_cache"] = timed(repeated, args.time_limit, workers=args.workers, cache=False)
        runs["repeated_cache"] = timed(repeated, args.time_limit, workers=args.workers, cache=True)
        greedy = [_key(score(p, greedy_host(p))) for p in problems]
        reference = runs.get("baseline", {}).get("keys")
        for name, r in runs.items():
            keys = r.pop("keys")
            if not name.startswith("repeated"):        # the repeated fleet is another fleet: no greedy row for it
                r["worse_than_greedy"] = sum(_ranks_below(k, g) for k, g in zip(keys, greedy))
                if reference is not None and name != "baseline":
                    r["worse_than_baseline"] = sum(_ranks_below(k, b) for k, b in zip(keys, reference))
                    r["better_than_baseline"] = sum(_ranks_below(b, k) for k, b in zip(keys, reference))
                r["changed"] = sum(k[2] for k in keys)
                r["unmet"] = round(sum(k[1] for k in keys), 3)
            r["wall_s"] = round(r["wall_s"], 2)
        row["runs"] = runs
        rows.append(row)
        print(f"{size} GPUs ({len(problems)} hosts), {args.workers} worker(s):", flush=True)
        for name, r in runs.items():
            print(f"  {name:18s} {r['wall_s']:8.2f} s wall  proven {r['proven']}/{len(problems)}  "
                  + "  ".join(f"{k} {v}" for k, v in r.items() if k not in ("wall_s", "proven")), flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    load = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else []
    Path(args.out).write_text(json.dumps({"seed": args.seed, "cpus": os.cpu_count(), "load_average_after": load,
                                          "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
