"""The lab images, pulled from the lab registry into a private dockerd, behave like NGC's and Envoy's."""
import json
import random
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from conftest import free_port

pytestmark = pytest.mark.slow
MODELS = Path(__file__).resolve().parent / "models"


def get(url, timeout=2):
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return resp.status, resp.read()


def test_registry_serves_both_tags(services):
    for ref in services["images"].values():
        registry, _, rest = ref.partition("/")
        repo, _, tag = rest.partition(":")
        assert registry == services["registry"]
        tags = json.loads(get(f"http://{registry}/v2/{repo}/tags/list")[1])["tags"]
        assert tag in tags


def test_triton_ready_and_infers_with_python_backend(pulled):
    dockerd, images = pulled
    http, grpc, metrics = free_port(), free_port(), free_port()
    name = f"triton-test-{http}"
    dockerd.docker("run", "-d", "--name", name, "--network", "host", "-v", f"{MODELS}:/models:ro",
                   images["triton"], "tritonserver", "--model-repository=/models", "--http-address=127.0.0.1",
                   f"--http-port={http}", "--grpc-address=127.0.0.1", f"--grpc-port={grpc}",
                   "--metrics-address=127.0.0.1", f"--metrics-port={metrics}", "--strict-readiness=true",
                   "--log-verbose=0")
    try:
        base = f"http://127.0.0.1:{http}"
        deadline = time.monotonic() + 60
        status = None
        while time.monotonic() < deadline:
            try:
                status = get(base + "/v2/health/ready")[0]
                if status == 200:
                    break
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.3)
        logs = dockerd.docker("logs", name, check=False)
        assert status == 200, logs.stdout[-3000:] + logs.stderr[-3000:]

        values = [round(random.uniform(-100, 100), 3) for _ in range(5)]
        body = json.dumps({"inputs": [{"name": "INPUT0", "shape": [len(values)], "datatype": "FP32",
                                       "data": values}]}).encode()
        req = urllib.request.Request(base + "/v2/models/add_one/infer", data=body,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            out = json.load(resp)["outputs"][0]
        assert out["name"] == "OUTPUT0" and out["datatype"] == "FP32"
        assert out["data"] == pytest.approx([2 * v + 1 for v in values], rel=1e-5)
        assert b"nv_inference_request_success" in get(f"http://127.0.0.1:{metrics}/metrics")[1]
    finally:
        dockerd.docker("rm", "-f", name, check=False)


def test_envoy_validates_v3_and_rejects_v2(pulled, tmp_path):
    dockerd, images = pulled
    good = tmp_path / "envoy.yaml"
    good.write_text("""
static_resources:
  listeners:
  - name: http
    address: {socket_address: {address: 127.0.0.1, port_value: 18000}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: http
          route_config:
            virtual_hosts:
            - {name: all, domains: ["*"], routes: [{match: {prefix: "/"}, route: {cluster: triton}}]}
          http_filters:
          - name: envoy.filters.http.router
            typed_config: {"@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router}
  clusters:
  - name: triton
    type: STATIC
    load_assignment:
      cluster_name: triton
      endpoints:
      - lb_endpoints:
        - endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: 8000}}}
""")
    bad = tmp_path / "v2.yaml"
    bad.write_text(good.read_text().replace("typed_config:\n          \"@type\": type.googleapis.com/envoy."
                                            "extensions.filters.network.http_connection_manager.v3."
                                            "HttpConnectionManager", "config:"))
    assert "config:" in bad.read_text()
    mount = ["-v", f"{tmp_path}:/cfg:ro"]
    ok = dockerd.docker("run", "--rm", *mount, images["envoy"], "--mode", "validate", "-c", "/cfg/envoy.yaml",
                        check=False)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "OK" in ok.stdout + ok.stderr
    rejected = dockerd.docker("run", "--rm", *mount, images["envoy"], "--mode", "validate", "-c", "/cfg/v2.yaml",
                              check=False)
    assert rejected.returncode != 0
    assert "config" in rejected.stdout + rejected.stderr
    # A command that is not an option runs as is (envoyproxy/envoy's entrypoint).
    version = dockerd.docker("run", "--rm", images["envoy"], "envoy", "--version")
    assert "1.40.0" in version.stdout


def test_envoy_default_command_serves(pulled):
    dockerd, images = pulled
    port = free_port()
    name = f"envoy-test-{port}"
    config = ('admin: {address: {socket_address: {address: 127.0.0.1, port_value: %d}}}\n' % port)
    dockerd.docker("run", "-d", "--name", name, "--network", "host", images["envoy"], "--disable-hot-restart",
                   "--config-yaml", config, "-c", "/etc/envoy/envoy.yaml")
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if get(f"http://127.0.0.1:{port}/ready")[0] == 200:
                    break
            except (urllib.error.URLError, OSError):
                time.sleep(0.2)
        assert get(f"http://127.0.0.1:{port}/ready")[1].strip() == b"LIVE"
    finally:
        dockerd.docker("rm", "-f", name, check=False)
