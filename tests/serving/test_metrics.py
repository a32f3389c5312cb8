"""The host metrics endpoint: generated pieces, then the real envoy binary on loopback in front of
small HTTP servers that answer what Triton 2.51 answers on its metrics port (a capture of a real
tritonserver, tests/serving/triton_2.51_metrics.txt)."""
from __future__ import annotations

import http.client
import json
import re
import socket
import subprocess
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from migfleet.serving import metrics, triton

from .envoy_bin import envoy_binary, validate

CAPTURE = (Path(__file__).parent / "triton_2.51_metrics.txt").read_text()
LISTEN, ALLOWED, REFUSED = "127.0.0.2", "127.0.0.3", "127.0.0.4"
TIMEOUT_MS = 500


PORT = 8002


def _source(name: str, port: int, gi: int, http_port: int = 0) -> triton.Triton:
    """A Triton at GPU instance `gi` whose metrics are on `port` (and its HTTP on `http_port`)."""
    return triton.Triton(name, triton.Place(0, gi, 0, "GPU-0000-aaaa", "1g.5gb"),
                         triton.TritonPorts(http_port, 0, port), (), "").bound(triton.Device(f"MIG-{gi:04d}-bbbb", gi))


def bootstrap(host, sources, admin_port, listen_address, allow_networks, port=PORT, timeout_ms=metrics.TIMEOUT_MS,
              serving_cluster=None, extra_clusters=()) -> dict:
    """A bootstrap serving only the metrics endpoint (admin on 127.0.0.1)."""
    listener, clusters = metrics.metrics_resources(host, sources, admin_port, listen_address, allow_networks,
                                                   port, timeout_ms, serving_cluster)
    return {"admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin_port}}},
            "static_resources": {"listeners": [listener], "clusters": [*clusters, *extra_clusters]}}


def test_label_values_are_escaped():
    assert metrics.render_labels({"a": 'x"y\\z\nw'}) == 'a="x\\"y\\\\z\\nw"'


@pytest.mark.parametrize("bad", ["10.1.2.3/8", "not-a-net", "10.0.0.0/33", ""])
def test_allow_list_entries_that_say_nothing_clear_are_refused(bad):
    with pytest.raises(ValueError, match="metrics_allow_networks"):
        metrics.metrics_listener("h1", [], "0.0.0.0", [bad], PORT)


def test_default_allow_list_is_the_network_the_deploy_leaves_from():
    route = [{"dst": "10.250.0.11", "dev": "mflab0", "prefsrc": "10.250.0.1", "flags": []}]
    links = [{"ifname": "mflab0", "addr_info": [
        {"family": "inet6", "local": "fe80::1", "prefixlen": 64},
        {"family": "inet", "local": "10.250.0.1", "prefixlen": 24}]}]
    assert metrics.source_network(route, links) == "10.250.0.0/24"
    with pytest.raises(ValueError, match="on no interface"):
        metrics.source_network([{"dev": "eth0", "prefsrc": "192.0.2.9"}], links)
    # on this machine, through the real `ip`: loopback leaves from 127.0.0.1/8
    assert metrics.deploy_source_network("127.0.0.2") == "127.0.0.0/8"


def test_a_name_that_does_not_resolve_is_a_clear_error():
    with pytest.raises(metrics.NetworkLookupError, match="'no-such-host.invalid' does not resolve on this machine"):
        metrics.deploy_source_network("no-such-host.invalid")     # .invalid never resolves (RFC 6761)


IP_ADDR = [  # `ip -j addr`, trimmed: loopback, a host with v4 + v6, docker's bridge, a link with no address
    {"ifname": "lo", "addr_info": [{"family": "inet", "local": "127.0.0.1", "prefixlen": 8, "scope": "host"},
                                   {"family": "inet6", "local": "::1", "prefixlen": 128, "scope": "host"}]},
    {"ifname": "eno1", "addr_info": [
        {"family": "inet", "local": "10.20.30.41", "prefixlen": 22, "scope": "global"},
        {"family": "inet6", "local": "2001:db8:5::41", "prefixlen": 64, "scope": "global"},
        {"family": "inet6", "local": "fe80::1e34:daff:fe00:41", "prefixlen": 64, "scope": "link"}]},
    {"ifname": "docker0", "addr_info": [{"family": "inet", "local": "172.17.0.1", "prefixlen": 16, "scope": "global"}]},
    {"ifname": "eno2", "addr_info": []},
]


