"""Real Envoy with the generated config in front of three small HTTP backends on loopback.

Each backend answers /v2/health/ready and a fixed inference reply, like a Triton would. The test
checks that requests reach every backend, then kills one and checks that Envoy's health checks
mark it down within seconds while a client loop running across the kill sees no failed request.
"""
from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from migfleet.serving import envoy

from .envoy_bin import envoy_binary

INFER_PATH = "/v2/models/lab_classifier/infer"
REQUEST = {"inputs": [{"name": "INPUT", "datatype": "FP32", "shape": [4], "data": [5.1, 3.5, 1.4, 0.2]}]}
pytestmark = pytest.mark.slow


class Backend:
    def __init__(self, name: str):
        self.name = name
        self.hits = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                self._reply(200 if self.path == "/v2/health/ready" else 404, b"")

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.path != INFER_PATH or json.loads(body) != REQUEST:
                    self._reply(400, b"{}")
                    return
                outer.hits += 1
                self._reply(200, json.dumps({"model_name": "lab_classifier", "backend": outer.name,
                                             "outputs": [{"name": "PROBABILITIES", "datatype": "FP32",
                                                          "shape": [3], "data": [0.982134, 0.017809, 0.000057]}]
                                             }).encode())

            def _reply(self, status, body):
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def get_json(url: str):
    with urllib.request.urlopen(url, timeout=2) as resp:
        return json.load(resp)


def infer(port: int) -> dict:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{INFER_PATH}", data=json.dumps(REQUEST).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=5) as resp:
        assert resp.status == 200
        return json.load(resp)


def host_health(admin_port: int, cluster: str) -> dict[int, bool]:
    """port -> healthy, for every host of the cluster, as Envoy's admin /clusters reports."""
    status = get_json(f"http://127.0.0.1:{admin_port}/clusters?format=json")
    for c in status["cluster_statuses"]:
        if c["name"] == cluster:
            return {h["address"]["socket_address"]["port_value"]:
                    h["health_status"].get("eds_health_status") == "HEALTHY"
                    and not any(v for k, v in h["health_status"].items() if k.startswith("failed_"))
                    for h in c.get("host_statuses", [])}
    raise AssertionError(f"no cluster {cluster} in {status}")


def wait_for(predicate, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except OSError as e:
            last = e
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}; last: {last!r}")


def test_envoy_spreads_requests_and_drops_a_dead_backend(settings, tmp_path):
    binary = envoy_binary()
    backends = [Backend(f"triton-gpu0-gi{g}") for g in (7, 8, 9)]
    http_port, grpc_port, admin_port, *grpc_backend_ports = free_ports(6)
    settings = dict(settings, envoy_listen_address="127.0.0.1", envoy_http_port=http_port,
                    envoy_grpc_port=grpc_port, envoy_admin_port=admin_port,
                    envoy_health_interval_s=0.3, envoy_health_timeout_s=0.25, envoy_unhealthy_threshold=2)
    config = tmp_path / "envoy.yaml"
    config.write_text(envoy.render(envoy.build_config(
        [envoy.Backend(b.name, b.port, g) for b, g in zip(backends, grpc_backend_ports)], settings)))
    log = (tmp_path / "envoy.log").open("w")
    proc = subprocess.Popen([str(binary), "-c", str(config), "--disable-hot-restart", "--concurrency", "1",
                             "--log-level", "warn"], stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: get_json(f"http://127.0.0.1:{admin_port}/clusters?format=json") and
                 all(host_health(admin_port, "triton_http").values()) and
                 len(host_health(admin_port, "triton_http")) == 3, 15, "all backends healthy")
        # gRPC endpoints point at closed ports but are checked through their HTTP port: healthy.
        wait_for(lambda: all(host_health(admin_port, "triton_grpc").values()), 15, "gRPC hosts healthy")

        answers = [infer(http_port)["backend"] for _ in range(30)]
        assert {a for a in answers} == {b.name for b in backends}
        assert all(b.hits >= 5 for b in backends), [b.hits for b in backends]

        failures, done, sent = [], threading.Event(), [0]

        def client_loop():
            end = time.monotonic() + 20
            while not done.is_set() and time.monotonic() < end:
                try:
                    infer(http_port)
                    sent[0] += 1
                except Exception as e:  # any failed request fails the test
                    failures.append(repr(e))
                time.sleep(0.01)

        client = threading.Thread(target=client_loop, daemon=True)
        client.start()
        time.sleep(0.5)
        victim = backends[0]
        victim.stop()
        killed_at = time.monotonic()
        wait_for(lambda: not host_health(admin_port, "triton_http")[victim.port], 5,
                 "the killed backend marked unhealthy in triton_http")
        noticed_s = time.monotonic() - killed_at
        wait_for(lambda: not host_health(admin_port, "triton_grpc")[grpc_backend_ports[0]], 5,
                 "the killed backend's gRPC endpoint marked unhealthy")
        hits_after = {b.name: b.hits for b in backends[1:]}
        time.sleep(1.0)
        done.set()
        client.join(timeout=10)

        assert failures == []
        assert sent[0] > 50
        assert noticed_s < 5
        # the survivors keep serving
        assert all(b.hits > hits_after[b.name] for b in backends[1:])
        health = host_health(admin_port, "triton_http")
        assert [health[b.port] for b in backends[1:]] == [True, True]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()
        for b in backends[1:]:
            b.stop()
