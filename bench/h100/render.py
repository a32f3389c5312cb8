"""Summary JSON and plots from what run_device.sh brought back (bench/results/h100/).

    .venv/bin/python bench/h100/render.py bench/results/h100
"""
from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

BUDGET_MS = 50.0


def load_rows(path: Path) -> list[dict]:
    rows = []
    for r in csv.DictReader(path.open()):
        for key in ("tritons", "concurrency"):
            r[key] = int(r[key])
        for key in ("throughput_rps", "p50_ms", "p95_ms", "p99_ms", "mean_ms"):
            r[key] = float(r[key]) if r.get(key) else float("nan")
        rows.append(r)
    if not rows:
        raise SystemExit(f"{path}: no rows")
    return rows


def machine(path: Path) -> dict:
    """machine.txt (run_device.sh): the --query-gpu CSV, then nvidia-smi's banner and `key: value` lines."""
    lines = path.read_text().splitlines()
    desc = dict(zip(lines[0].split(", "), lines[1].split(", ")))
    for line in lines[2:]:
        if "CUDA Version:" in line:
            desc["cuda_version"] = line.split("CUDA Version:")[1].strip(" |")
        elif line.startswith(("kernel:", "glibc:", "cpus:", "python3:")):
            key, value = line.split(":", 1)
            desc[key] = value.strip()
        elif line.startswith("torch baseline"):
            desc["torch_baseline"] = line
        elif line.startswith("torch "):
            desc["software"] = line
    return desc


def series(rows, target, k):
    return sorted((r for r in rows if r["target"] == target and r["tritons"] == k), key=lambda r: r["concurrency"])


def _point(r: dict) -> dict:
    return {"concurrency": r["concurrency"], "throughput_rps": round(r["throughput_rps"], 1),
            "p50_ms": round(r["p50_ms"], 2), "p95_ms": round(r["p95_ms"], 2), "p99_ms": round(r["p99_ms"], 2)}


def _best_within_budget(points: list[dict]):
    within = [p for p in points if p["p99_ms"] <= BUDGET_MS]
    return max(within, key=lambda p: p["throughput_rps"]) if within else None


def summarize(rows: list[dict], desc: dict, notes: dict) -> dict:
    """Envoy against direct, where direct is the mean of the two direct runs (before and after the
    Envoy runs); their difference is the run-to-run spread the Envoy effect must be read against."""
    runs = [{r["concurrency"]: r for r in series(rows, t, 1)} for t in ("direct", "direct_repeat")]
    runs = [run for run in runs if run]
    ref = {}
    for c in runs[0]:
        pts = [run[c] for run in runs if c in run]
        ref[c] = {"throughput_rps": sum(p["throughput_rps"] for p in pts) / len(pts),
                  "p50_ms": sum(p["p50_ms"] for p in pts) / len(pts),
                  "throughput_spread": (max(p["throughput_rps"] for p in pts) - min(p["throughput_rps"] for p in pts))
                  / (sum(p["throughput_rps"] for p in pts) / len(pts)),
                  "p50_spread_ms": max(p["p50_ms"] for p in pts) - min(p["p50_ms"] for p in pts)}
    out: dict = {
        "machine": desc,
        "model": "torchvision resnet50, random weights (seed 0), FP32, batch 1, input FP32 [3,224,224], "
                 "Triton 2.51 python backend (torch on cuda:0), MIG disabled (whole GPU)",
        "load_tool": sorted({r["tool"] for r in rows}),
        "latency_budget_ms": BUDGET_MS,
        "direct_reference": {str(c): {k: round(v, 3) for k, v in d.items()} for c, d in sorted(ref.items())},
    }
    for name, run in zip(("direct", "direct_repeat"), runs):
        pts = [_point(r) for _, r in sorted(run.items())]
        out[name] = {"points": pts, "best_throughput_p99_within_budget": _best_within_budget(pts)}
    for k in sorted({r["tritons"] for r in rows if r["target"] == "envoy"}):
        pts = []
        for r in series(rows, "envoy", k):
            p, d = _point(r), ref.get(r["concurrency"])
            if d:
                p["throughput_vs_direct"] = round(r["throughput_rps"] / d["throughput_rps"], 3)
                p["p50_added_ms"] = round(r["p50_ms"] - d["p50_ms"], 2)
            pts.append(p)
        out[f"envoy_k{k}"] = {"points": pts, "best_throughput_p99_within_budget": _best_within_budget(pts)}
    out["notes"] = notes
    return out


def plot(rows: list[dict], out: Path) -> None:
    curves = [("direct", 1, "direct, 1 Triton"), ("direct_repeat", 1, "direct, 1 Triton (repeat)")] + \
        [("envoy", k, f"Envoy, {k} Triton{'s' if k > 1 else ''}")
         for k in sorted({r["tritons"] for r in rows if r["target"] == "envoy"})]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for target, k, label in curves:
        s = series(rows, target, k)
        ax.plot([r["concurrency"] for r in s], [r["throughput_rps"] for r in s], marker="o", label=label,
                linestyle=":" if target == "direct_repeat" else "-")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("client concurrency (requests in flight)")
    ax.set_ylabel("throughput (inferences/s)")
    ax.set_title("ResNet-50 batch 1 on one H100 (MIG disabled)")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "throughput.png", dpi=120)
    plt.close(fig)

    fig, axes = plt.subplots(1, 3, figsize=(13, 4.2), sharey=True)
    for ax, key in zip(axes, ("p50_ms", "p95_ms", "p99_ms")):
        for target, k, label in curves:
            s = series(rows, target, k)
            ax.plot([r["concurrency"] for r in s], [r[key] for r in s], marker="o", label=label,
                    linestyle=":" if target == "direct_repeat" else "-")
        ax.axhline(BUDGET_MS, color="red", linestyle="--", label=f"{BUDGET_MS:g} ms budget")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("client concurrency")
        ax.set_title(key.replace("_ms", " latency"))
        ax.grid(True, alpha=0.3)
    axes[0].set_ylabel("latency (ms)")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "latency.png", dpi=120)
    plt.close(fig)


def main(results: Path) -> int:
    rows = load_rows(results / "bench.csv")
    notes_path = results / "bench_notes.json"
    notes = json.loads(notes_path.read_text()) if notes_path.exists() else {}
    summary = summarize(rows, machine(results / "machine.txt"), notes)
    (results / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    plot(rows, results)
    for name in [k for k in summary if k.startswith(("direct", "envoy"))]:
        if name == "direct_reference":
            continue
        for p in summary[name]["points"]:
            print(name, p)
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "bench/results/h100")))
