"""Envoy v3 for one host: a bootstrap that reads listeners, clusters and endpoints from files.

Files in `envoy_config_dir` (mounted into the container at CONTAINER_DIR):
- envoy.json: the bootstrap (admin on 127.0.0.1, LDS and CDS from the files below). Only a new
  bootstrap or image restarts Envoy, and then after the host has drained.
- cds.json: clusters `triton_http` and `triton_grpc` (endpoints from EDS files, actively health
  checked on /v2/health/ready, gRPC endpoints through their paired HTTP port), and the metrics
  endpoint's clusters.
- lds.template.json: listeners (HTTP and gRPC with retries, and the metrics endpoint), with each
  Triton's MIG UUID and GPU instance id left open; the host fills them in (lds.json).
- eds-triton_http.json, eds-triton_grpc.json: the Tritons in rotation, written on the host by
  `migfleet.serving.rotation`, which also renders lds.json.
Envoy reloads a file when one is renamed into the directory, without restarting.
"""
from __future__ import annotations

import json
import shlex
from decimal import ROUND_HALF_EVEN, Decimal
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from migfleet.digest import sha256
from migfleet.serving import metrics, model_routes
from migfleet.serving.containers import LABEL_CONFIG, LABEL_ROLE, config_hash
from migfleet.serving.endpoints import (
    GRPC_CLUSTER, HTTP_CLUSTER, LDS, LDS_TEMPLATE, eds_file, gi_slot, lds_doc, mig_uuid_slot, model_cluster, models_of,
)
from migfleet.serving.triton import READY_PATH, Device, Triton, model_ready_path

ROLE = "envoy"
CONTAINER_NAME = "migfleet-envoy"
BOOTSTRAP, CDS = "envoy.json", "cds.json"
CONTAINER_DIR = "/etc/envoy"
ADMIN_ADDRESS = "127.0.0.1"
RETRY_ON = "connect-failure,reset,refused-stream"
LB_POLICIES = ("ROUND_ROBIN", "LEAST_REQUEST")

_HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
_ROUTER = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
_HEALTH = "type.googleapis.com/envoy.extensions.filters.http.health_check.v3.HealthCheck"
_HTTP_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
_PREVIOUS_HOSTS = "type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate"
_LISTENER = "type.googleapis.com/envoy.config.listener.v3.Listener"
_CLUSTER = "type.googleapis.com/envoy.config.cluster.v3.Cluster"


# Envoy takes these durations as nanoseconds in an int64 (validateDurationAsMilliseconds): it
# refuses 9223372036 s and more, well inside google.protobuf.Duration's own 315576000000 s.
MAX_DURATION_S = 9223372035
_NANOSECOND = Decimal("1e-9")


