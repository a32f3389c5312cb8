"""Envoy v3 configuration for one host: HTTP and gRPC listeners in front of its Tritons.

Every Triton is an endpoint of two clusters: `triton_http` (its HTTP port) and `triton_grpc`
(its gRPC port, HTTP/2). Both are actively health-checked on /v2/health/ready over HTTP; the
gRPC endpoints are checked through their paired HTTP port (`health_check_config.port_value`).
"""
from __future__ import annotations

import hashlib
import shlex
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import yaml

from migfleet.serving.containers import LABEL_CONFIG, LABEL_ROLE
from migfleet.serving.triton import READY_PATH, TritonSpec

ROLE = "envoy"
CONTAINER_NAME = "migfleet-envoy"
CONFIG_FILE = "envoy.yaml"
CONTAINER_CONFIG_DIR = "/etc/envoy"
CONTAINER_CONFIG_PATH = f"{CONTAINER_CONFIG_DIR}/{CONFIG_FILE}"
ADMIN_ADDRESS = "127.0.0.1"
RETRY_ON = "connect-failure,reset,refused-stream"
LB_POLICIES = ("ROUND_ROBIN", "LEAST_REQUEST")

_HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
_ROUTER = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
_HTTP_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
_PREVIOUS_HOSTS = "type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate"


@dataclass(frozen=True)
class Backend:
    name: str
    http_port: int
    grpc_port: int
    address: str = "127.0.0.1"


def backends_from(specs: Sequence[TritonSpec]) -> list[Backend]:
    return [Backend(s.name, s.ports.http, s.ports.grpc) for s in sorted(specs, key=lambda s: s.name)]


def _duration(seconds: float) -> str:
    return f"{float(seconds):g}s"


def _listener(name: str, settings: Mapping, port: int, cluster: str, http2: bool) -> dict:
    retry = {
        "retry_on": RETRY_ON,
        "num_retries": settings["envoy_retries"],
        "retry_host_predicate": [{
            "name": "envoy.retry_host_predicates.previous_hosts",
            "typed_config": {"@type": _PREVIOUS_HOSTS},
        }],
        "host_selection_retry_max_attempts": 5,
    }
    hcm: dict[str, Any] = {
        "@type": _HCM,
        "stat_prefix": name,
        "codec_type": "HTTP2" if http2 else "AUTO",
        "route_config": {
            "name": name,
            "virtual_hosts": [{
                "name": name,
                "domains": ["*"],
                "routes": [{
                    "match": {"prefix": "/"},
                    "route": {
                        "cluster": cluster,
                        "timeout": _duration(settings["envoy_route_timeout_s"]),
                        "retry_policy": retry,
                    },
                }],
            }],
        },
        "http_filters": [{"name": "envoy.filters.http.router", "typed_config": {"@type": _ROUTER}}],
    }
    if http2:
        hcm["http2_protocol_options"] = {}
    return {
        "name": name,
        "address": {"socket_address": {"address": settings["envoy_listen_address"], "port_value": port}},
        "filter_chains": [{"filters": [{
            "name": "envoy.filters.network.http_connection_manager",
            "typed_config": hcm,
        }]}],
    }


def _cluster(name: str, settings: Mapping, backends: Sequence[Backend], grpc: bool) -> dict:
    lb_policy = settings["envoy_lb_policy"]
    if lb_policy not in LB_POLICIES:
        raise ValueError(f"envoy_lb_policy {lb_policy!r} is not one of {LB_POLICIES}")
    endpoints = []
    for b in backends:
        endpoint: dict[str, Any] = {
            "address": {"socket_address": {"address": b.address,
                                           "port_value": b.grpc_port if grpc else b.http_port}},
            "hostname": b.name,
        }
        if grpc:
            endpoint["health_check_config"] = {"port_value": b.http_port}
        endpoints.append({"endpoint": endpoint})
    interval = _duration(settings["envoy_health_interval_s"])
    cluster: dict[str, Any] = {
        "name": name,
        "type": "STATIC",
        "connect_timeout": "1s",
        "lb_policy": lb_policy,
        "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": endpoints}]},
        "health_checks": [{
            "timeout": _duration(settings["envoy_health_timeout_s"]),
            "interval": interval,
            # Without this an idle cluster is checked only once a minute.
            "no_traffic_interval": interval,
            "unhealthy_threshold": settings["envoy_unhealthy_threshold"],
            "healthy_threshold": settings["envoy_healthy_threshold"],
            "http_health_check": {"path": READY_PATH},
        }],
        "outlier_detection": {
            "consecutive_5xx": 5,
            "consecutive_gateway_failure": 3,
            "interval": "5s",
            "base_ejection_time": "30s",
            "max_ejection_percent": 50,
        },
    }
    if grpc:
        cluster["typed_extension_protocol_options"] = {_HTTP_OPTIONS: {
            "@type": f"type.googleapis.com/{_HTTP_OPTIONS}",
            "explicit_http_config": {"http2_protocol_options": {}},
        }}
    return cluster


def build_config(backends: Sequence[Backend], settings: Mapping) -> dict:
    if settings["envoy_http_port"] == settings["envoy_grpc_port"]:
        raise ValueError(f"envoy_http_port and envoy_grpc_port are both {settings['envoy_http_port']}")
    return {
        "admin": {"address": {"socket_address": {"address": ADMIN_ADDRESS,
                                                 "port_value": settings["envoy_admin_port"]}}},
        "static_resources": {
            "listeners": [
                _listener("triton_http", settings, settings["envoy_http_port"], "triton_http", http2=False),
                _listener("triton_grpc", settings, settings["envoy_grpc_port"], "triton_grpc", http2=True),
            ],
            "clusters": [
                _cluster("triton_http", settings, backends, grpc=False),
                _cluster("triton_grpc", settings, backends, grpc=True),
            ],
        },
    }


def render(config: Mapping) -> str:
    return "# Generated by migfleet (tasks/envoy.py); changes here are overwritten.\n" + \
        yaml.safe_dump(dict(config), sort_keys=False, default_flow_style=False)


def config_text(specs: Sequence[TritonSpec], settings: Mapping) -> str:
    return render(build_config(backends_from(specs), settings))


def config_path(settings: Mapping) -> str:
    return f"{settings['envoy_config_dir'].rstrip('/')}/{CONFIG_FILE}"


def validate_command(settings: Mapping, path: str) -> str:
    """Checks a config file with the Envoy of the image that will run it."""
    return shlex.join(["docker", "run", "--rm", "--network", "none",
                       "-v", f"{path}:{CONTAINER_CONFIG_PATH}:ro", settings["envoy_image"],
                       "--mode", "validate", "-c", CONTAINER_CONFIG_PATH])


def container_args(settings: Mapping) -> tuple[str, ...]:
    """`docker run` arguments for the host's Envoy. The config directory is mounted (not the file),
    so a config replaced by rename is what the container reads after a restart."""
    flags = ["-d", "--name", CONTAINER_NAME, "--network", "host", "--restart", "unless-stopped",
             "-v", f"{settings['envoy_config_dir'].rstrip('/')}:{CONTAINER_CONFIG_DIR}:ro",
             "--label", f"{LABEL_ROLE}={ROLE}"]
    command = [settings["envoy_image"], "-c", CONTAINER_CONFIG_PATH, "--disable-hot-restart"]
    digest = hashlib.sha256("\0".join([*flags, *command]).encode()).hexdigest()[:16]
    return (*flags, "--label", f"{LABEL_CONFIG}={digest}", *command)


def run_command(args: Sequence[str]) -> str:
    return shlex.join(["docker", "run", *args])
