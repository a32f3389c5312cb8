"""The host's Envoy files: a bootstrap reading listeners and clusters from files, clusters whose
endpoints come from EDS files, and the whole set checked by the real Envoy binary."""
from __future__ import annotations

import json

import pytest

from migfleet.inventory import SCHEMA_DIR, validate_inventory
from migfleet.serving import endpoints, envoy, triton
from migfleet.serving.containers import LABEL_CONFIG, label_value

from .conftest import a100, host_gpus
from .envoy_bin import validate

NETS = ["10.250.0.0/24"]


def _specs(settings):
    gpus = host_gpus(a100(0, [(7 + n, "1g.5gb", n) for n in range(7)]),
                     a100(1, [(1, "3g.20gb", 4), (2, "3g.20gb", 0)]))
    return triton.live_specs(gpus, settings)


def _resources(text):
    return {r["name"]: r for r in json.loads(text)["resources"]}


def test_bootstrap_reads_listeners_and_clusters_from_watched_files(settings):
    files = envoy.files(_specs(settings), settings, "lab-h1", NETS)
    boot = json.loads(files[envoy.BOOTSTRAP])
    assert boot["admin"]["address"]["socket_address"] == {"address": "127.0.0.1", "port_value": 9901}
    for key, name in (("lds_config", endpoints.LDS), ("cds_config", envoy.CDS)):
        source = boot["dynamic_resources"][key]["path_config_source"]
        assert source == {"path": f"/etc/envoy/{name}", "watched_directory": {"path": "/etc/envoy"}}
    assert "static_resources" not in boot


def test_listeners_and_eds_clusters(settings):
    files = envoy.files(_specs(settings), settings, "lab-h1", NETS)
    listeners = _resources(files[endpoints.LDS_TEMPLATE])
    assert set(listeners) == {"triton_http", "triton_grpc", "migfleet_metrics"}
    http = listeners["triton_http"]["filter_chains"][0]["filters"][0]["typed_config"]
    health = http["http_filters"][0]["typed_config"]
    assert health["headers"][0]["string_match"] == {"exact": "/migfleet/healthz"} and not health["pass_through_mode"]
    assert health["cluster_min_healthy_percentages"] == {"triton_http": {"value": 50.0}, "triton_grpc": {"value": 50.0}}
    grpc = listeners["triton_grpc"]["filter_chains"][0]["filters"][0]["typed_config"]
    assert grpc["codec_type"] == "HTTP2"
    route = grpc["route_config"]["virtual_hosts"][0]["routes"][-1]["route"]
    assert set(route["retry_policy"]["retry_on"].split(",")) == {"connect-failure", "reset", "refused-stream"}
    clusters = _resources(files[envoy.CDS])
    for name in ("triton_http", "triton_grpc"):
        assert clusters[name]["type"] == "EDS"
        assert clusters[name]["eds_cluster_config"]["eds_config"]["path_config_source"]["path"] == \
            f"/etc/envoy/eds-{name}.json"
        assert clusters[name]["health_checks"][0]["http_health_check"]["path"] == "/v2/health/ready"
    # the MIG UUID and GI id of each place are left for the host (they change at every re-creation)
    assert "@MIG_UUID:" in files[endpoints.LDS_TEMPLATE] and "@GI:" in files[endpoints.LDS_TEMPLATE]


def test_eds_documents_one_endpoint_per_triton(settings):
    specs = _specs(settings)
    docs = endpoints.eds_docs(specs)
    http = json.loads(docs["eds-triton_http.json"])["resources"][0]
    grpc = json.loads(docs["eds-triton_grpc.json"])["resources"][0]
    ports = sorted(e["endpoint"]["address"]["socket_address"]["port_value"] for e in http["endpoints"][0]["lb_endpoints"])
    assert ports == sorted(s.ports.http for s in specs)
    for e in grpc["endpoints"][0]["lb_endpoints"]:
        spec = next(s for s in specs if s.name == e["endpoint"]["hostname"])
        assert e["endpoint"]["health_check_config"] == {"port_value": spec.ports.http}
        assert e["endpoint"]["address"]["socket_address"]["port_value"] == spec.ports.grpc


@pytest.mark.parametrize("lb", ["ROUND_ROBIN", "LEAST_REQUEST"])
def test_the_whole_set_validates_with_real_envoy(settings, tmp_path, lb):
    files = envoy.files(_specs(settings), dict(settings, envoy_lb_policy=lb), "lab-h1", NETS)
    path = tmp_path / "validate.json"
    path.write_text(envoy.validation_bootstrap(files))
    result = validate(path)
    assert result.returncode == 0 and "OK" in result.stdout, result.stdout + result.stderr


def test_a_broken_set_is_refused_by_real_envoy(settings, tmp_path):
    files = envoy.files(_specs(settings), settings, "lab-h1", NETS)
    broken = dict(files, **{envoy.CDS: files[envoy.CDS].replace('"ROUND_ROBIN"', '"NO_SUCH_POLICY"')})
    path = tmp_path / "validate.json"
    path.write_text(envoy.validation_bootstrap(broken))
    assert validate(path).returncode != 0