def duration(seconds: float) -> str:
    """Seconds in Envoy's (protobuf JSON) Duration form: decimal, at most 9 fractional digits, never
    an exponent (Envoy refuses `1e+06s`), e.g. 1000000 -> "1000000s", 0.00001 -> "0.00001s"."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 <= seconds <= MAX_DURATION_S:
        raise ValueError(f"a duration of {seconds!r} s is not within 0..{MAX_DURATION_S} s")
    exact = Decimal(seconds) if isinstance(seconds, int) else Decimal(repr(float(seconds)))
    text = format(exact.quantize(_NANOSECOND, rounding=ROUND_HALF_EVEN), "f")
    return text.rstrip("0").rstrip(".") + "s"


def _file_source(name: str) -> dict:
    return {"resource_api_version": "V3",
            "path_config_source": {"path": f"{CONTAINER_DIR}/{name}", "watched_directory": {"path": CONTAINER_DIR}}}


def bootstrap(settings: Mapping, node: str) -> dict:
    return {
        "node": {"id": node, "cluster": "migfleet"},
        "admin": {"address": {"socket_address": {"address": ADMIN_ADDRESS, "port_value": settings["envoy_admin_port"]}}},
        "dynamic_resources": {"lds_config": _file_source(LDS), "cds_config": _file_source(CDS)},
    }


def health_filter(settings: Mapping) -> dict:
    """The host's own health for a fleet-level balancer, answered by Envoy itself: 503 while the
    host drains (admin POST /healthcheck/fail), and while fewer than envoy_min_healthy_percent of
    the endpoints of either Triton cluster pass their health checks (an empty cluster counts as
    none healthy unless the percentage is 0); 200 otherwise. Envoy applies the percentages only
    outside pass-through mode.
    https://www.envoyproxy.io/docs/envoy/latest/api-v3/extensions/filters/http/health_check/v3/health_check.proto
    """
    percent = {"value": float(settings["envoy_min_healthy_percent"])}
    return {"name": "envoy.filters.http.health_check", "typed_config": {
        "@type": _HEALTH, "pass_through_mode": False,
        "headers": [{"name": ":path", "string_match": {"exact": settings["envoy_health_path"]}}],
        "cluster_min_healthy_percentages": {HTTP_CLUSTER: percent, GRPC_CLUSTER: percent}}}


def _action(settings: Mapping) -> Callable[[str], dict]:
    retry = {
        "retry_on": RETRY_ON,
        "num_retries": settings["envoy_retries"],
        "retry_host_predicate": [{"name": "envoy.retry_host_predicates.previous_hosts",
                                  "typed_config": {"@type": _PREVIOUS_HOSTS}}],
        "host_selection_retry_max_attempts": 5,
    }
    timeout = duration(settings["envoy_route_timeout_s"])
    return lambda cluster: {"cluster": cluster, "timeout": timeout, "retry_policy": retry}


def _listener(name: str, settings: Mapping, port: int, models: Sequence[str], http2: bool) -> dict:
    """The HTTP (with the host's health endpoint) or gRPC listener, routing by model name."""
    action = _action(settings)
    filters = [{"name": "envoy.filters.http.router", "typed_config": {"@type": _ROUTER}}]
    filters[:0] = model_routes.grpc_filters() if http2 else [health_filter(settings)]
    routes = model_routes.grpc_routes(models, action) if http2 else model_routes.http_routes(models, action)
    hcm: dict[str, Any] = {
        "@type": _HCM, "stat_prefix": name, "codec_type": "HTTP2" if http2 else "AUTO",
        "route_config": {"name": name, "virtual_hosts": [{"name": name, "domains": ["*"], "routes": routes}]},
        "http_filters": filters,
    }
    if http2:
        hcm["http2_protocol_options"] = {}
    return {"name": name,
            "address": {"socket_address": {"address": settings["envoy_listen_address"], "port_value": port}},
            "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager",
                                            "typed_config": hcm}]}]}


def _cluster(name: str, settings: Mapping, grpc: bool, model: str | None = None) -> dict:
    """A Triton cluster (EDS); a model's is health-checked on that model's readiness."""
    if settings["envoy_lb_policy"] not in LB_POLICIES:
        raise ValueError(f"envoy_lb_policy {settings['envoy_lb_policy']!r} is not one of {LB_POLICIES}")
    interval = duration(settings["envoy_health_interval_s"])
    cluster: dict[str, Any] = {
        "name": name, "type": "EDS", "connect_timeout": "1s", "lb_policy": settings["envoy_lb_policy"],
        "eds_cluster_config": {"eds_config": _file_source(eds_file(name))},
        # An endpoint that leaves EDS leaves the balancer at once, even while it passes its health
        # checks (Envoy's default keeps it until they fail): leaving is how a Triton drains.
        "ignore_health_on_host_removal": True,
        "health_checks": [{
            "timeout": duration(settings["envoy_health_timeout_s"]), "interval": interval,
            "no_traffic_interval": interval,        # else an idle cluster is checked once a minute
            "unhealthy_threshold": settings["envoy_unhealthy_threshold"],
            "healthy_threshold": settings["envoy_healthy_threshold"],
            "http_health_check": {"path": model_ready_path(model) if model else READY_PATH},
        }],
        "outlier_detection": {"consecutive_5xx": 5, "consecutive_gateway_failure": 3, "interval": "5s",
                              "base_ejection_time": "30s", "max_ejection_percent": 50},
    }
    if grpc:
        cluster["typed_extension_protocol_options"] = {_HTTP_OPTIONS: {
            "@type": f"type.googleapis.com/{_HTTP_OPTIONS}", "explicit_http_config": {"http2_protocol_options": {}}}}
    return cluster


def unbound(tritons: Sequence[Triton]) -> list[Triton]:
    """The Tritons with their MIG UUID and GPU instance id left open, for the host to fill in."""
    return [t.bound(Device(mig_uuid_slot(t.place.key), gi_slot(t.place.key))) for t in tritons]


def _discovery(type_url: str, resources: list[dict]) -> str:
    version = sha256(json.dumps(resources, sort_keys=True))[:12]
    return json.dumps({"version_info": version, "resources": [{"@type": type_url, **r} for r in resources]},
                      indent=1) + "\n"


