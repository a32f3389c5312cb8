"""Checks across fields and hosts: ports derived from the settings, rollout agreement.

These find what the schema cannot see one key at a time, and what would otherwise surface
only at deploy time, after MIG had already been changed (a Triton port past 65535), or in
`migfleet rollout` (hosts disagreeing on the batch settings).
"""
from __future__ import annotations

from collections.abc import Mapping

from migfleet.inventory import rollout_settings
from migfleet.inventory.errors import InventoryError
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
