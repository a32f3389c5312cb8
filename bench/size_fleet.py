"""GPUs needed by `migfleet advise --size`, by whole-GPU serving and by default Triton settings, against
the lower bound, on synthetic demand sets of 3 to 12 models (A100-SXM4-80GB and H100 80GB HBM3).

    .venv/bin/python bench/size_fleet.py [--models 3-12] [--seeds 2] [--time-limit 60] [--out bench/results/size]

The capacity tables are made from a model of rate against slices, batch and copies (no GPU is
measured; docs/ADVISE.md "Sizing a fleet"). Per model m, drawn from the set's seed:

    t0   ms one request takes on a 1-slice instance, alone, batch 1: 2 to 20 (H100: t0 / 1.7)
    a    how the model's compute scales with slices: 0.55 (small model) to 0.95 (large), from t0
    k    a batch of b takes (1 + k (b - 1)) x one request's time: 0.15 to 0.5 (batching amortises)
    f    overlap of concurrent copies: c copies serve (1 + f (c - 1)) x one copy's rate: 0.1 to 0.5
    w    MiB one copy holds; r MiB per request in a batch

    service time of one batch   T(s, b, c) = t0 / s^a x (1 + k (b - 1)) x c / (1 + f (c - 1))
    rate                        b x c / T(s, b, c) x 1000 requests/s
    p50, p95, p99               1.5, 2.2, 2.5 x T (a request waits for the batch in service, then its own)
    memory                      c x (w + r b) MiB; a point over the instance's memory is not in the table

for every profile (the `+me` ones left out), b in {0 (no batching: b = 1), 2, 4, 8, 16, 32} and
c in {1, 2, 3}, concurrency 2 b c. The p99 target is 1.5 to 10 x t0, so tight targets rule out small
instances and large batches; the demand is 0.2 to 4 whole GPUs' worth (at the best 7g point) per model.

Per set: GPUs by --size (exact program, --time-limit per set), by whole-GPU serving (the full
profile only, best setting), by one model per instance with default settings (instance_count 1, no
dynamic batching, packed by the same program); the lower bound (compute slices / 7); the solve
time. Writes size.csv, size.json and size.png under --out; prints a summary with the acceptance
checks (no more GPUs than whole-GPU serving on every set; within one GPU of the bound on >= 80%;
each set under 60 s). Numbers, not a pass/fail test: the machine may be shared.
"""
from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from migfleet.advise.capacity import parse  # noqa: E402
from migfleet.advise.size import defaults_only, size, whole_gpu, options  # noqa: E402
from migfleet.mig import catalog  # noqa: E402

GPU_MODELS = {"NVIDIA A100-SXM4-80GB": 1.0, "NVIDIA H100 80GB HBM3": 1.7}     # speed against the A100
BATCHES = (0, 2, 4, 8, 16, 32)
COPIES = (1, 2, 3)


def model_params(rng: random.Random) -> dict:
    t0 = rng.uniform(2, 20)
    return {"t0": t0, "a": min(0.95, 0.55 + 0.4 * (t0 - 2) / 18 + rng.uniform(-0.05, 0.05)),
            "k": rng.uniform(0.15, 0.5), "f": rng.uniform(0.1, 0.5), "w": rng.uniform(300, 6000),
            "r": rng.uniform(20, 150), "p99_ms": t0 * rng.uniform(1.5, 10), "demand": rng.uniform(0.2, 4)}


def point(m: dict, speed: float, slices: int, b: int, c: int) -> dict:
    batch = max(b, 1)
    t = m["t0"] / speed / slices ** m["a"] * (1 + m["k"] * (batch - 1)) * c / (1 + m["f"] * (c - 1))
    return {"max_batch_size": b, "instance_count": c, "concurrency": 2 * batch * c,
            "rate": round(batch * c / t * 1000, 3), "p50_ms": round(1.5 * t, 3), "p95_ms": round(2.2 * t, 3),
            "p99_ms": round(2.5 * t, 3), "memory_mib": round(c * (m["w"] + m["r"] * batch), 1)}


def table(models: dict[str, dict]) -> dict:
    """A version-2 capacity table for every GPU model of GPU_MODELS, from the model above."""
    gpus = {}
    for gpu, speed in GPU_MODELS.items():
        geometry = catalog.lookup(gpu)
        gpus[gpu] = {}
        for p in geometry.profiles:
            if p.name.endswith("+me"):
                continue
            pts = {name: [q for b in BATCHES for c in COPIES
                          if (q := point(m, speed, p.slices, b, c))["memory_mib"] <= p.memory_mib]
                   for name, m in models.items()}
            gpus[gpu][p.name] = {"points": {n: v for n, v in pts.items() if v}}
    return {"version": 2, "source": "bench/size_fleet.py synthetic model",
            "models": {n: {"memory_mib": round(m["w"], 1), "p99_ms": round(m["p99_ms"], 3)} for n, m in models.items()},
            "gpus": gpus}


