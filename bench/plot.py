"""Plots and headline numbers from bench/results/lab/{datapath.csv, fleet_summary.json}.

    .venv/bin/python bench/plot.py [--budget-ms 50] [--results DIR]
"""
from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.ticker  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402

from labctl import RESULTS  # noqa: E402


def load_datapath(path: Path) -> list[dict]:
    with open(path) as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        r["backends"], r["concurrency"] = int(r["backends"]), int(r["concurrency"])
        for key in ("throughput_infer_s", "p50_ms", "p90_ms", "p95_ms", "p99_ms"):
            r[key] = float(r[key])
    return rows


def series(rows: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for r in sorted(rows, key=lambda r: (r["target"] != "direct", r["backends"], r["concurrency"])):
        label = "direct (1 Triton)" if r["target"] == "direct" else f"Envoy, k={r['backends']}"
        out.setdefault(label, []).append(r)
    return out


def _concurrency_ticks(ax, rows: list[dict]) -> None:
    ticks = sorted({r["concurrency"] for r in rows})
    ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    ax.set_xticks(ticks, [str(c) for c in ticks])


def plot_datapath(rows: list[dict], out: Path, budget_ms: float) -> list[Path]:
    lines = series(rows)
    colors = plt.cm.viridis([i / max(len(lines) - 1, 1) for i in range(len(lines))])
    styles = {label: dict(color="black", linewidth=2.5) if label.startswith("direct") else dict(color=c)
              for label, c in zip(lines, colors)}
    made = []
    fig, ax = plt.subplots(figsize=(8, 5))
    for label, pts in lines.items():
        ax.plot([p["concurrency"] for p in pts], [p["throughput_infer_s"] for p in pts], marker="o",
                label=label, **styles[label])
    ax.set(xscale="log", xlabel="concurrent requests (perf_analyzer)", ylabel="inferences / s",
           title="Throughput: direct vs through Envoy (lab host, CPU Tritons)")
    _concurrency_ticks(ax, rows)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    made.append(out / "datapath_throughput.png")
    fig.savefig(made[-1], dpi=110)
    plt.close(fig)

    fig, axes = plt.subplots(1, 2, figsize=(12, 5), sharey=True)
    for ax, q in zip(axes, ("p50", "p99")):
        for label, pts in lines.items():
            ax.plot([p["concurrency"] for p in pts], [p[f"{q}_ms"] for p in pts], marker="o",
                    label=label, **styles[label])
        ax.axhline(budget_ms, color="red", linestyle="--", label=f"latency budget {budget_ms:g} ms")
        ax.set(xscale="log", yscale="log", xlabel="concurrent requests", title=f"{q} latency")
        _concurrency_ticks(ax, rows)
        ax.grid(alpha=0.3, which="both")
    axes[0].set_ylabel("ms")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    made.append(out / "datapath_latency.png")
    fig.savefig(made[-1], dpi=110)
    plt.close(fig)
    return made


def plot_fleet(summary: list[dict], out: Path) -> Path:
    hosts = [s["hosts"] for s in summary]
    fig, axes = plt.subplots(1, 2, figsize=(12, 5))
    for key, label in (("converge_s", "first converge"), ("noop_s", "no-op re-run"),
                       ("floor_s", "floor: fact server.Hostname")):
        axes[0].plot(hosts, [s[key] for s in summary], marker="o", label=label)
    axes[0].set(xlabel="lab hosts", ylabel="wall time (s)", title="pyinfra deploy.py wall time")
    for key, label in (("converge_cmds_per_host", "first converge"), ("noop_cmds_per_host", "no-op re-run"),
                       ("floor_cmds_per_host", "floor")):
        axes[1].plot(hosts, [s[key] for s in summary], marker="o", label=label)
    axes[1].set(xlabel="lab hosts", ylabel="SSH sessions per host (sshd log)", title="remote commands per host")
    for ax in axes:
        ax.set_xticks(hosts)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    path = out / "fleet.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def datapath_headline(rows: list[dict]) -> dict:
    """Per concurrency: Envoy (k=1 and best k) vs direct throughput, and p50 added by Envoy at k=1."""
    direct = {r["concurrency"]: r for r in rows if r["target"] == "direct"}
    envoy = [r for r in rows if r["target"] == "envoy"]
    out = {}
    for c, d in sorted(direct.items()):
        at_c = [r for r in envoy if r["concurrency"] == c]
        one = next((r for r in at_c if r["backends"] == 1), None)
        best = max(at_c, key=lambda r: r["throughput_infer_s"], default=None)
        out[c] = {
            "direct_infer_s": d["throughput_infer_s"], "direct_p50_ms": d["p50_ms"],
            "envoy_k1_over_direct": round(one["throughput_infer_s"] / d["throughput_infer_s"], 3) if one else None,
            "envoy_k1_p50_added_ms": round(one["p50_ms"] - d["p50_ms"], 3) if one else None,
            "envoy_best_k": best["backends"] if best else None,
            "envoy_best_over_direct": round(best["throughput_infer_s"] / d["throughput_infer_s"], 3) if best else None,
        }
    return out


def print_headline(results: Path) -> dict:
    headline: dict = {}
    fleet = results / "fleet_summary.json"
    if fleet.exists():
        summary = json.loads(fleet.read_text())
        headline["fleet"] = {s["hosts"]: {"noop_over_floor": s["noop_over_floor"],
                                          "converge_over_floor": s["converge_over_floor"]} for s in summary}
        for s in summary:
            print(f"fleet {s['hosts']:>2} hosts: no-op re-run / floor = {s['noop_over_floor']:.2f} "
                  f"({s['noop_s']:.1f} s / {s['floor_s']:.2f} s), converge / floor = {s['converge_over_floor']:.1f}, "
                  f"commands per host: converge {s['converge_cmds_per_host']:.0f}, no-op {s['noop_cmds_per_host']:.0f}")
    dp = results / "datapath.csv"
    if dp.exists():
        headline["datapath"] = datapath_headline(load_datapath(dp))
        for c, h in headline["datapath"].items():
            print(f"datapath c={c:>2}: direct {h['direct_infer_s']:.0f} infer/s; Envoy k=1 / direct = "
                  f"{h['envoy_k1_over_direct']}, p50 added by Envoy {h['envoy_k1_p50_added_ms']} ms; "
                  f"best Envoy k={h['envoy_best_k']}: {h['envoy_best_over_direct']} x direct")
    (results / "headline.json").write_text(json.dumps(headline, indent=2) + "\n")
    return headline


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--budget-ms", type=float, default=50.0, help="latency budget line on the latency plot")
    args = parser.parse_args(argv)
    if (args.results / "datapath.csv").exists():
        for p in plot_datapath(load_datapath(args.results / "datapath.csv"), args.results, args.budget_ms):
            print(f"wrote {p}")
    if (args.results / "fleet_summary.json").exists():
        print(f"wrote {plot_fleet(json.loads((args.results / 'fleet_summary.json').read_text()), args.results)}")
    print_headline(args.results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