def test_local_allow_list_is_loopback_and_the_hosts_own_networks():
    assert metrics.interface_networks(IP_ADDR) == [
        "127.0.0.0/8", "::1/128", "10.20.28.0/22", "2001:db8:5::/64", "172.17.0.0/16"]
    assert metrics.interface_networks([]) == ["127.0.0.0/8", "::1/128"]
    with pytest.raises(metrics.NetworkLookupError, match="'eno1'.*'local': '10.0.0.300'"):
        metrics.interface_networks([{"ifname": "eno1", "addr_info": [{"local": "10.0.0.300", "prefixlen": 8}]}])
    # every entry is one the allow list accepts
    metrics.parse_networks(metrics.interface_networks(IP_ADDR))


@pytest.mark.parametrize("text", ["", "Object \"addr\" is unknown, try \"ip help\".", '{"ifname": "lo"}'])
def test_ip_output_that_is_no_list_of_links_is_quoted(text):
    with pytest.raises(metrics.NetworkLookupError, match="something else than a list of links"):
        metrics.parse_links(text)


def test_local_networks_of_this_machine():
    found = metrics.local_networks()        # the real `ip -j addr`
    assert found[:2] == ["127.0.0.0/8", "::1/128"] and len(found) == len(set(found))


def _rbac_policies(listener: dict) -> dict:
    rbac = listener["filter_chains"][0]["filters"][0]
    assert rbac["name"] == "envoy.filters.network.rbac"
    assert rbac["typed_config"]["rules"]["action"] == "ALLOW"
    return rbac["typed_config"]["rules"]["policies"]


def test_rbac_allows_exactly_the_listed_networks():
    listener = metrics.metrics_listener("h1", [], "0.0.0.0", ["10.250.0.0/24", "192.0.2.7", "2001:db8::/32"], PORT)
    principals = _rbac_policies(listener)["allow_networks"]["principals"]
    assert [p["direct_remote_ip"] for p in principals] == [
        {"address_prefix": "10.250.0.0", "prefix_len": 24}, {"address_prefix": "192.0.2.7", "prefix_len": 32},
        {"address_prefix": "2001:db8::", "prefix_len": 32}]
    # An empty list leaves no policy, which under ALLOW admits nobody.
    assert _rbac_policies(metrics.metrics_listener("h1", [], "0.0.0.0", [], PORT)) == {}


