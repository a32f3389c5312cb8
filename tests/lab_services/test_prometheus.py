"""The lab's Prometheus (Debian's server) on loopback: it starts from lab.prometheus, loads the
shipped rules, scrapes the targets migfleet renders, follows a changed targets file, and stops."""
from __future__ import annotations

import json
import shutil
import socket
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from lab import prometheus, supervisor

LISTEN = "127.0.0.5"
MIG_LABELS = 'host="{host}",gpu="0",gpu_uuid="GPU-1",gi="7",profile="1g.5gb",mig_uuid="MIG-{host}"'


def _endpoint(address: str, host: str) -> ThreadingHTTPServer:
    """Answers /metrics as a host's Envoy does: a Triton counter with the MIG labels."""
    body = ("# TYPE nv_inference_request_success counter\n"
            f'nv_inference_request_success{{model="m",version="1",{MIG_LABELS.format(host=host)}}} 5\n').encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200 if self.path == "/metrics" else 404)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer((address, 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _free_port(address: str) -> int:
    with socket.socket() as sock:
        sock.bind((address, 0))
        return sock.getsockname()[1]


def _wait_for(url: str, expr: str, want: int, timeout: float = 40) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        result = prometheus.query(url, expr)
        if len(result) >= want:
            return result
        assert time.monotonic() < deadline, f"{expr}: {result} after {timeout:.0f} s"
        time.sleep(0.5)


@pytest.mark.slow
def test_lab_prometheus_scrapes_the_rendered_targets(tmp_path):
    if shutil.which(prometheus.BINARY) is None:
        pytest.skip("prometheus missing (bin/setup installs Debian's prometheus)")
    ends = {"lab-h1": _endpoint("127.0.0.6", "lab-h1"), "lab-h2": _endpoint("127.0.0.7", "lab-h2")}
    hosts = {name: {"ssh_hostname": srv.server_address[0], "metrics_port": srv.server_address[1]}
             for name, srv in ends.items()}
    port = _free_port(LISTEN)
    try:
        prometheus.write_targets(tmp_path, {"lab-h1": hosts["lab-h1"]})
        url = prometheus.start(LISTEN, tmp_path, port)
        assert url == f"http://{LISTEN}:{port}"
        [sample] = _wait_for(url, "nv_inference_request_success", 1)
        assert sample["metric"] == {"__name__": "nv_inference_request_success", "job": "migfleet",
                                    "instance": f"127.0.0.6:{hosts['lab-h1']['metrics_port']}",
                                    "model": "m", "version": "1", "host": "lab-h1", "gpu": "0",
                                    "gpu_uuid": "GPU-1", "gi": "7", "profile": "1g.5gb", "mig_uuid": "MIG-lab-h1"}
        assert sample["value"][1] == "5"
        with urllib.request.urlopen(f"{url}/api/v1/rules", timeout=5) as resp:
            groups = {g["name"] for g in json.load(resp)["data"]["groups"]}
        assert groups == {"migfleet.records", "migfleet.alerts"}
        # a host added to the targets file is scraped without a restart
        pid = supervisor.running(tmp_path.resolve(), "prometheus")["pid"]
        prometheus.write_targets(tmp_path, hosts)
        found = _wait_for(url, "nv_inference_request_success", 2)
        assert {s["metric"]["host"] for s in found} == {"lab-h1", "lab-h2"}
        assert prometheus.start(LISTEN, tmp_path, port) == url
        assert supervisor.running(tmp_path.resolve(), "prometheus")["pid"] == pid
    finally:
        prometheus.stop(tmp_path)
        for srv in ends.values():
            srv.shutdown()
    assert supervisor.running(tmp_path.resolve(), "prometheus") is None
    with socket.socket() as sock:
        # the port is free again (SO_REUSEADDR: closed scrape connections linger in TIME_WAIT)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((LISTEN, port))
