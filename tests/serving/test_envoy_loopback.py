"""Real Envoy, configured from the generated files, in front of small HTTP backends on loopback.

Each backend answers /v2/health/ready and a fixed inference reply, like a Triton would. Under a
client loop: endpoints leave and join through EDS files renamed into place (no restart, no failed
request), a killed backend is dropped by health checks, and the host's health endpoint drains.
"""
from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from migfleet.serving import endpoints, envoy, rotation, triton

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
                ready = ("/v2/health/ready", INFER_PATH.replace("/infer", "/ready"))
                self._reply(200 if self.path in ready else 404, b"")

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
    return {}       # not loaded (yet): Envoy reads its clusters from a file after it starts


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


class EnvoyFromFiles:
    """Envoy started on the generated bootstrap, its watched directory in tmp (not /etc/envoy)."""

    def __init__(self, tmp_path, settings, backends, grpc_ports):
        self.dir = tmp_path / "envoy"
        self.dir.mkdir()
        self.backends = {b.name: (b, g) for b, g in zip(backends, grpc_ports)}
        files = envoy.files(self.tritons([b.name for b in backends]), settings, "h1", ["127.0.0.0/8"])
        for name, text in files.items():
            (self.dir / name).write_text(text.replace(envoy.CONTAINER_DIR, str(self.dir)))
        (self.dir / endpoints.LDS).write_text(endpoints.lds_doc((self.dir / endpoints.LDS_TEMPLATE).read_text(), {}))
        self.serve([b.name for b in backends])
        self.log = (tmp_path / "envoy.log").open("w")
        self.proc = subprocess.Popen([str(envoy_binary()), "-c", str(self.dir / envoy.BOOTSTRAP), "--disable-hot-restart",
                                      "--concurrency", "1", "--log-level", "warn"], stdout=self.log, stderr=subprocess.STDOUT)

    def tritons(self, names) -> list[triton.Triton]:
        """The backends as Tritons loading the model INFER_PATH names (metrics on no port)."""
        return [triton.Triton(n, triton.Place(0, i, 0, "GPU-0", "1g.5gb"),
                              triton.TritonPorts(self.backends[n][0].port, self.backends[n][1], 1 + i), (), "",
                              (INFER_PATH.split("/")[3],)).bound(triton.Device(f"MIG-{i}", i))
                for i, n in enumerate(sorted(self.backends)) if n in names]

    def serve(self, names):
        """The endpoints Envoy sends to: exactly these backends (as serving.rotation writes them)."""
        tritons = self.tritons(names)
        for name, text in endpoints.eds_docs(tritons, endpoints.models_of(tritons)).items():
            rotation.write_atomic(str(self.dir), name, text)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.log.close()


class ClientLoop:
    """Requests through Envoy, one after another, until stopped; every failure is kept."""

    def __init__(self, port):
        self.port, self.failures, self.sent, self.done = port, [], 0, threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        end = time.monotonic() + 30
        while not self.done.is_set() and time.monotonic() < end:
            try:
                infer(self.port)
                self.sent += 1
            except Exception as e:  # any failed request fails the test
                self.failures.append(repr(e))
            time.sleep(0.005)

    def stop(self):
        self.done.set()
        self.thread.join(timeout=10)


@pytest.fixture
def lab_envoy(settings, tmp_path):
    backends = [Backend(f"triton-gpu0-s{g}") for g in (0, 1, 2)]
    http_port, grpc_port, admin_port, metrics_port, *grpc_backend_ports = free_ports(7)
    settings = dict(settings, envoy_listen_address="127.0.0.1", envoy_http_port=http_port, envoy_grpc_port=grpc_port,
                    envoy_admin_port=admin_port, metrics_port=metrics_port, envoy_health_interval_s=0.3,
                    envoy_health_timeout_s=0.25, envoy_unhealthy_threshold=2)
    e = EnvoyFromFiles(tmp_path, settings, backends, grpc_backend_ports)
    e.settings, e.list = settings, backends
    try:
        wait_for(lambda: len(host_health(admin_port, "triton_http")) == 3
                 and all(host_health(admin_port, "triton_http").values()), 15, "all backends healthy")
        yield e
    finally:
        e.stop()
        for b in backends:
            b.stop()


