import json

import pytest

from migfleet.fleet import checks as sc
from migfleet.serving.containers import parse_inspect
from migfleet.serving import triton

SS = """\
State  Recv-Q Send-Q Local Address:Port  Peer Address:PortProcess
LISTEN 0      4096       127.0.0.1:20000      0.0.0.0:*    users:(("tritonserver",pid=812,fd=31))
LISTEN 0      4096       127.0.0.1:20001      0.0.0.0:*    users:(("tritonserver",pid=812,fd=32))
LISTEN 0      4096         0.0.0.0:20400      0.0.0.0:*    users:(("tritonserver",pid=901,fd=31))
LISTEN 0      4096       127.0.0.1:20400      0.0.0.0:*    users:(("tritonserver",pid=901,fd=33))
LISTEN 0      4096         0.0.0.0:8000       0.0.0.0:*    users:(("envoy",pid=700,fd=20))
LISTEN 0      4096      10.250.0.11:8001      0.0.0.0:*    users:(("envoy",pid=700,fd=21))
LISTEN 0      4096       127.0.0.1:9901       0.0.0.0:*    users:(("envoy",pid=700,fd=19))
LISTEN 0      128             [::]:22            [::]:*    users:(("sshd",pid=41,fd=4))
LISTEN 0      128                *:9100             *:*
"""


def test_parse_ss_forms():
    ls = sc.parse_ss(SS)
    assert sc.Listener("127.0.0.1", 20000, 'users:(("tritonserver",pid=812,fd=31))') in ls
    assert {(ln.address, ln.port) for ln in ls} >= {("::", 22), ("*", 9100), ("10.250.0.11", 8001)}
    with pytest.raises(ValueError, match="unexpected line 'ESTAB 0 0 1.2.3.4:5 6.7.8.9:10'"):
        sc.parse_ss("ESTAB 0 0 1.2.3.4:5 6.7.8.9:10\n")


def test_loopback_only():
    ls = sc.parse_ss(SS)
    found = sc.check_loopback_only("h1", ls, {20000: "triton-gpu0-gi1 HTTP", 20400: "triton-gpu0-gi2 HTTP",
                                              20002: "triton-gpu0-gi1 metrics", 9901: "Envoy admin"})
    assert [str(m) for m in found] == [
        "h1: triton-gpu0-gi1 metrics port 20002: expected listening on 127.0.0.1, found not listening",
        "h1: triton-gpu0-gi2 HTTP port 20400: expected listening on 127.0.0.1 only, "
        "found listening on 0.0.0.0, 127.0.0.1",
    ]


def test_listening_on_address_or_wildcard():
    ls = sc.parse_ss(SS)
    assert sc.check_listening("h1", ls, 8000, "10.250.0.11", "Envoy HTTP") == []     # 0.0.0.0 covers it
    assert sc.check_listening("h1", ls, 8001, "10.250.0.11", "Envoy gRPC") == []
    assert sc.check_listening("h1", ls, 8001, "0.0.0.0", "Envoy gRPC") == []
    (m,) = sc.check_listening("h1", ls, 8001, "10.250.0.12", "Envoy gRPC")
    assert (m.expected, m.found) == ("listening on 10.250.0.12", "listening on 10.250.0.11")
    (m,) = sc.check_listening("h1", ls, 8002, "0.0.0.0", "Envoy")
    assert m.found == "not listening"


CLUSTERS = """\
triton_http::observability_name::triton_http
triton_http::default_priority::max_connections::1024
triton_http::127.0.0.1:20000::cx_active::1
triton_http::127.0.0.1:20000::health_flags::healthy
triton_http::127.0.0.1:20400::health_flags::/failed_active_hc
triton_grpc::127.0.0.1:20001::health_flags::healthy
triton_grpc::127.0.0.1:20991::health_flags::healthy
"""


def bound_triton(name, gpu, gpu_uuid, mig_uuid, http) -> triton.Triton:
    """A Triton on GPU `gpu`, ports from `http`, bound to `mig_uuid`."""
    return triton.Triton(name, triton.Place(gpu, 0, 0, gpu_uuid, "1g.5gb"), triton.TritonPorts(http, http + 1, http + 2),
                         (), "").bound(triton.Device(mig_uuid, 1))


