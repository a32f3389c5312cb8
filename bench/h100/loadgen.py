"""Closed-loop HTTP load for one Triton model (KServe v2, binary tensor extension), used where
perf_analyzer does not run: `concurrency` threads, each with one keep-alive connection, each
sending its next request when the last answered. Bounded by `seconds`.

    python3 loadgen.py --url 127.0.0.1:8000 --concurrency 4 --seconds 5
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import threading
import time

MODEL = "resnet50"
SHAPE = (3, 224, 224)


def request_body(payload: bytes) -> tuple[bytes, dict]:
    header = json.dumps({
        "inputs": [{"name": "INPUT__0", "shape": list(SHAPE), "datatype": "FP32",
                    "parameters": {"binary_data_size": len(payload)}}],
        "outputs": [{"name": "OUTPUT__0", "parameters": {"binary_data": True}}],
    }).encode()
    return header + payload, {"Inference-Header-Content-Length": str(len(header)),
                              "Content-Type": "application/octet-stream"}


def random_payloads(n: int) -> list[bytes]:
    """FP32 values in [-1, 1) from os.urandom (never zeros), n different tensors."""
    import array
    count = SHAPE[0] * SHAPE[1] * SHAPE[2]
    out = []
    for _ in range(n):
        raw = os.urandom(count * 2)
        vals = array.array("f", ((raw[2 * i] << 8 | raw[2 * i + 1]) / 32768.0 - 1.0 for i in range(count)))
        out.append(vals.tobytes())
    return out


def percentile(sorted_vals: list[float], q: float) -> float:
    if not sorted_vals:
        return float("nan")
    k = min(len(sorted_vals) - 1, max(0, round(q / 100 * (len(sorted_vals) - 1))))
    return sorted_vals[k]


def run(url: str, concurrency: int, seconds: float, warmup: float = 1.0) -> dict:
    host, port = url.rsplit(":", 1)
    bodies = [request_body(p) for p in random_payloads(4)]
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    start = time.monotonic()
    t_measure, t_end = start + warmup, start + warmup + seconds

    def worker(i: int) -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        mine, n = [], 0
        while True:
            body, headers = bodies[(i + n) % len(bodies)]
            n += 1
            t0 = time.monotonic()
            if t0 >= t_end:
                break
            try:
                conn.request("POST", f"/v2/models/{MODEL}/infer", body=body, headers=headers)
                resp = conn.getresponse()
                resp.read()
                ok = resp.status == 200
            except OSError:
                ok = False
                conn.close()
                conn = http.client.HTTPConnection(host, int(port), timeout=30)
            t1 = time.monotonic()
            if t0 >= t_measure and t1 <= t_end:
                if ok:
                    mine.append(t1 - t0)
                else:
                    with lock:
                        errors[0] += 1
        conn.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=seconds + warmup + 60)
    lat = sorted(latencies)
    return {"concurrency": concurrency, "requests": len(lat), "errors": errors[0],
            "throughput_rps": len(lat) / seconds,
            "p50_ms": percentile(lat, 50) * 1e3, "p95_ms": percentile(lat, 95) * 1e3,
            "p99_ms": percentile(lat, 99) * 1e3,
            "mean_ms": (statistics.fmean(lat) * 1e3) if lat else float("nan")}


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--concurrency", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=5.0)
    a = ap.parse_args()
    print(json.dumps(run(a.url, a.concurrency, a.seconds)))