def demand_set(n: int, seed: int) -> tuple[dict, dict]:
    rng = random.Random(f"{n}-{seed}")
    models = {f"m{i:02d}": model_params(rng) for i in range(n)}
    data = table(models)
    # Demand: whole GPUs' worth at the A100's best full-profile point within the target.
    cap = parse(data, "synthetic")
    geometry = catalog.lookup("NVIDIA A100-SXM4-80GB")
    full = {o.model: o.point.rate for o in options(cap, geometry, dict.fromkeys(models, 1.0), cap.model_p99,
                                                   profiles={"7g.80gb"})}
    rates = {name: round(m["demand"] * full[name], 1) for name, m in models.items()}
    return data, rates


def run_set(n: int, seed: int, gpu: str, limit: float) -> dict:
    data, rates = demand_set(n, seed)
    cap = parse(data, "synthetic")
    geometry = catalog.lookup(gpu)
    targets = dict(cap.model_p99)
    started = time.perf_counter()
    sized = size(cap, geometry, rates, targets, limit)
    seconds = time.perf_counter() - started
    default = size(cap, geometry, rates, targets, limit, keep=defaults_only)
    whole = whole_gpu(rates, options(cap, geometry, rates, targets), geometry)
    served = sized.served()
    assert all(served[m] >= r - 1e-6 for m, r in rates.items()), "a model's rate is not served"
    return {"gpu": gpu, "models": n, "seed": seed, "size_gpus": len(sized.gpus), "size_slices": sized.slices,
            "size_instances": sized.instances, "whole_gpu": whole, "default_settings": len(default.gpus),
            "bound": sized.bound, "program_bound": sized.program_bound, "proven": sized.proven,
            "seconds": round(seconds, 3), "demand": rates}


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(GPU_MODELS), figsize=(12, 4.5), sharey=True)
    for ax, gpu in zip(axes, GPU_MODELS):
        mine = [r for r in rows if r["gpu"] == gpu]
        xs = range(len(mine))
        for key, label, style in (("whole_gpu", "whole GPU (7g)", "s-"), ("default_settings", "MIG, default Triton", "^-"),
                                  ("size_gpus", "advise --size", "o-"), ("bound", "lower bound", "k--")):
            ax.plot(xs, [r[key] for r in mine], style, label=label, markersize=4)
        ax.set_xticks(list(xs), [f"{r['models']}/{r['seed']}" for r in mine], rotation=90, fontsize=7)
        ax.set_title(gpu)
        ax.set_xlabel("models / seed")
    axes[0].set_ylabel("GPUs")
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default="3-12", help="range of models per set (default 3-12)")
    ap.add_argument("--seeds", type=int, default=2, help="sets per model count and GPU (default 2)")
    ap.add_argument("--time-limit", type=float, default=60.0)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "size"))
    args = ap.parse_args()
    low, high = map(int, args.models.split("-"))
    rows = []
    for gpu in GPU_MODELS:
        for n in range(low, high + 1):
            for seed in range(args.seeds):
                row = run_set(n, seed, gpu, args.time_limit)
                rows.append(row)
                print(f"{gpu:24} {n:2} models seed {seed}: size {row['size_gpus']:3} (slices {row['size_slices']}) "
                      f"whole {row['whole_gpu']:3} default {row['default_settings']:3} bound {row['bound']:3} "
                      f"{'proven' if row['proven'] else 'time limit'} {row['seconds']:.2f} s", flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    fields = [k for k in rows[0] if k != "demand"]
    with open(out / "size.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fields, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    never_worse = all(r["size_gpus"] <= r["whole_gpu"] for r in rows)
    near = sum(r["size_gpus"] - r["bound"] <= 1 for r in rows) / len(rows)
    slowest = max(r["seconds"] for r in rows)
    saved = 1 - sum(r["size_gpus"] for r in rows) / sum(r["whole_gpu"] for r in rows)
    summary = {"sets": len(rows), "never_more_than_whole_gpu": never_worse, "within_one_of_bound": round(near, 3),
               "slowest_s": slowest, "gpus_saved_vs_whole_gpu": round(saved, 3),
               "gpus_saved_vs_default_settings": round(1 - sum(r["size_gpus"] for r in rows)
                                                       / sum(r["default_settings"] for r in rows), 3),
               "proven": sum(r["proven"] for r in rows)}
    (out / "size.json").write_text(json.dumps({"summary": summary, "sets": rows}, indent=1) + "\n")
    plot(rows, out / "size.png")
    print(json.dumps(summary))
    ok = never_worse and near >= 0.8 and slowest < 60
    print("acceptance:", "met" if ok else "NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
