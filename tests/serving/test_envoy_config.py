import pytest
import yaml

from migfleet.serving import envoy
from migfleet.serving import triton
from migfleet.serving.containers import label_value

from .conftest import a100, host_gpus
from .envoy_bin import validate


def _specs(settings):
    gpus = host_gpus(a100(0, [(7 + n, "1g.5gb", n) for n in range(7)]),
                     a100(1, [(1, "3g.20gb", 4), (2, "3g.20gb", 0)]))
    return triton.live_specs(gpus, settings)


def _endpoints(cluster):
    return [e["endpoint"] for e in cluster["load_assignment"]["endpoints"][0]["lb_endpoints"]]


def test_config_has_both_listeners_and_clusters_for_every_triton(settings):
    specs = _specs(settings)
    config = yaml.safe_load(envoy.config_text(specs, settings))
    assert config["admin"]["address"]["socket_address"] == {"address": "127.0.0.1", "port_value": 9901}
    listeners = {l["name"]: l for l in config["static_resources"]["listeners"]}
    assert listeners["triton_http"]["address"]["socket_address"] == {"address": "0.0.0.0", "port_value": 8000}
    assert listeners["triton_grpc"]["address"]["socket_address"] == {"address": "0.0.0.0", "port_value": 8001}
    grpc_hcm = listeners["triton_grpc"]["filter_chains"][0]["filters"][0]["typed_config"]
    assert grpc_hcm["codec_type"] == "HTTP2"
    route = grpc_hcm["route_config"]["virtual_hosts"][0]["routes"][0]["route"]
    assert route["cluster"] == "triton_grpc"
    assert set(route["retry_policy"]["retry_on"].split(",")) == {"connect-failure", "reset", "refused-stream"}

    clusters = {c["name"]: c for c in config["static_resources"]["clusters"]}
    http_eps, grpc_eps = _endpoints(clusters["triton_http"]), _endpoints(clusters["triton_grpc"])
    assert sorted(e["address"]["socket_address"]["port_value"] for e in http_eps) == \
        sorted(s.ports.http for s in specs)
    for ep in grpc_eps:
        spec = next(s for s in specs if s.name == ep["hostname"])
        assert ep["address"]["socket_address"] == {"address": "127.0.0.1", "port_value": spec.ports.grpc}
        assert ep["health_check_config"] == {"port_value": spec.ports.http}
    for cluster in clusters.values():
        assert cluster["lb_policy"] == "ROUND_ROBIN"
        assert cluster["health_checks"][0]["http_health_check"]["path"] == "/v2/health/ready"
        assert "outlier_detection" in cluster
    opts = clusters["triton_grpc"]["typed_extension_protocol_options"]
    assert opts["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]["explicit_http_config"] == \
        {"http2_protocol_options": {}}
    assert "typed_extension_protocol_options" not in clusters["triton_http"]


def test_generated_config_validates_with_real_envoy(settings, tmp_path):
    for lb in ("ROUND_ROBIN", "LEAST_REQUEST"):
        path = tmp_path / f"{lb}.yaml"
        path.write_text(envoy.config_text(_specs(settings), dict(settings, envoy_lb_policy=lb)))
        result = validate(path)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "OK" in result.stdout


def test_config_without_tritons_still_validates(settings, tmp_path):
    path = tmp_path / "empty.yaml"
    path.write_text(envoy.config_text([], settings))
    assert validate(path).returncode == 0


def test_validation_rejects_a_broken_config(settings, tmp_path):
    config = envoy.build_config(envoy.backends_from(_specs(settings)), settings)
    config["static_resources"]["clusters"][0]["lb_policy"] = "FASTEST_PLEASE"
    path = tmp_path / "broken.yaml"
    path.write_text(envoy.render(config))
    result = validate(path)
    assert result.returncode != 0
    assert "FASTEST_PLEASE" in result.stdout + result.stderr


def test_settings_are_checked(settings):
    with pytest.raises(ValueError, match="envoy_lb_policy"):
        envoy.build_config([], dict(settings, envoy_lb_policy="RANDOMISH"))
    with pytest.raises(ValueError, match="both 8000"):
        envoy.build_config([], dict(settings, envoy_grpc_port=8000))


def test_container_args_and_validate_command(settings):
    args = envoy.container_args(settings)
    assert args[args.index("--network") + 1] == "host"
    assert "/etc/migfleet/envoy:/etc/envoy:ro" in args
    assert args[args.index(settings["envoy_image"]):] == (
        settings["envoy_image"], "-c", "/etc/envoy/envoy.yaml", "--disable-hot-restart")
    # the config label follows the arguments (a new config text restarts the same container)
    other = envoy.container_args(dict(settings, envoy_image="envoy:other"))
    assert label_value(args, "migfleet.config") != label_value(other, "migfleet.config")
    assert envoy.container_args(settings) == args
    cmd = envoy.validate_command(settings, "/etc/migfleet/envoy/envoy.yaml.new")
    assert cmd == ("docker run --rm --network none -v /etc/migfleet/envoy/envoy.yaml.new:/etc/envoy/envoy.yaml:ro "
                   "envoyproxy/envoy:v1.40-latest --mode validate -c /etc/envoy/envoy.yaml")
