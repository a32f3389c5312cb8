"""One Prometheus endpoint per host, served by its Envoy: http://HOST:metrics_port/metrics.

Every Triton's metrics port and Envoy's admin listen on 127.0.0.1 only. The host's Envoy gets one
more listener on the host address; a Lua filter (metrics.lua) reads each Triton's /metrics and
Envoy's /stats/prometheus over their own static clusters and answers with one exposition in which
every Triton series carries host, gpu, gpu_uuid, gi, profile and mig_uuid, and Envoy's series
carry host. A network RBAC filter in front closes every connection whose source address is not in
the allow list, before any byte of HTTP is read.

The pieces come back as plain dicts (one listener, a list of clusters) so they can sit in a
bootstrap's static_resources or in file-based LDS/CDS resources alike.
"""
from __future__ import annotations

import ipaddress
import json
import socket
import subprocess
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Sequence

from migfleet.serving.endpoints import HTTP_CLUSTER
from migfleet.serving.triton import Triton

METRICS_PATH = "/metrics"
LABEL_NAMES = ("host", "gpu", "gpu_uuid", "gi", "profile", "mig_uuid")
LISTENER_NAME = "migfleet_metrics"
CLUSTER_PREFIX = "migfleet_metrics_"
ADMIN_CLUSTER = CLUSTER_PREFIX + "envoy_admin"
TIMEOUT_MS = 1000
LUA_SOURCE = Path(__file__).with_name("metrics.lua")

_HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
_RBAC = "type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC"
_LUA = "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua"
_ROUTER = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
_LUA_FILTER = "envoy.filters.http.lua"


def labels(host: str, t: Triton) -> dict[str, str]:
    """A Triton's series labels: its host, GPU and MIG device (dcgm-exporter's GPU_I_ID and
    GPU_I_PROFILE as gi and profile)."""
    dev = t.device
    return {"host": host, "gpu": str(t.place.gpu_index), "gpu_uuid": t.place.gpu_uuid,
            "gi": str(dev.gi_id) if dev else "none", "profile": t.place.profile, "mig_uuid": t.mig_uuid}


def _escape(value: str) -> str:
    # Prometheus text format: backslash, double quote and newline are escaped in label values.
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def render_labels(labels: dict[str, str]) -> str:
    return ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())


def cluster_name(t: Triton) -> str:
    return CLUSTER_PREFIX + t.name


