"""The lab benchmarks' pure parts: perf_analyzer CSV, sshd session lines, summaries, bench Envoy config."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import datapath  # noqa: E402
import perftools  # noqa: E402
import fleet  # noqa: E402
import plot  # noqa: E402
from migfleet.serving.triton import Place, TritonPorts, Triton  # noqa: E402

PA_CSV = (
    "Concurrency,Inferences/Second,Client Send,Network+Server Send/Recv,Server Queue,Server Compute Input,"
    "Server Compute Infer,Server Compute Output,Client Recv,p50 latency,p90 latency,p95 latency,p99 latency\n"
    "4,4734.97,56,212,374,12,147,34,0,773,1205,1339,1935\n")


def test_perf_csv_latencies_in_ms():
    row = perftools.parse_perf_csv(PA_CSV)
    assert row["concurrency"] == 4
    assert row["throughput_infer_s"] == pytest.approx(4734.97)
    assert row["p50_ms"] == pytest.approx(0.773)
    assert row["p99_ms"] == pytest.approx(1.935)
    assert row["server_queue_us"] == 374


def test_perf_csv_unexpected_text_is_quoted():
    with pytest.raises(ValueError, match="Concurrency,Throughput"):
        perftools.parse_perf_csv("Concurrency,Throughput\n4,12\n")
    with pytest.raises(ValueError, match="expected one"):
        perftools.parse_perf_csv(PA_CSV.splitlines()[0] + "\n")


def test_measure_runs_one_perf_analyzer_window_set_and_parses_its_csv(tmp_path, monkeypatch):
    fake = tmp_path / "perf_analyzer"       # writes the CSV where -f says, and its argv beside it
    fake.write_text("#!/bin/sh\necho \"$@\" > " + str(tmp_path / "argv") + "\n"
                    "while [ \"$1\" != -f ]; do shift; done\nprintf '%s' \"$CSV\" > \"$2\"\n")
    fake.chmod(0o755)
    monkeypatch.setenv("CSV", PA_CSV)
    row = perftools.measure("lab_classifier", "127.0.0.1:18001", "grpc", 4, 1500, tmp_path,
                            prefix=[str(fake)], wrap=["env"])
    assert (row["throughput_infer_s"], row["p95_ms"]) == (pytest.approx(4734.97), pytest.approx(1.339))
    argv = (tmp_path / "argv").read_text().split()
    assert argv[:6] == ["-m", "lab_classifier", "-u", "127.0.0.1:18001", "-i", "grpc"]
    assert argv[argv.index("--concurrency-range") + 1] == "4" and argv[argv.index("--measurement-interval") + 1] == "1500"
    fake.write_text("#!/bin/sh\necho model not found >&2\nexit 3\n")
    with pytest.raises(RuntimeError, match="(?s)rc=3.*model not found"):
        perftools.measure("lab_classifier", "127.0.0.1:18001", "http", 4, 1500, tmp_path, prefix=[str(fake)])
    with pytest.raises(ValueError, match="'udp'"):
        perftools.measure_argv("m", "127.0.0.1:1", "udp", 1, 100, tmp_path / "x.csv", prefix=["pa"])


def test_parse_range():
    assert datapath.parse_range("1-7") == [1, 2, 3, 4, 5, 6, 7]
    assert datapath.parse_range("1,2,4") == [1, 2, 4]


def test_sshd_session_lines_counted_not_other_lines():
    lines = [
        "1795476914.295658 lab-h1 sshd[96]: Server listening on 0.0.0.0 port 22.",
        "1795476915.100000 lab-h1 sshd[120]: Starting session: command for root from 10.250.0.1 port 4 id 0",
        "1795476915.200000 lab-h1 sshd[120]: Starting session: subsystem 'sftp' for root from 10.250.0.1 port 4 id 1",
        "1795476915.300000 lab-h1 sshd[120]: Accepted publickey for root from 10.250.0.1 port 4",
    ]
    times = [float(m.group(1)) for m in map(fleet.SESSION_RE.match, lines) if m]
    assert times == [1795476915.1, 1795476915.2]


def test_pyinfra_debug_counts_per_host():
    out = ("Running command on lab-h1: (pty=False) sh -c 'x'\nRunning command on lab-h2: (pty=False) y\n"
           "Running command on lab-h1: (pty=False) z\n")
    assert fleet.pyinfra_counts(out, ["lab-h1", "lab-h2", "lab-h3"]) == {"lab-h1": 2, "lab-h2": 1, "lab-h3": 0}


def _row(n, phase, wall, sessions, rc=0):
    return {"hosts": n, "phase": phase, "wall_s": wall, "sessions_per_host_mean": sessions, "rc": rc}


def test_fleet_summary_ratios_use_median_floor():
    rows = [_row(5, "converge", 40.0, 80), _row(5, "noop", 6.0, 43),
            _row(5, "floor0", 1.0, 1), _row(5, "floor1", 3.0, 1), _row(5, "floor2", 1.5, 1)]
    (s,) = fleet.summarize(rows)
    assert s["floor_s"] == 1.5
    assert s["noop_over_floor"] == 4.0
    assert s["converge_over_floor"] == pytest.approx(26.67)
    assert s["ok"]
    (failed,) = fleet.summarize([*rows[:1], _row(5, "noop", 6.0, 43, rc=1), *rows[2:]])
    assert not failed["ok"]


def test_datapath_headline_compares_with_direct_at_same_concurrency():
    rows = [
        {"target": "direct", "backends": 1, "concurrency": 4, "throughput_infer_s": 1000.0, "p50_ms": 1.0},
        {"target": "envoy", "backends": 1, "concurrency": 4, "throughput_infer_s": 600.0, "p50_ms": 1.5},
        {"target": "envoy", "backends": 3, "concurrency": 4, "throughput_infer_s": 900.0, "p50_ms": 1.2},
    ]
    h = plot.datapath_headline(rows)[4]
    assert h["envoy_k1_over_direct"] == 0.6
    assert h["envoy_k1_p50_added_ms"] == 0.5
    assert (h["envoy_best_k"], h["envoy_best_over_direct"]) == (3, 0.9)


def _spec(i: int) -> Triton:
    port = 20000 + 100 * i
    return Triton(name=f"triton-gpu0-s{i}", place=Place(0, i, 0, "GPU-x", "1g.5gb"),
                      ports=TritonPorts(port, port + 1, port + 2), run_args=(), config_hash="0",
                      models=("lab_classifier",))


def test_bench_envoy_config_is_migfleets_plus_pinned_stats(tmp_path):
    specs = [_spec(i) for i in range(3)]
    config = datapath.pin_stats(datapath.bench_config(specs), specs[0])
    listeners = {l["name"]: l for l in config["static_resources"]["listeners"]}
    http = listeners["triton_http"]
    assert http["address"]["socket_address"] == {"address": "127.0.0.1", "port_value": datapath.BENCH_HTTP_PORT}
    routes = http["filter_chains"][0]["filters"][0]["typed_config"]["route_config"]["virtual_hosts"][0]["routes"]
    assert [r.get("route", {}).get("cluster") for r in routes] == [
        datapath.STATS_CLUSTER, "triton_http.lab_classifier", None, "triton_http"]      # None: the unknown-model 404
    clusters = {c["name"]: c for c in config["static_resources"]["clusters"]}
    ports = [e["endpoint"]["address"]["socket_address"]["port_value"]
             for e in clusters["triton_http"]["load_assignment"]["endpoints"][0]["lb_endpoints"]]
    assert ports == [20000, 20100, 20200]
    if datapath.ENVOY_BIN.exists():
        path = tmp_path / "envoy.json"
        path.write_text(__import__("json").dumps(config))
        proc = subprocess.run([str(datapath.ENVOY_BIN), "--mode", "validate", "-c", str(path),
                               "--disable-hot-restart"], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stdout + proc.stderr


def test_grand_total_changed_and_unchanged_ops():
    table = ("--> Results:\n    Operation   Hosts   Success   Error   No Change\n"
             "    Grand total                                  250     10        -       240          \n")
    assert fleet.ops_totals(table) == (10, 240)
    assert fleet.ops_totals(table.replace("10        -", "-         -")) == (0, 240)
    assert fleet.ops_totals("no results table") == (None, None)


def test_single_cluster_variant_routes_every_request_to_the_one_cluster(tmp_path):
    import model_routing
    specs = [_spec(i) for i in range(2)]
    config = model_routing.single_cluster(datapath.pin_stats(datapath.bench_config(specs), specs[0]))
    listeners = {l["name"]: l["filter_chains"][0]["filters"][0]["typed_config"] for l in config["static_resources"]["listeners"]}
    http_routes = listeners["triton_http"]["route_config"]["virtual_hosts"][0]["routes"]
    assert [r["route"]["cluster"] for r in http_routes] == [datapath.STATS_CLUSTER, "triton_http"]
    grpc_routes = listeners["triton_grpc"]["route_config"]["virtual_hosts"][0]["routes"]
    assert [r["route"]["cluster"] for r in grpc_routes] == ["triton_grpc"]
    assert [f["name"] for f in listeners["triton_grpc"]["http_filters"]] == ["envoy.filters.http.router"]