def test_envoy_backends():
    assert sc.parse_envoy_clusters(CLUSTERS)[("triton_http", "127.0.0.1:20400")] == "/failed_active_hc"
    found = [str(m) for m in sc.check_envoy_backends("h1", CLUSTERS, {"triton_http": [20000, 20400],
                                                                      "triton_grpc": [20001, 20401]})]
    assert found == [
        "h1: Envoy cluster triton_grpc: expected backend 127.0.0.1:20401, found absent",
        "h1: Envoy cluster triton_grpc: expected no other backend, found backend 127.0.0.1:20991",
        "h1: Envoy cluster triton_http backend 127.0.0.1:20400: expected healthy, found /failed_active_hc",
    ]



def test_envoy_backends_name_the_triton_and_gpu():
    t = bound_triton("triton-gpu1-gi9", 1, "GPU-b", "MIG-9", 20400)
    found = [str(m) for m in sc.check_envoy_backends("h1", CLUSTERS, {"triton_http": {20400: t},
                                                                      "triton_grpc": {20401: t}})]
    assert found == [
        "h1 GPU 1 (GPU-b): Envoy cluster triton_grpc: expected backend 127.0.0.1:20401 (triton-gpu1-gi9), found absent",
        "h1: Envoy cluster triton_grpc: expected no other backend, found backend 127.0.0.1:20001",
        "h1: Envoy cluster triton_grpc: expected no other backend, found backend 127.0.0.1:20991",
        "h1: Envoy cluster triton_http: expected no other backend, found backend 127.0.0.1:20000",
        "h1 GPU 1 (GPU-b): Envoy cluster triton_http backend 127.0.0.1:20400 (triton-gpu1-gi9): "
        "expected healthy, found /failed_active_hc",
    ]

def inspect(name, uuid, status="running", env_uuid=None, role="triton", network="host"):
    return {"Name": "/" + name, "Id": "id-" + name, "State": {"Status": status},
            "HostConfig": {"NetworkMode": network},
            "Config": {"Image": "tritonserver", "Env": [f"NVIDIA_VISIBLE_DEVICES={env_uuid or uuid}", "PATH=/usr/bin"],
                       "Labels": {"migfleet.role": role, "migfleet.mig_uuid": uuid}}}


T1 = bound_triton("triton-gpu0-gi1", 0, "GPU-a", "MIG-1", 20400)
T2 = bound_triton("triton-gpu0-gi2", 0, "GPU-a", "MIG-2", 20000)


def test_tritons_bound_and_running():
    cs = parse_inspect(json.dumps([inspect("triton-gpu0-gi1", "MIG-1"), inspect("triton-gpu0-gi2", "MIG-2"),
                                      inspect("migfleet-envoy", "", role="envoy")]))
    assert sc.compare_tritons("h1", [T1, T2], cs) == []


def test_triton_problems_each_named():
    cs = parse_inspect(json.dumps([
        inspect("triton-gpu0-gi1", "MIG-1", status="exited", env_uuid="MIG-9", network="bridge"),
        inspect("triton-gpu1-gi7", "MIG-7"),
    ]))
    found = [str(m) for m in sc.compare_tritons("h1", [T1, T2], cs)]
    assert found == [
        "h1 GPU 0 (GPU-a): container triton-gpu0-gi1 state: expected running, found exited",
        "h1 GPU 0 (GPU-a): container triton-gpu0-gi1 NVIDIA_VISIBLE_DEVICES: expected MIG-1, found MIG-9",
        "h1 GPU 0 (GPU-a): container triton-gpu0-gi1 network: expected host, found bridge",
        "h1 GPU 0 (GPU-a): Triton for MIG-2: expected container triton-gpu0-gi2, found no such container",
        "h1: Triton containers: expected none besides one per MIG device, found triton-gpu1-gi7 "
        "(running, migfleet.mig_uuid=MIG-7)",
    ]


def test_two_containers_on_one_mig_device():
    cs = parse_inspect(json.dumps([inspect("triton-gpu0-gi1", "MIG-1"), inspect("triton-gpu0-gi2", "MIG-2"),
                                      inspect("rogue", "MIG-1")]))
    found = [str(m) for m in sc.compare_tritons("h1", [T1, T2], cs)]
    assert "h1: containers bound to MIG-1: expected one, found rogue, triton-gpu0-gi1" in found


def test_inspect_garbage():
    with pytest.raises(ValueError, match="not JSON"):
        parse_inspect("Error: no such object")
    with pytest.raises(ValueError, match="lacks 'State'"):
        parse_inspect('[{"Name": "/x", "Id": "1", "Config": {}}]')