def parse_networks(networks: Iterable[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """CIDRs (or single addresses) of the allow list. Host bits set (10.1.2.3/8) are refused: the
    entry would not say what it allows."""
    out = []
    for entry in networks:
        try:
            out.append(ipaddress.ip_network(str(entry).strip(), strict=True))
        except ValueError as err:
            raise ValueError(f"metrics_allow_networks: {entry!r} is not a network: {err}") from None
    return out


# Loopback is always allowed where the deploy runs on the host itself: a scraper there (node-local
# Prometheus or agent) reaches the endpoint from it.
LOOPBACK_NETWORKS = ("127.0.0.0/8", "::1/128")


class NetworkLookupError(ValueError):
    """This machine's addresses or a route could not be read; the message says why."""


def source_network(route: list[dict], links: list[dict]) -> str:
    """The network (CIDR) of the local address a route leaves from, from `ip -j route get ADDRESS`
    and `ip -j addr show dev DEV` output: the default allow list is the deploy machine's network."""
    if not route or "prefsrc" not in route[0]:
        raise NetworkLookupError(f"no source address in the route {route!r}")
    src = ipaddress.ip_address(route[0]["prefsrc"])
    for link in links:
        for info in link.get("addr_info", []):
            if ipaddress.ip_address(info["local"]) == src:
                return str(ipaddress.ip_interface(f"{src}/{info['prefixlen']}").network)
    raise NetworkLookupError(f"source address {src} is on no interface of {[l.get('ifname') for l in links]}")


def parse_links(text: str) -> list[dict]:
    """`ip -j addr` output -> its list of links (each with `ifname` and `addr_info`)."""
    try:
        links = json.loads(text)
    except ValueError:
        links = None
    if not isinstance(links, list) or not all(isinstance(l, dict) for l in links):
        raise NetworkLookupError(f"`ip -j addr` printed something else than a list of links: {text.strip()[:200]!r}")
    return links


def interface_networks(links: list[dict]) -> list[str]:
    """Loopback, then the network (CIDR) of every address of every link, from `ip -j addr` output.

    Link-local addresses (fe80::/64, 169.254.0.0/16) are left out: the same prefix sits on every
    link, so it names no network a scraper could be told apart by.
    """
    out = list(LOOPBACK_NETWORKS)
    for link in links:
        for info in link.get("addr_info") or []:
            if info.get("scope") == "link":
                continue
            try:
                network = str(ipaddress.ip_interface(f"{info['local']}/{info['prefixlen']}").network)
            except (KeyError, TypeError, ValueError):
                raise NetworkLookupError(f"`ip -j addr`: address of {link.get('ifname')!r} is not an address "
                                         f"with a prefix: {info!r}") from None
            if network not in out:
                out.append(network)
    return out


def local_networks() -> list[str]:
    """Loopback plus the networks of this machine's interfaces: the default allow list where the
    deploy runs on the host itself (pyinfra's `@local`)."""
    return interface_networks(_local_links())


def deploy_source_network(address: str) -> str:
    """The network of this machine's address that reaches `address` (a host name or IP).

    The kernel picks the source address for a datagram socket connected to `address` (no packet
    is sent); its prefix comes from one `ip -j addr` of this machine, read once per process.
    """
    try:
        family, _, _, _, sockaddr = socket.getaddrinfo(address, 9, proto=socket.IPPROTO_UDP)[0]
    except (OSError, UnicodeError) as exc:      # socket.gaierror is an OSError
        raise NetworkLookupError(f"{address!r} does not resolve on this machine "
                                 f"({getattr(exc, 'strerror', None) or exc})") from None
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            s.connect(sockaddr)
            src = s.getsockname()[0]
    except OSError as exc:
        raise NetworkLookupError(f"no route from this machine to {address} ({exc.strerror or exc})") from None
    return source_network([{"prefsrc": src}], _local_links())


@lru_cache(maxsize=1)
def _local_links() -> list[dict]:
    try:
        done = subprocess.run(["ip", "-j", "addr"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise NetworkLookupError(f"cannot read this machine's addresses with `ip -j addr` ({exc})") from None
    if done.returncode != 0:
        raise NetworkLookupError(f"`ip -j addr` exited {done.returncode}: {done.stderr.strip()[:200]!r}")
    return parse_links(done.stdout)


def _check(sources: Sequence[Triton]) -> None:
    seen: dict[str, str] = {}
    for s in sources:
        for key, what in ((s.name, "container"), (f"port {s.ports.metrics}", "metrics port"),
                          (s.mig_uuid, "MIG UUID")):
            if key in seen:
                raise ValueError(f"{what} {key} appears twice among the metrics sources "
                                 f"({seen[key]} and {s.name})")
            seen[key] = s.name


def _static_cluster(name: str, port: int) -> dict:
    return {
        "name": name,
        "type": "STATIC",
        "connect_timeout": "0.25s",
        "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": [{"endpoint": {
            "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}}}}]}]},
    }


def metrics_clusters(sources: Sequence[Triton], admin_port: int) -> list[dict]:
    """One static cluster per Triton metrics port and one for Envoy's admin, all on 127.0.0.1."""
    _check(sources)
    return [*(_static_cluster(cluster_name(s), s.ports.metrics) for s in sources),
            _static_cluster(ADMIN_CLUSTER, admin_port)]


def _rbac(networks: Sequence[str]) -> dict:
    principals = [{"direct_remote_ip": {"address_prefix": str(n.network_address), "prefix_len": n.prefixlen}}
                  for n in parse_networks(networks)]
    # ALLOW with no policy allows nobody: an empty allow list refuses every scrape.
    policies = {"allow_networks": {"permissions": [{"any": True}], "principals": principals}} if principals else {}
    return {"name": "envoy.filters.network.rbac", "typed_config": {
        "@type": _RBAC, "stat_prefix": LISTENER_NAME + ".", "rules": {"action": "ALLOW", "policies": policies}}}


def _route_metadata(host: str, sources: Sequence[Triton], timeout_ms: int,
                    serving_cluster: str | None) -> dict:
    items: list[dict[str, Any]] = [
        {"cluster": cluster_name(s), "path": METRICS_PATH, "up": True, "labels": render_labels(labels(host, s)),
         "names": list(LABEL_NAMES), "endpoint": f"127.0.0.1:{s.ports.http}"} for s in sources]
    host_labels = render_labels({"host": host})
    items.append({"cluster": ADMIN_CLUSTER, "path": "/stats/prometheus", "up": False,
                  "labels": host_labels, "names": ["host"]})
    meta: dict[str, Any] = {"sources": items, "timeout_ms": timeout_ms, "host_labels": host_labels}
    if serving_cluster:
        meta["health"] = {"cluster": ADMIN_CLUSTER, "path": "/clusters", "serving": serving_cluster}
    return meta


def metrics_listener(host: str, sources: Sequence[Triton], listen_address: str,
                     allow_networks: Sequence[str], port: int,
                     timeout_ms: int = TIMEOUT_MS, serving_cluster: str | None = HTTP_CLUSTER) -> dict:
    """The listener serving GET /metrics on listen_address:port to allow_networks only.

    timeout_ms bounds each upstream read; the calls run one after the other, so a scrape of a host
    whose Tritons all hang takes up to (Tritons + 2) x timeout_ms: keep Prometheus' scrape_timeout
    above that. serving_cluster names the cluster (in the same Envoy) whose endpoint health is
    reported per instance; None leaves migfleet_instance_healthy out.
    """
    _check(sources)
    meta = _route_metadata(host, sources, timeout_ms, serving_cluster)
    hcm = {
        "@type": _HCM,
        "stat_prefix": LISTENER_NAME,
        "codec_type": "AUTO",
        "route_config": {"name": LISTENER_NAME, "virtual_hosts": [{
            "name": LISTENER_NAME,
            "domains": ["*"],
            "routes": [
                # The Lua filter answers this route; the direct response is seen only if it fails.
                {"match": {"path": METRICS_PATH},
                 "metadata": {"filter_metadata": {_LUA_FILTER: meta}},
                 "direct_response": {"status": 503, "body": {"inline_string": "metrics filter failed\n"}}},
                {"match": {"prefix": "/"},
                 "direct_response": {"status": 404, "body": {"inline_string": f"only {METRICS_PATH}\n"}}},
            ],
        }]},
        "http_filters": [
            {"name": _LUA_FILTER, "typed_config": {
                "@type": _LUA, "default_source_code": {"inline_string": LUA_SOURCE.read_text()}}},
            {"name": "envoy.filters.http.router", "typed_config": {"@type": _ROUTER}},
        ],
    }
    return {
        "name": LISTENER_NAME,
        "address": {"socket_address": {"address": listen_address, "port_value": port}},
        "filter_chains": [{"filters": [
            _rbac(allow_networks),
            {"name": "envoy.filters.network.http_connection_manager", "typed_config": hcm},
        ]}],
    }


def metrics_resources(host: str, sources: Sequence[Triton], admin_port: int, listen_address: str,
                      allow_networks: Sequence[str], port: int, timeout_ms: int = TIMEOUT_MS,
                      serving_cluster: str | None = HTTP_CLUSTER) -> tuple[dict, list[dict]]:
    """(listener, clusters) for one host's metrics endpoint (`port`: the metrics_port setting)."""
    return (metrics_listener(host, sources, listen_address, allow_networks, port, timeout_ms, serving_cluster),
            metrics_clusters(sources, admin_port))