def test_one_cluster_per_triton_and_one_for_the_admin():
    sources = [_source("triton-gpu0-gi1", 20002, 1), _source("triton-gpu0-gi2", 20402, 2)]
    listener, clusters = metrics.metrics_resources("h1", sources, 9901, "10.0.0.5", ["10.0.0.0/8"], PORT)
    ports = {c["name"]: c["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]
             ["socket_address"] for c in clusters}
    assert ports == {"migfleet_metrics_triton-gpu0-gi1": {"address": "127.0.0.1", "port_value": 20002},
                     "migfleet_metrics_triton-gpu0-gi2": {"address": "127.0.0.1", "port_value": 20402},
                     metrics.ADMIN_CLUSTER: {"address": "127.0.0.1", "port_value": 9901}}
    assert listener["address"] == {"socket_address": {"address": "10.0.0.5", "port_value": 8002}}
    with pytest.raises(ValueError, match="appears twice"):
        metrics.metrics_clusters([sources[0], sources[0]], 9901)


def test_bootstrap_passes_envoy_validation(tmp_path):
    sources = [_source("triton-gpu0-gi1", 20002, 1, 20000)]
    path = tmp_path / "envoy.json"
    path.write_text(json.dumps(bootstrap("h1", sources, 9901, "0.0.0.0", ["10.0.0.0/8"])))
    result = validate(path)
    assert result.returncode == 0, result.stdout + result.stderr


# -- the real envoy on loopback ----------------------------------------------------------------

class FakeTriton:
    """Answers /metrics with the capture (its success count replaced) and /v2/health/ready."""

    def __init__(self, exposition: str):
        body = exposition.encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                ok = self.path in ("/metrics", triton.READY_PATH)
                payload = body if self.path == "/metrics" else b""
                self.send_response(200 if ok else 404)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def _free_port(address: str) -> int:
    with socket.socket() as sock:
        sock.bind((address, 0))
        return sock.getsockname()[1]


def _get(port: int, source: str, path: str = "/metrics", method: str = "GET") -> tuple[int, dict, str]:
    conn = http.client.HTTPConnection(LISTEN, port, timeout=10, source_address=(source, 0))
    try:
        conn.request(method, path)
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read().decode()
    finally:
        conn.close()


EXTRA = """# HELP fake_latency_ms A histogram and a label that clashes with ours
# TYPE fake_latency_ms histogram
fake_latency_ms_bucket{gpu_uuid="theirs",le="1"} 2
fake_latency_ms_bucket{gpu_uuid="theirs",le="+Inf"} 3
fake_latency_ms_sum{gpu_uuid="theirs"} 4.5
fake_latency_ms_count{gpu_uuid="theirs"} 3
"""


@pytest.fixture(scope="module")
def endpoint():
    """Envoy serving the metrics of two live fake Tritons, one whose port refuses connections and
    one that accepts connections and never answers."""
    live = {1: FakeTriton(CAPTURE.replace('version="1"} 3\n# HELP nv_inference_request_failure',
                                          'version="1"} 11\n# HELP nv_inference_request_failure')),
            2: FakeTriton(CAPTURE.replace('version="1"} 3\n# HELP nv_inference_request_failure',
                                          'version="1"} 22\n# HELP nv_inference_request_failure') + EXTRA)}
    holder = socket.socket()  # bound, never listening: connections to it are refused
    holder.bind(("127.0.0.1", 0))
    dead_port = holder.getsockname()[1]
    hung = socket.socket()  # listening, never accepting: the request is sent and never answered
    hung.bind(("127.0.0.1", 0))
    hung.listen(16)
    sources = [_source(f"triton-gpu0-gi{gi}", f.port, gi, f.port) for gi, f in live.items()]
    sources.append(_source("triton-gpu0-gi3", dead_port, 3, dead_port))
    sources.append(_source("triton-gpu0-gi4", hung.getsockname()[1], 4))
    serving = {"name": "triton_http", "type": "STATIC", "connect_timeout": "0.25s",
               "load_assignment": {"cluster_name": "triton_http", "endpoints": [{"lb_endpoints": [
                   {"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": s.ports.http}}}}
                   for s in sources if s.ports.http]}]},
               "health_checks": [{"timeout": "0.5s", "interval": "0.3s", "no_traffic_interval": "0.3s",
                                  "unhealthy_threshold": 1, "healthy_threshold": 1,
                                  "http_health_check": {"path": triton.READY_PATH}}]}
    port, admin = _free_port(LISTEN), _free_port("127.0.0.1")
    config = bootstrap("h1", sources, admin, LISTEN, [f"{ALLOWED}/32", "10.99.0.0/16"], port=port,
                               timeout_ms=TIMEOUT_MS, serving_cluster="triton_http", extra_clusters=[serving])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "envoy.json"
        path.write_text(json.dumps(config))
        proc = subprocess.Popen([str(envoy_binary()), "-c", str(path), "--concurrency", "1",
                                 "--disable-hot-restart", "--log-level", "warn"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 20
            while True:
                assert proc.poll() is None, proc.stderr.read()
                try:
                    _get(port, ALLOWED, "/")
                    break
                except OSError:
                    assert time.monotonic() < deadline, "envoy did not listen within 20 s"
                    time.sleep(0.1)
            yield {"port": port, "sources": sources, "live": live, "dead_gi": 3}
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
            holder.close()
            hung.close()
            for f in live.values():
                f.server.shutdown()


def _scrape(endpoint) -> str:
    started = time.monotonic()
    status, headers, body = _get(endpoint["port"], ALLOWED)
    # one source never answers: its read is cut at TIMEOUT_MS, the scrape still completes
    assert time.monotonic() - started < 3 * TIMEOUT_MS / 1000
    assert status == 200, body
    assert headers["content-type"].startswith("text/plain; version=0.0.4")
    return body


@pytest.mark.slow
def test_allowed_source_gets_one_exposition_with_the_mig_labels(endpoint):
    body = _scrape(endpoint)
    families = list(text_string_to_metric_families(body))
    expected = {s.mig_uuid: metrics.labels("h1", s) for s in endpoint["sources"]}
    # (family names as the parser gives them are not unique: it drops a counter's _total suffix,
    # and Envoy has both upstream_rq and upstream_rq_total)
    for kind in ("HELP", "TYPE"):
        described = re.findall(rf"^# {kind} (\S+)", body, re.M)
        assert len(described) == len(set(described)), f"a family has two {kind} lines"
    envoy_series = 0
    for family in families:
        for sample in family.samples:
            if sample.name.startswith(("nv_", "fake_", "migfleet_instance_")):
                mine = {k: sample.labels.get(k) for k in metrics.LABEL_NAMES}
                assert mine == expected[sample.labels["mig_uuid"]], sample
            else:
                assert sample.labels.get("host") == "h1", sample
                envoy_series += sample.name.startswith("envoy_")
    assert envoy_series > 100
    # (the parser names a counter's samples <family>_total)
    success = {s.labels["mig_uuid"]: s.value for f in families if f.name == "nv_inference_request_success"
               for s in f.samples}
    assert success == {"MIG-0001-bbbb": 11, "MIG-0002-bbbb": 22}
    up = {s.labels["mig_uuid"]: s.value for f in families for s in f.samples if s.name == "migfleet_instance_up"}
    assert up == {"MIG-0001-bbbb": 1, "MIG-0002-bbbb": 1, "MIG-0003-bbbb": 0, "MIG-0004-bbbb": 0}
    fake = next(f for f in families if f.name == "fake_latency_ms")
    assert fake.type == "histogram" and len(fake.samples) == 4
    assert {s.labels["exported_gpu_uuid"] for s in fake.samples} == {"theirs"}
    summary = next(f for f in families if f.name == "nv_inference_request_summary_us")
    assert summary.type == "summary"
    assert {s.labels["quantile"] for s in summary.samples if "quantile" in s.labels} >= {"0.99"}


@pytest.mark.slow
def test_instance_health_follows_envoys_health_checks(endpoint):
    deadline = time.monotonic() + 10
    while True:
        families = text_string_to_metric_families(_scrape(endpoint))
        healthy = {s.labels["mig_uuid"]: s.value for f in families for s in f.samples
                   if s.name == "migfleet_instance_healthy"}
        if healthy == {"MIG-0001-bbbb": 1, "MIG-0002-bbbb": 1, "MIG-0003-bbbb": 0, "MIG-0004-bbbb": 0}:
            return
        assert time.monotonic() < deadline, healthy
        time.sleep(0.3)


@pytest.mark.slow
def test_source_outside_the_allow_list_is_refused(endpoint):
    with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)):
        _get(endpoint["port"], REFUSED)
    # and the allowed source still gets its answer right after
    assert _get(endpoint["port"], ALLOWED)[0] == 200


@pytest.mark.slow
def test_other_paths_and_methods_get_no_metrics(endpoint):
    assert _get(endpoint["port"], ALLOWED, "/stats/prometheus")[0] == 404
    status, headers, _ = _get(endpoint["port"], ALLOWED, method="POST")
    assert (status, headers.get("allow")) == (405, "GET")
