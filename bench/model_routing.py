"""Routing by model name against the single cluster, in one run, on one lab host.

Two bench Envoys' configurations for the same k Tritons of the host (its netns, as bench/datapath.py):
`per-model`, migfleet's listeners (HTTP by path, gRPC by the request's model name through the gRPC
field extraction filter and a route on its metadata) to the model's clusters; and `single`, the
same listeners with every request routed to the one Triton cluster, as before models per instance.
perf_analyzer drives each over HTTP and gRPC, the two configurations alternating round by round, so
drift of the shared machine falls on both. Printed and written: throughput and p50 per configuration
and protocol, and the ratios per-model / single (target: throughput >= 0.95, p50 within 10%).

    flock /tmp/mf/lab.lock .venv/bin/python bench/model_routing.py --host lab-h2 --backends 4 --rounds 3
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from datapath import BENCH_GRPC_PORT, BENCH_HTTP_PORT, MODEL, BenchEnvoy, check_ready, live_tritons, netns_argv
from labctl import RESULTS, lab_lock, log
from perftools import CACHE, measure, perf_analyzer_argv

from lab import host_netns, host_number  # noqa: E402


def single_cluster(config: dict) -> dict:
    """The per-model configuration with every request routed to the one Triton cluster of its
    listener (and the gRPC model-name filters left out), as Envoy routed before."""
    config = copy.deepcopy(config)
    for listener in config["static_resources"]["listeners"]:
        if listener["name"] not in ("triton_http", "triton_grpc"):
            continue
        hcm = listener["filter_chains"][0]["filters"][0]["typed_config"]
        routes = hcm["route_config"]["virtual_hosts"][0]["routes"]
        catch_all = routes[-1]
        stats = [r for r in routes if "safe_regex" in r["match"]]       # datapath.pin_stats' route
        hcm["route_config"]["virtual_hosts"][0]["routes"] = [*stats, catch_all]
        hcm["http_filters"] = [f for f in hcm["http_filters"]
                               if f["name"] not in ("envoy.filters.http.grpc_field_extraction", "envoy.filters.http.lua")]
    return config


class Variant(BenchEnvoy):
    """BenchEnvoy with its configuration changed by `change`."""

    def __init__(self, netns, specs, workdir: Path, workers: int, name: str, change):
        super().__init__(netns, specs, workdir, workers)
        self.config = workdir / f"envoy-{name}.json"
        self.config.write_text(json.dumps(change(json.loads((workdir / f"envoy-{len(specs)}.json").read_text()))))
        self.argv[self.argv.index("-c") + 1] = str(self.config)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="lab-h2")
    parser.add_argument("--backends", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--window-ms", type=int, default=2000)
    parser.add_argument("--envoy-workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    netns = host_netns(host_number(args.host))
    perf_analyzer_argv()
    workdir = Path(tempfile.mkdtemp(prefix="model-routing-", dir=CACHE))
    runs: dict[tuple[str, str], list[dict]] = {}
    started = time.monotonic()
    with lab_lock():
        specs = live_tritons(args.host)[:args.backends]
        check_ready(netns, specs)
        variants = {"per-model": lambda c: c, "single": single_cluster}
        for r in range(args.rounds):
            for name in (("per-model", "single") if r % 2 == 0 else ("single", "per-model")):
                with Variant(netns, specs, workdir, args.envoy_workers, name, variants[name]):
                    for protocol in ("http", "grpc"):
                        port = BENCH_HTTP_PORT if protocol == "http" else BENCH_GRPC_PORT
                        row = measure(MODEL, f"127.0.0.1:{port}", protocol, args.concurrency, args.window_ms,
                                      workdir, wrap=netns_argv(netns, []))
                        runs.setdefault((name, protocol), []).append(row)
                        log(f"round {r} {name:9} {protocol:4}: {row['throughput_infer_s']:8.1f} infer/s "
                            f"p50 {row['p50_ms']:.2f} ms")
    result = {"host": args.host, "backends": len(specs), "concurrency": args.concurrency, "rounds": args.rounds,
              "seconds": round(time.monotonic() - started)}
    for protocol in ("http", "grpc"):
        median = {name: {k: statistics.median(row[k] for row in runs[(name, protocol)])
                         for k in ("throughput_infer_s", "p50_ms")} for name in variants}
        result[protocol] = {**median, "throughput_ratio": round(median["per-model"]["throughput_infer_s"]
                                                                / median["single"]["throughput_infer_s"], 3),
                            "p50_ratio": round(median["per-model"]["p50_ms"] / median["single"]["p50_ms"], 3)}
        log(f"{protocol}: per-model / single throughput {result[protocol]['throughput_ratio']:.3f}, "
            f"p50 {result[protocol]['p50_ratio']:.3f}")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "model_routing.json").write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