def files(tritons: Sequence[Triton], settings: Mapping, host: str, allow_networks: Sequence[str]) -> dict[str, str]:
    """{file name: text} the deploy writes: bootstrap, clusters and the listeners' template."""
    if len({settings["envoy_http_port"], settings["envoy_grpc_port"], settings["metrics_port"]}) != 3:
        raise ValueError("envoy_http_port, envoy_grpc_port and metrics_port must differ")
    m_listener, m_clusters = metrics.metrics_resources(
        host, unbound(tritons), settings["envoy_admin_port"], settings["envoy_listen_address"], allow_networks,
        port=settings["metrics_port"], serving_cluster=HTTP_CLUSTER)
    models = models_of(tritons)
    listeners = [_listener(HTTP_CLUSTER, settings, settings["envoy_http_port"], models, http2=False),
                 _listener(GRPC_CLUSTER, settings, settings["envoy_grpc_port"], models, http2=True), m_listener]
    clusters = [_cluster(HTTP_CLUSTER, settings, grpc=False), _cluster(GRPC_CLUSTER, settings, grpc=True),
                *(_cluster(model_cluster(c, m), settings, grpc, m) for m in models
                  for c, grpc in ((HTTP_CLUSTER, False), (GRPC_CLUSTER, True))), *m_clusters]
    return {BOOTSTRAP: json.dumps(bootstrap(settings, f"migfleet-{host}"), indent=1) + "\n",
            CDS: _discovery(_CLUSTER, clusters), LDS_TEMPLATE: _discovery(_LISTENER, listeners)}


VALIDATE = "validate.json"


def static_config(texts: Mapping[str, str], eds: Mapping[str, str] | None = None) -> dict:
    """The files as one static bootstrap: listeners with the open ids filled with "none", EDS
    clusters with the endpoints of `eds` (serving.endpoints.eds_docs), or none."""
    boot = json.loads(texts[BOOTSTRAP])
    listeners = [_plain(r) for r in json.loads(lds_doc(texts[LDS_TEMPLATE], {}))["resources"]]
    clusters = []
    for c in (_plain(r) for r in json.loads(texts[CDS])["resources"]):
        if c.get("type") == "EDS":
            c = {k: v for k, v in c.items() if k not in ("eds_cluster_config", "ignore_health_on_host_removal")}
            assignment = {"cluster_name": c["name"], "endpoints": []}
            if eds and eds_file(c["name"]) in eds:
                assignment = _plain(json.loads(eds[eds_file(c["name"])])["resources"][0])
            c.update(type="STATIC", load_assignment=assignment)
        clusters.append(c)
    return {"node": boot["node"], "admin": boot["admin"], "static_resources": {"listeners": listeners, "clusters": clusters}}


def validation_bootstrap(texts: Mapping[str, str]) -> str:
    """The staged files as one static bootstrap that `envoy --mode validate` checks whole (listeners,
    Lua, RBAC, clusters)."""
    return json.dumps(static_config(texts), indent=1) + "\n"


def _plain(resource: dict) -> dict:
    return {k: v for k, v in resource.items() if k != "@type"}


def validate_command(settings: Mapping, staging: str) -> str:
    """Checks the staged files with the Envoy of the image that will run them."""
    return shlex.join(["docker", "run", "--rm", "--network", "none", "-v", f"{staging}:{CONTAINER_DIR}:ro",
                       settings["envoy_image"], "--mode", "validate", "-c", f"{CONTAINER_DIR}/{VALIDATE}"])


def container_args(settings: Mapping, bootstrap_text: str) -> tuple[str, ...]:
    """`docker run` arguments for the host's Envoy: the config directory mounted (files renamed
    into it are seen), hot restart off (no shared memory left behind); a new bootstrap is a new
    config hash, so it restarts Envoy (the other files never do)."""
    flags = ["-d", "--name", CONTAINER_NAME, "--network", "host", "--restart", "unless-stopped",
             "-v", f"{settings['envoy_config_dir'].rstrip('/')}:{CONTAINER_DIR}:ro",
             "--label", f"{LABEL_ROLE}={ROLE}"]
    command = [settings["envoy_image"], "-c", f"{CONTAINER_DIR}/{BOOTSTRAP}", "--disable-hot-restart"]
    digest = config_hash([*flags, *command], "bootstrap=" + sha256(bootstrap_text))
    return (*flags, "--label", f"{LABEL_CONFIG}={digest}", *command)


def run_command(args: Sequence[str]) -> str:
    return shlex.join(["docker", "run", *args])
