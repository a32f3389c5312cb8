"""Checks across fields and hosts: ports derived from the settings, rollout agreement, and Envoy
values that mean something else to Envoy than they seem to.

These find what the schema cannot see one key at a time, and what would otherwise surface
only at deploy time, after MIG had already been changed (a Triton port past 65535), or in
`migfleet rollout` (hosts disagreeing on the batch settings).
"""
from __future__ import annotations

from collections.abc import Mapping

from migfleet.inventory import rollout_settings
from migfleet.inventory.errors import InventoryError, shown
from migfleet.serving.metrics import METRICS_PATH
from migfleet.serving.settings import defaults

# migfleet/serving/triton.py ports_for: base + 1000*gpu + 100*gi_start + 10*ci_start + (0, 1, 2);
# starts go up to 7, so each GPU may use base + 1000*gpu + 0..772.
PER_GPU = 1000
SPAN = 100 * 7 + 10 * 7 + 2
ASSUMED_GPUS = 8        # an HGX board, when the host does not say how many GPUs it has
ENVOY_PORTS = ("envoy_http_port", "envoy_grpc_port", "envoy_admin_port", "metrics_port")
SSH_PORT = 22           # pyinfra's (and sshd's) when ssh_port is not set


def port_errors(host: str, data: Mapping, gpu_count: int | None, skip: set[str]) -> list[InventoryError]:
    """Triton ranges within 1..65535 and clear of Envoy's ports and SSH's; Envoy's ports distinct and not SSH's."""
    keys = ("triton_port_base",) + ENVOY_PORTS + ("ssh_port",)
    if skip & set(keys):
        return []       # a port of the wrong type or range is already reported
    s = {**defaults(), "ssh_port": SSH_PORT, **{k: data[k] for k in keys if k in data}}
    base = s["triton_port_base"]
    n = gpu_count if gpu_count else ASSUMED_GPUS
    assumed = "" if gpu_count else f" ({ASSUMED_GPUS} GPUs assumed: gpu_models is not set)"
    out = []
    top = base + PER_GPU * (n - 1) + SPAN
    if top > 65535:
        out.append(InventoryError(host, "$.triton_port_base", f"Triton ports of GPU {n - 1} would reach {top}, "
                                  f"past 65535{assumed}: base + 1000 per GPU + up to {SPAN}"))
    for key in ENVOY_PORTS + ("ssh_port",):
        port = s[key]
        gpu = (port - base) // PER_GPU
        if 0 <= gpu < n and port - base - PER_GPU * gpu <= SPAN:
            lo = base + PER_GPU * gpu
            path = f"$.{key}" if key in data else "$.triton_port_base"
            out.append(InventoryError(host, path, f"{key} {port} is inside the Triton ports of GPU {gpu} "
                                      f"({lo}-{lo + SPAN}, from triton_port_base {base}){assumed}"))
    for i, key in enumerate(ENVOY_PORTS):
        for other in ENVOY_PORTS[:i]:
            if s[key] == s[other]:
                path = f"$.{key}" if key in data or other not in data else f"$.{other}"
                out.append(InventoryError(host, path, f"{key} {s[key]} is also {other}: each Envoy listener "
                                          "needs a port of its own"))
    for key in ENVOY_PORTS:
        if s[key] == s["ssh_port"]:
            path = f"$.{key}" if key in data or "ssh_port" not in data else "$.ssh_port"
            out.append(InventoryError(host, path, f"{key} {s[key]} is also ssh_port, where the host's SSH server "
                                      "listens"))
    return out


def rollout_errors(hosts: Mapping[str, Mapping], skip: Mapping[str, set[str]], whole: bool = True) -> list[InventoryError]:
    """What `migfleet rollout` refuses (rollout_settings.problems); and, for a whole inventory
    (`whole`), more canary hosts than it has."""
    datas = {h: d for h, d in hosts.items() if not skip.get(h, set()) & set(rollout_settings.KEYS)}
    out = []
    over = [h for h, d in datas.items() if whole and isinstance(c := d.get("rollout_canary"), int) and c > len(hosts)]
    if over:
        # Reported once: every host carries the same setting (or is told it differs).
        out.append(InventoryError(over[0], "$.rollout_canary", f"{datas[over[0]]['rollout_canary']} canary host(s), "
                                  f"but the inventory has {len(hosts)} host(s)"))
    return [InventoryError(p.host, f"$.{p.key}", p.reason) for p in rollout_settings.problems(datas)] + out


# Every path of Triton's HTTP API is under /v2 (KServe v2: inference, health, models, repository).
TRITON_PREFIX = "/v2"
# Envoy's admin routes (v1.40's /help), served on envoy_admin_port; migfleet drains a host with
# /healthcheck/fail and reads /ready, /clusters and /stats/prometheus.
ENVOY_ADMIN = ("/allocprofiler", "/certs", "/clusters", "/config_dump", "/contention", "/cpuprofiler",
               "/drain_listeners", "/healthcheck/fail", "/healthcheck/ok", "/heap_dump", "/heapprofiler", "/help",
               "/hot_restart_version", "/init_dump", "/listeners", "/logging", "/memory", "/peak_heap_dump",
               "/quitquitquit", "/ready", "/reopen_logs", "/reset_counters", "/runtime", "/runtime_modify",
               "/server_info", "/stats")
MILLISECOND = 0.001


def _under(path: str, route: str) -> bool:
    return path == route or path.startswith(route + "/")


def _shadowed(path: str) -> tuple[str, str] | None:
    """(what else this path is, where the health answer would then be read), or None."""
    if _under(path, TRITON_PREFIX):
        return f"is under {TRITON_PREFIX}, Triton's HTTP API", " in Triton's place"
    if path == METRICS_PATH:
        return "is the metrics endpoint's path (on metrics_port)", ", where a scrape would read health"
    for route in ENVOY_ADMIN:
        if _under(path, route):
            return (f"is {'' if path == route else 'under '}Envoy's admin route {route} (on envoy_admin_port)",
                    ", where a call meant for the admin would read health")
    return None


def envoy_value_errors(host: str, data: Mapping, skip: set[str]) -> list[InventoryError]:
    """What Envoy would take otherwise than meant: a health path that is also a route of the Tritons,
    of the metrics endpoint or of Envoy's admin; a route timeout under Envoy's millisecond."""
    out = []
    path = data.get("envoy_health_path")
    if isinstance(path, str) and "envoy_health_path" not in skip:
        what = _shadowed(path.split("?", 1)[0].split("#", 1)[0])
        if what:
            out.append(InventoryError(host, "$.envoy_health_path", f"{shown(path)} {what[0]}: Envoy's health filter "
                                      f"would answer it on envoy_http_port{what[1]}; give the health check a path "
                                      "of its own"))
    timeout = data.get("envoy_route_timeout_s")
    if isinstance(timeout, (int, float)) and "envoy_route_timeout_s" not in skip and 0 < timeout < MILLISECOND:
        out.append(InventoryError(host, "$.envoy_route_timeout_s", f"{timeout} s is under a millisecond: Envoy counts "
                                  "whole milliseconds and would read 0, no timeout at all; 0 disables the timeout, "
                                  f"any other value is at least {MILLISECOND}"))
    return out