def test_endpoints_leave_and_join_through_files_with_no_restart_and_no_failed_request(lab_envoy):
    s, (a, b, c) = lab_envoy.settings, lab_envoy.list
    answers = {infer(s["envoy_http_port"])["backend"] for _ in range(30)}
    assert answers == {a.name, b.name, c.name}
    pid, client = lab_envoy.proc.pid, ClientLoop(s["envoy_http_port"])
    time.sleep(0.3)
    lab_envoy.serve([b.name, c.name])                   # a leaves the rotation
    wait_for(lambda: set(host_health(s["envoy_admin_port"], "triton_http")) == {b.port, c.port}, 5, "a removed")
    hits = a.hits
    time.sleep(0.5)
    assert a.hits == hits                               # drained: no new request reaches it
    a_stopped_at = a.hits
    lab_envoy.serve([a.name, b.name, c.name])           # and joins again
    wait_for(lambda: a.hits > a_stopped_at, 5, "a serving again")
    client.stop()
    assert client.failures == [] and client.sent > 50
    assert lab_envoy.proc.poll() is None and lab_envoy.proc.pid == pid    # the same Envoy all along


def test_a_dead_backend_is_dropped_with_no_failed_request(lab_envoy):
    s, (victim, *rest) = lab_envoy.settings, lab_envoy.list
    client = ClientLoop(s["envoy_http_port"])
    time.sleep(0.5)
    victim.stop()
    killed_at = time.monotonic()
    wait_for(lambda: not host_health(s["envoy_admin_port"], "triton_http")[victim.port], 5, "the killed backend down")
    noticed_s = time.monotonic() - killed_at
    hits = {b.name: b.hits for b in rest}
    time.sleep(1.0)
    client.stop()
    assert client.failures == [] and client.sent > 50 and noticed_s < 5
    assert all(b.hits > hits[b.name] for b in rest)


def test_the_host_health_endpoint_drains_for_a_fleet_balancer(lab_envoy):
    s = lab_envoy.settings
    url = f"http://127.0.0.1:{s['envoy_http_port']}{s['envoy_health_path']}"
    admin = f"http://127.0.0.1:{s['envoy_admin_port']}/healthcheck"

    def status():
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code

    assert status() == 200
    urllib.request.urlopen(urllib.request.Request(f"{admin}/fail", method="POST"), timeout=2)
    assert status() == 503
    assert infer(s["envoy_http_port"])["backend"]        # requests still served while the balancer moves off
    urllib.request.urlopen(urllib.request.Request(f"{admin}/ok", method="POST"), timeout=2)
    assert status() == 200


def health_status(s) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{s['envoy_http_port']}{s['envoy_health_path']}", timeout=2) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def test_the_host_health_endpoint_fails_below_the_share_of_healthy_tritons(lab_envoy):
    """envoy_min_healthy_percent (50 by default) of each Triton cluster must pass Envoy's checks."""
    s, (a, b, c) = lab_envoy.settings, lab_envoy.list
    admin, interval = s["envoy_admin_port"], s["envoy_health_interval_s"]
    bound = (s["envoy_unhealthy_threshold"] + 3) * interval   # threshold failures, plus slack
    assert s["envoy_min_healthy_percent"] == 50 and health_status(s) == 200
    a.stop()
    wait_for(lambda: not host_health(admin, "triton_http")[a.port], 5, "a down")
    assert health_status(s) == 200                      # 2 of 3 healthy
    b.stop()
    stopped_at = time.monotonic()
    wait_for(lambda: health_status(s) == 503, bound, "503 with 1 of 3 healthy")
    took = time.monotonic() - stopped_at
    print(f"health endpoint 503 {took:.2f} s after the second of 3 backends stopped "
          f"({took / interval:.1f} health-check intervals of {interval} s)")
    lab_envoy.serve([c.name])                           # only the one that serves stays in rotation
    wait_for(lambda: health_status(s) == 200, bound, "200 with 1 of 1 healthy")
    lab_envoy.serve([])                                 # nothing in rotation: nothing serves
    wait_for(lambda: health_status(s) == 503, bound, "503 with no endpoint")