def test_ports_must_differ_and_a_new_bootstrap_restarts_envoy(settings):
    with pytest.raises(ValueError, match="must differ"):
        envoy.files([], dict(settings, envoy_grpc_port=settings["envoy_http_port"]), "h", NETS)
    a = envoy.container_args(settings, "bootstrap one")
    b = envoy.container_args(settings, "bootstrap two")
    assert label_value(a, LABEL_CONFIG) != label_value(b, LABEL_CONFIG)
    assert "/etc/migfleet/envoy:/etc/envoy:ro" in a and "--disable-hot-restart" in a
    assert envoy.validate_command(settings, "/etc/migfleet/envoy/.staging").endswith("-c /etc/envoy/validate.json")


def test_listener_ids_are_filled_on_the_host():
    text = '{"a": "@MIG_UUID:GPU-1/0/0@", "b": "@GI:GPU-1/0/0@", "c": "@MIG_UUID:GPU-1/4/0@"}'
    assert endpoints.lds_doc(text, {"GPU-1/0/0": triton.Device("MIG-x", 7)}) == '{"a": "MIG-x", "b": "7", "c": "none"}'


@pytest.mark.parametrize("percent", [0, 75, 100])
def test_the_health_endpoint_wants_a_share_of_healthy_tritons(settings, percent):
    files = envoy.files(_specs(settings), dict(settings, envoy_min_healthy_percent=percent), "lab-h1", NETS)
    http = _resources(files[endpoints.LDS_TEMPLATE])["triton_http"]["filter_chains"][0]["filters"][0]["typed_config"]
    health = http["http_filters"][0]["typed_config"]
    assert health["cluster_min_healthy_percentages"] == {c: {"value": float(percent)}
                                                         for c in ("triton_http", "triton_grpc")}
    assert [f["name"] for f in http["http_filters"]] == ["envoy.filters.http.health_check", "envoy.filters.http.router"]


@pytest.mark.parametrize("seconds, text", [
    (60, "60s"), (2.0, "2s"), (0, "0s"), (1e6, "1000000s"), (1e-5, "0.00001s"), (0.001, "0.001s"),
    (1 / 3, "0.333333333s"), (1.5e-9, "0.000000002s"), (123456.000000001, "123456.000000001s"),
    (envoy.MAX_DURATION_S, "9223372035s"),
])
def test_durations_are_decimal_seconds_without_an_exponent(text, seconds):
    assert envoy.duration(seconds) == text


@pytest.mark.parametrize("seconds", [-1, float("nan"), float("inf"), envoy.MAX_DURATION_S + 1, True, "1"])
def test_a_duration_envoy_cannot_hold_is_refused(seconds):
    with pytest.raises(ValueError, match="is not within 0..9223372035 s"):
        envoy.duration(seconds)


def _numeric_envoy_settings() -> dict[str, dict]:
    """Every number the Envoy files are rendered from, with its schema (ports apart: they must differ)."""
    properties = json.loads((SCHEMA_DIR / "serving.v1.json").read_text())["properties"]
    return {k: v for k, v in properties.items() if v.get("type") in ("integer", "number")
            and k.startswith("envoy_") and not k.endswith("_port") and k != "envoy_drain_seconds"}


def test_every_numeric_envoy_setting_has_a_bound_on_both_sides():
    found = _numeric_envoy_settings()
    assert set(found) == {"envoy_health_interval_s", "envoy_health_timeout_s", "envoy_unhealthy_threshold",
                          "envoy_healthy_threshold", "envoy_route_timeout_s", "envoy_retries",
                          "envoy_min_healthy_percent"}
    assert all("minimum" in s and "maximum" in s for s in found.values()), found


@pytest.mark.parametrize("end", ["minimum", "maximum"])
def test_the_extremes_every_setting_allows_render_a_config_envoy_accepts(settings, tmp_path, end):
    """Each numeric Envoy setting at the end of its allowed range, the ports at theirs, all at once; and
    the rendered config checked whole by Envoy itself (--mode validate)."""
    extremes = {k: s[end] for k, s in _numeric_envoy_settings().items()}
    ports = [1, 2, 3, 4] if end == "minimum" else [65535, 65534, 65533, 65532]
    extremes.update(zip(("envoy_http_port", "envoy_grpc_port", "envoy_admin_port", "metrics_port"), ports))
    chosen = dict(settings, **extremes)
    assert validate_inventory({"h1": {k: chosen[k] for k in extremes}}) == []
    files = envoy.files(_specs(chosen), chosen, "lab-h1", NETS)
    path = tmp_path / "validate.json"
    path.write_text(envoy.validation_bootstrap(files))
    result = validate(path)
    assert result.returncode == 0 and "OK" in result.stdout, result.stdout + result.stderr
    assert "e+" not in files[envoy.CDS] + files[endpoints.LDS_TEMPLATE]


@pytest.mark.parametrize("key", ["envoy_health_interval_s", "envoy_route_timeout_s"])
@pytest.mark.parametrize("seconds", [1e6, 12345678.5])       # were "1e+06s" and "1.23457e+07s"
def test_large_durations_render_whole_and_pass_envoy(settings, tmp_path, key, seconds):
    files = envoy.files(_specs(settings), dict(settings, **{key: seconds}), "lab-h1", NETS)
    path = tmp_path / "validate.json"
    path.write_text(envoy.validation_bootstrap(files))
    result = validate(path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f'"{envoy.duration(seconds)}"' in files[envoy.CDS] + files[endpoints.LDS_TEMPLATE]
    assert envoy.duration(seconds) in ("1000000s", "12345678.5s")
