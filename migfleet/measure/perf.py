"""One perf_analyzer run, parsed (standard library only: the host runs it too).

perf_analyzer (tritonclient's, or the perf-analyzer wheel's) measures one model at one concurrency
and writes a CSV (`-f`); `measure` runs it and `parse_perf_csv` reads that row. bench/perftools
and `migfleet measure` both use these; which binary starts it is the caller's `prefix` (the
`measure_perf_analyzer` setting on a host, bench/perftools' cached one for the benchmarks).
"""
from __future__ import annotations

import csv
import subprocess
from collections.abc import Sequence
from pathlib import Path

DEFAULT_PREFIX = ("perf_analyzer",)


def measure_argv(model: str, url: str, protocol: str, concurrency: int, window_ms: int, out: Path,
                 prefix: Sequence[str] = DEFAULT_PREFIX) -> list[str]:
    """One perf_analyzer run of `model` at `url` (host:port) over `protocol` (http or grpc), writing
    its CSV to `out`; `prefix` starts perf_analyzer.

    Three fixed windows with the stability check switched off: every run takes the same time, and
    points that never settle (a noisy shared machine, a model with a long tail) still measure.
    """
    if protocol not in ("http", "grpc"):
        raise ValueError(f"protocol must be http or grpc, not {protocol!r}")
    return [*(prefix or DEFAULT_PREFIX), "-m", model, "-u", url, "-i", protocol,
            "--concurrency-range", str(concurrency), "--measurement-interval", str(window_ms),
            "--max-trials", "3", "--stability-percentage", "999", "-f", str(out)]


def run_seconds(window_ms: int) -> float:
    """The most one run may take: three windows and start-up, with room to spare."""
    return window_ms * 6 / 1000 + 60


def measure(model: str, url: str, protocol: str, concurrency: int, window_ms: int, workdir: Path,
            prefix: Sequence[str] = DEFAULT_PREFIX, wrap: Sequence[str] = ()) -> dict:
    """Run perf_analyzer once (`wrap`, e.g. `ip netns exec NS`, goes before it) -> `parse_perf_csv`'s
    row. RuntimeError with perf_analyzer's output when it fails; its log stays in `workdir`."""
    workdir = Path(workdir)
    tag = f"{model}-{url.replace(':', '_').replace('/', '_')}-{protocol}-c{concurrency}"
    out = workdir / f"pa-{tag}.csv"
    out.unlink(missing_ok=True)
    argv = [*wrap, *measure_argv(model, url, protocol, concurrency, window_ms, out, prefix)]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=run_seconds(window_ms))
    except FileNotFoundError:
        raise RuntimeError(f"perf_analyzer: cannot start {argv[0]!r}: no such file") from None
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"perf_analyzer: no answer after {run_seconds(window_ms):g} s") from None
    (workdir / f"pa-{tag}.log").write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0 or not out.exists():
        raise RuntimeError(f"perf_analyzer failed (rc={proc.returncode}):\n{proc.stdout[-3000:]}{proc.stderr[-2000:]}")
    return parse_perf_csv(out.read_text())


def parse_perf_csv(text: str) -> dict:
    """perf_analyzer's -f CSV (one concurrency) -> concurrency, throughput (inferences/s), latencies
    p50/p90/p95/p99 in ms and the client/server split in µs. ValueError quoting the text otherwise."""
    rows = list(csv.DictReader(text.splitlines()))
    if len(rows) != 1:
        raise ValueError(f"expected one perf_analyzer row, got {len(rows)}: {text!r}")
    r = rows[0]
    try:
        return {
            "concurrency": int(r["Concurrency"]),
            "throughput_infer_s": float(r["Inferences/Second"]),
            **{f"p{q}_ms": int(r[f"p{q} latency"]) / 1000 for q in (50, 90, 95, 99)},
            "client_send_us": int(r["Client Send"]),
            "network_server_us": int(r["Network+Server Send/Recv"]),
            "server_queue_us": int(r["Server Queue"]),
            "server_compute_infer_us": int(r["Server Compute Infer"]),
        }
    except (KeyError, ValueError, TypeError) as e:
        raise ValueError(f"unexpected perf_analyzer CSV ({e!r}): {text!r}") from None
