"""The host-side rotation's settings and its reading of Envoy's admin view."""
from __future__ import annotations

import json

import pytest

from migfleet.serving import endpoints, rotation, settings as serving_settings, triton

CLUSTERS = """\
triton_http::default_priority::max_connections::1024
triton_http::127.0.0.1:20000::rq_active::3
triton_http::127.0.0.1:20000::health_flags::healthy
triton_grpc::127.0.0.1:20001::rq_active::2
triton_grpc::127.0.0.1:20001::health_flags::/failed_active_hc
triton_http::127.0.0.1:20400::rq_active::7
"""


def test_rotation_waits_the_ready_timeout_of_the_settings():
    s = serving_settings.defaults()
    host = rotation.Host(rotation.host_config(s))
    assert host.ready_s == s["triton_ready_timeout"] and host.drain_s == s["envoy_drain_seconds"]
    host = rotation.Host(rotation.host_config(dict(s, triton_ready_timeout=42)))
    assert host.ready_s == 42


def test_a_config_without_the_ready_timeout_is_refused_not_defaulted():
    config = rotation.host_config(serving_settings.defaults())
    del config["ready_timeout"]
    with pytest.raises(KeyError, match="ready_timeout"):
        rotation.Host(config)


def test_admin_clusters_parsed_per_endpoint():
    stats = endpoints.parse_clusters(CLUSTERS)
    assert stats[("triton_http", "127.0.0.1:20000")] == {"rq_active": "3", "health_flags": "healthy"}
    assert stats[("triton_grpc", "127.0.0.1:20001")]["health_flags"] == "/failed_active_hc"
    assert ("triton_http", "default_priority") not in stats


def test_in_flight_requests_count_only_the_named_tritons(tmp_path, monkeypatch):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    for gi, http in ((0, 20000), (4, 20400)):
        t = triton.Triton(f"triton-gpu0-s{gi}", triton.Place(0, gi, 0, "GPU-a", "1g.5gb"),
                          triton.TritonPorts(http, http + 1, http + 2), ("--label", "x"), "c")
        (run_dir / f"{t.name}{triton.RUN_SUFFIX}").write_text(t.to_json())
    config = dict(rotation.host_config(serving_settings.defaults()), run_dir=str(run_dir))
    host = rotation.Host(config)
    monkeypatch.setattr(host, "endpoints", lambda: endpoints.parse_clusters(CLUSTERS))
    assert host.active({"triton-gpu0-s0"}) == 5 and host.active({"triton-gpu0-s4"}) == 7
    assert host.active(set()) == 0


def test_run_file_round_trips():
    t = triton.Triton("triton-gpu1-s4-c1", triton.Place(1, 4, 1, "GPU-b", "3g.20gb"), triton.TritonPorts(1, 2, 3),
                      ("-d", "--label", "k=v"), "abc")
    assert triton.Triton.from_json(t.to_json()) == t
    with pytest.raises(triton.TritonPlanError, match="run file is not a Triton's"):
        triton.Triton.from_json('{"name": 1}')
    # a run file of an older migfleet (no GPU index, profile, metrics port or models) still reads
    old = {"name": "triton-gpu1-s4-c1", "gpu_uuid": "GPU-b", "gi_start": 4, "ci_start": 1, "http_port": 1,
           "grpc_port": 2, "args": ["-d", "--label", "k=v"], "config": "abc"}
    back = triton.Triton.from_json(json.dumps(old))
    assert (back.place.gpu_index, back.ports.metrics, back.models) == (1, 3, ())
