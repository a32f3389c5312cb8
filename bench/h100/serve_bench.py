"""ResNet-50 behind Triton on the whole GPU: direct to one Triton, and through migfleet's Envoy config
(bench/bench_envoy.py: `migfleet.serving.envoy.files` as one static config) to k = 1, 2, 4 Tritons.
Throughput and latency (p50/p95/p99) against client concurrency, by perf_analyzer
(bench/perftools.py `measure`) or, where it fails or with --no-perf-analyzer, by loadgen.py.

    python3 bench/h100/serve_bench.py --pack /tmp/h100 --out OUT_DIR

--pack holds triton/ (tritonserver, libs, python backend with the 3.12 stub), bin/envoy and
bin/perf_analyzer. Every process started here is stopped before it returns.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import bench_envoy  # noqa: E402
import loadgen  # noqa: E402
import perftools  # noqa: E402
from migfleet import bytecode  # noqa: E402
from migfleet.serving import endpoints  # noqa: E402
from migfleet.serving import settings as serving_settings  # noqa: E402
from migfleet.serving import triton  # noqa: E402

MODEL = "resnet50"
FIELDS = ["target", "tritons", "concurrency", "throughput_rps", "p50_ms", "p95_ms", "p99_ms",
          "mean_ms", "requests", "errors", "tool"]
ENVOY_PORTS = (9000, 9001, 9901, 9003)      # HTTP, gRPC, admin, metrics
MODEL_CLUSTER = endpoints.model_cluster(endpoints.HTTP_CLUSTER, MODEL)     # where Envoy routes MODEL's requests


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def get(url: str, timeout: float = 2.0) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode(errors="replace")
    except Exception as e:      # noqa: BLE001 - not up yet
        return 0, str(e)


class Procs:
    """Processes started here; each stopped (TERM, then KILL) at the end."""

    def __init__(self, logdir: Path):
        self.logdir, self.items = logdir, []

    def start(self, name: str, argv: list[str], env: dict | None = None) -> subprocess.Popen:
        out = open(self.logdir / f"{name}.log", "w")
        p = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        self.items.append((name, p, out))
        return p

    def stop(self, proc: subprocess.Popen) -> None:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)

    def stop_all(self) -> None:
        for _, p, out in reversed(self.items):
            self.stop(p)
            out.close()


def triton_env(pack: Path) -> dict:
    env = dict(os.environ)
    libdir = os.environ.get("LIBPYTHON_DIR")
    if libdir:
        env["LD_LIBRARY_PATH"] = libdir + ":" + env.get("LD_LIBRARY_PATH", "")
    # The python stub runs the first python3 on PATH: the one running this script (it has torch).
    env["PATH"] = str(Path(sys.executable).parent) + ":" + env.get("PATH", "")
    return env


def start_tritons(procs: Procs, pack: Path, models: Path, count: int, port_base: int):
    server = pack / "triton" / "pytriton" / "tritonserver"
    ports = [triton.ports_for(port_base, 0, slot, 0) for slot in range(count)]
    for i, p in enumerate(ports):
        procs.start(f"triton{i}", [
            str(server / "bin" / "tritonserver"), f"--model-repository={models}",
            f"--backend-directory={server / 'backends'}", f"--cache-directory={server / 'caches'}",
            "--http-address=127.0.0.1", f"--http-port={p.http}", "--grpc-address=127.0.0.1",
            f"--grpc-port={p.grpc}", f"--metrics-port={p.metrics}", "--allow-metrics=true",
            "--exit-timeout-secs=5", "--log-info=true"], env=triton_env(pack))
    deadline = time.monotonic() + 240
    pending = list(ports)
    while pending and time.monotonic() < deadline:
        pending = [p for p in pending
                   if get(f"http://127.0.0.1:{p.http}/v2/models/{MODEL}/ready")[0] != 200]
        time.sleep(1)
    if pending:
        raise RuntimeError(f"Tritons on {[p.http for p in pending]} not ready in 240 s")
    return ports


def check_inference(port: int) -> dict:
    """One request through the binary extension; the answer must hold 1000 finite FP32 values."""
    import struct
    body, headers = loadgen.request_body(loadgen.random_payloads(1)[0])
    req = urllib.request.Request(f"http://127.0.0.1:{port}/v2/models/{MODEL}/infer", data=body,
                                 headers=headers, method="POST")
    with urllib.request.urlopen(req, timeout=60) as r:
        data = r.read()
        hlen = int(r.headers["Inference-Header-Content-Length"])
    header = json.loads(data[:hlen])
    values = struct.unpack(f"{(len(data) - hlen) // 4}f", data[hlen:])
    finite = all(v == v and abs(v) != float("inf") for v in values)
    if len(values) != 1000 or not finite:
        raise RuntimeError(f"bad answer from :{port}: {len(values)} values, finite={finite}, header={header}")
    return {"outputs": header["outputs"], "first_values": values[:3]}


def tritons(ports) -> list[triton.Triton]:
    """The Tritons started here as migfleet's specs (one per port set, all on GPU 0 whole), serving MODEL."""
    return [triton.Triton(f"triton-gpu0-s{slot}", triton.Place(0, slot, 0, "GPU-bench", "whole"), p, (), "bench",
                          (MODEL,)) for slot, p in enumerate(ports)]


