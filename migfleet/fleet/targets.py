"""Prometheus file_sd targets for a fleet: one target per host, its Envoy's metrics endpoint.

    render_targets(load_inventory_data("inventories/production.py"))  ->  JSON text for file_sd_configs

Each host is its own target group, labelled `host` (the inventory name, the same value the
endpoint puts on every series, so the scrape job sets honor_labels: true) and, when the host
data names its groups under "groups", `groups` as ",a,b," (Prometheus' convention for a list in
one label, as in __meta_consul_tags: match one with =~".*,a100_40,.*").

`@local` is the machine the command runs on (as for pyinfra): its target is this machine's name
(migfleet.fleet.local.machine_name), unless its data sets `ssh_hostname`.
"""
from __future__ import annotations

import ipaddress
import json
from typing import Mapping

from migfleet.fleet import local
from migfleet.serving import settings as serving_settings


class TargetsError(ValueError):
    """A host whose target cannot be written; the message names it."""


def _address(name: str, data: Mapping) -> str:
    # The address the deploy reaches the host at is the one its Envoy listens on.
    address = str(data.get("ssh_hostname") or (local.machine_name() if local.is_local(name) else name)).strip()
    if local.is_local(name) and address in local.LOCALHOST_NAMES:
        raise TargetsError(f"{name}: this machine calls itself {address!r}, which a Prometheus elsewhere cannot "
                           "reach; set ssh_hostname in its data to the name or address to scrape")
    if not address or any(c.isspace() or c in "/@" for c in address):
        raise TargetsError(f"{name}: address {address!r} cannot be a scrape target")
    try:
        if ipaddress.ip_address(address).version == 6:
            return f"[{address}]"
    except ValueError:
        pass
    return address


def _port(name: str, data: Mapping) -> int:
    port = data.get("metrics_port", serving_settings.defaults()["metrics_port"])
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise TargetsError(f"{name}: metrics_port {port!r} is not a TCP port")
    return port


def target_groups(hosts: Mapping[str, Mapping]) -> list[dict]:
    """One file_sd target group per host, sorted by host name."""
    groups, seen = [], {}
    for name in sorted(hosts):
        data = hosts[name]
        target = f"{_address(name, data)}:{_port(name, data)}"
        if target in seen:
            raise TargetsError(f"{name}: target {target} is also {seen[target]}'s")
        seen[target] = name
        labels = {"host": name}
        member_of = data.get("groups")
        if member_of:
            labels["groups"] = "," + ",".join(sorted(str(g) for g in member_of)) + ","
        groups.append({"targets": [target], "labels": labels})
    return groups


def render_targets(hosts: Mapping[str, Mapping]) -> str:
    """file_sd JSON text for {host name: merged host data}; every host is checked before any text."""
    return json.dumps(target_groups(hosts), indent=2) + "\n"