def test_inference_response():
    ok = json.dumps({"model_name": "lab_classifier", "outputs": [
        {"name": "PROBABILITIES", "datatype": "FP32", "shape": [3], "data": [0.98213404, 0.01780897, 5.7e-05]}]})
    want = {"PROBABILITIES": [0.982134, 0.017809, 0.000057]}
    assert sc.compare_inference("h1", ok, want, tolerance=1e-5) == []
    bad = ok.replace("0.98213404", "0.5")
    (m,) = sc.compare_inference("h1", bad, want, tolerance=1e-5)
    assert m.field == "inference output PROBABILITIES" and "0.5" in m.found
    (m,) = sc.compare_inference("h1", '{"error": "model not ready"}', want)
    assert m.field == "inference response" and "model not ready" in m.found


def test_known_pairs_from_model_readme():
    text = "intro\n```known-pairs\n5.1 3.5 1.4 0.2 -> 0.982134 0.017809 0.000057\n1 2 3 4 -> 0 0.5 0.5\n```\n"
    assert sc.known_pairs(text) == [([5.1, 3.5, 1.4, 0.2], [0.982134, 0.017809, 0.000057]),
                                    ([1.0, 2.0, 3.0, 4.0], [0.0, 0.5, 0.5])]
    with pytest.raises(ValueError, match="no known-pairs block"):
        sc.known_pairs("nothing here")
    with pytest.raises(ValueError, match="'1 2 3'"):
        sc.known_pairs("```known-pairs\n1 2 3\n```")


def test_v4_mapped_loopback_counts_as_loopback():
    ss = ("LISTEN 0 4096 [::ffff:127.0.0.1]:20001 [::]:* users:((\"tritonserver\",pid=7,fd=9))\n"
          "LISTEN 0 4096 [::ffff:10.250.0.11]:20101 [::]:* users:((\"tritonserver\",pid=8,fd=9))\n")
    found = sc.check_loopback_only("h1", sc.parse_ss(ss), {20001: "a gRPC", 20101: "b gRPC"})
    assert [str(m) for m in found] == [
        "h1: b gRPC port 20101: expected listening on 127.0.0.1 only, found listening on ::ffff:10.250.0.11"]


def test_each_model_cluster_holds_exactly_the_tritons_that_load_it():
    a = triton.Triton("t-a", triton.Place(0, 0, 0, "GPU-a", "3g.20gb"), triton.TritonPorts(20000, 20001, 20002), (), "",
                      ("m1",))
    b = triton.Triton("t-b", triton.Place(0, 4, 0, "GPU-a", "1g.5gb"), triton.TritonPorts(20400, 20401, 20402), (), "",
                      ("m1", "m2"))
    from migfleet.serving import endpoints
    assert endpoints.model_members([a, b]) == {
        "triton_http.m1": {20000: a, 20400: b}, "triton_grpc.m1": {20001: a, 20401: b},
        "triton_http.m2": {20400: b}, "triton_grpc.m2": {20401: b}}
    # a Triton with no list loads the repository's models, not known here: nothing is asserted
    assert endpoints.model_members([a, triton.Triton("t-c", a.place, a.ports, (), "")]) == {}
    text = ("triton_http.m2::127.0.0.1:20400::health_flags::healthy\n"
            "triton_http.m2::127.0.0.1:20000::health_flags::healthy\n")
    found = [str(m) for m in sc.check_envoy_backends("h1", text, {"triton_http.m2": {20400: b}})]
    assert found == ["h1: Envoy cluster triton_http.m2: expected no other backend, found backend 127.0.0.1:20000"]


def test_each_triton_has_exactly_its_models_ready():
    from migfleet.fleet import model_checks
    t = triton.Triton("t-b", triton.Place(1, 4, 0, "GPU-b", "1g.5gb"), triton.TritonPorts(1, 2, 3), (), "", ("m1", "m2"))
    ready = json.dumps([{"name": "m1", "version": "1", "state": "READY"}, {"name": "m2", "version": "1", "state": "READY"}])
    assert model_checks.compare_models("h1", [t], {"t-b": ready}) == []
    found = [str(m) for m in model_checks.compare_models("h1", [t], {"t-b": json.dumps([{"name": "m3", "state": "READY"}])})]
    assert found == ["h1 GPU 1 (GPU-b): t-b models: expected m1, m2, found m3"]
    assert "found no answer" in str(model_checks.compare_models("h1", [t], {"t-b": "curl: (7)"})[0])