def start_envoy(procs: Procs, pack: Path, ports, work: Path, k: int, envoy_ports=ENVOY_PORTS):
    """Envoy with migfleet's config (bench_envoy.static_config) in front of these k Tritons, validated
    first, returned once all k are healthy."""
    config = bench_envoy.static_config(tritons(ports), bench_envoy.settings(*envoy_ports))
    cfg = work / f"envoy-k{k}.json"
    cfg.write_text(json.dumps(config, indent=1))
    binary = str(pack / "bin" / "envoy")
    check = subprocess.run([binary, "--mode", "validate", "-c", str(cfg), "--disable-hot-restart"],
                           timeout=60, capture_output=True, text=True)
    if check.returncode != 0:
        raise RuntimeError(f"Envoy refuses {cfg}: {(check.stdout + check.stderr)[-2000:]}")
    proc = procs.start(f"envoy-k{k}", [binary, "-c", str(cfg), "--disable-hot-restart",
                                       "--log-level", "warn", "--base-id", str(k)])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        code, text = get(f"http://127.0.0.1:{envoy_ports[2]}/clusters")
        if code == 200 and bench_envoy.healthy_backends(text, MODEL_CLUSTER) == k:
            return proc
        if proc.poll() is not None:
            raise RuntimeError(f"Envoy k={k} exited (rc={proc.returncode}); see {procs.logdir}/envoy-k{k}.log")
        time.sleep(0.5)
    raise RuntimeError(f"Envoy k={k}: not all {k} endpoints healthy in 30 s")


def envoy_split(admin_port: int) -> dict:
    """Requests each upstream answered (admin /clusters rq_total), to show the spread."""
    _, text = get(f"http://127.0.0.1:{admin_port}/clusters")
    return {line.split("::")[1]: int(line.rsplit("::", 1)[1]) for line in text.splitlines()
            if line.startswith(f"{MODEL_CLUSTER}::") and "::rq_total::" in line}


def measure(pa: str | None, url: str, c: int, rawdir: Path, tag: str, args) -> dict:
    if pa:
        try:
            got = perftools.measure(MODEL, url, "http", c, args.interval_ms, rawdir, prefix=[pa])
            return {"throughput_rps": got["throughput_infer_s"], **{k: got[k] for k in ("p50_ms", "p95_ms", "p99_ms")},
                    "mean_ms": None, "requests": None, "errors": None, "tool": "perf_analyzer"}
        except (RuntimeError, ValueError, subprocess.TimeoutExpired) as e:
            log(f"perf_analyzer failed for {tag} c={c} ({str(e).splitlines()[0]}); using loadgen")
    got = loadgen.run(url, c, args.seconds)
    got["tool"] = "loadgen"
    return got


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pack", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--work", type=Path, default=Path("/tmp/h100bench"))
    ap.add_argument("--concurrency", default="1,2,4,8,16")
    ap.add_argument("--tritons", default="1,2,4")
    ap.add_argument("--interval-ms", type=int, default=3000)
    ap.add_argument("--seconds", type=float, default=4.0, help="loadgen measurement window")
    ap.add_argument("--no-perf-analyzer", action="store_true")
    ap.add_argument("--triton-port-base", type=int, default=serving_settings.defaults()["triton_port_base"])
    ap.add_argument("--envoy-ports", default=",".join(map(str, ENVOY_PORTS)), help="HTTP,gRPC,admin,metrics")
    args = ap.parse_args(argv)
    envoy_ports = tuple(int(x) for x in args.envoy_ports.split(","))
    conc = [int(x) for x in args.concurrency.split(",")]
    ks = [int(x) for x in args.tritons.split(",")]
    shutil.rmtree(args.work, ignore_errors=True)
    (args.work / "logs").mkdir(parents=True)
    rawdir = args.work / "logs"
    models = args.work / "models"
    shutil.copytree(HERE / "models", models, ignore=bytecode.copy_ignore())
    pa = None if args.no_perf_analyzer else str(args.pack / "bin" / "perf_analyzer")
    procs = Procs(rawdir)
    rows, notes = [], {}
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        t0 = time.monotonic()
        ports = start_tritons(procs, args.pack, models, max(ks), args.triton_port_base)
        notes["tritons_ready_s"] = round(time.monotonic() - t0, 1)
        notes["triton_ports"] = [p.http for p in ports]
        log(f"{len(ports)} Tritons ready in {notes['tritons_ready_s']} s")
        notes["check"] = [check_inference(p.http) for p in ports]

        def sweep(target: str, k: int, url: str) -> None:
            for c in conc:
                r = measure(pa, url, c, rawdir, f"{target}-k{k}", args)
                r.update(target=target, tritons=k, concurrency=c)
                rows.append(r)
                log(f"{target:6s} k={k} c={c:2d}: {r['throughput_rps']:8.1f} inf/s  p50 {r['p50_ms']:6.2f} "
                    f"p95 {r['p95_ms']:6.2f} p99 {r['p99_ms']:6.2f} ms  ({r['tool']})")

        sweep("direct", 1, f"127.0.0.1:{ports[0].http}")
        for k in ks:
            proc = start_envoy(procs, args.pack, ports[:k], args.work, k, envoy_ports)
            sweep("envoy", k, f"127.0.0.1:{envoy_ports[0]}")
            notes[f"envoy_k{k}_upstream_rq_total"] = envoy_split(envoy_ports[2])
            procs.stop(proc)
        sweep("direct_repeat", 1, f"127.0.0.1:{ports[0].http}")     # run-to-run spread
    finally:
        procs.stop_all()
        with (args.out / "bench.csv").open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=FIELDS, extrasaction="ignore")
            w.writeheader()
            w.writerows(rows)
        (args.out / "bench_notes.json").write_text(json.dumps(notes, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
