"""Prometheus file_sd targets for a fleet: one target per host, its Envoy's metrics endpoint.

    render_targets(load_inventory_data("inventories/production.py"))  ->  JSON text for file_sd_configs

Each host is its own target group, labelled `host` (the inventory name, the same value the
endpoint puts on every series, so the scrape job sets honor_labels: true) and, where the inventory
puts the host in groups (pyinfra's, as the loader reads them), `groups` as ",a,b," (Prometheus'
convention for a list in one label, as in __meta_consul_tags: match one with =~".*,a100_40,.*").

The host part has one form per kind of address: `a.b.c.d`, `[v6]`, or a DNS name in lower case
without its final dot. An address no Prometheus can scrape is refused with the host, the field and
why: a name holding a port, a short IPv4 form (`10.1.2`, which resolvers read as 10.1.0.2), a
loopback address or name. `@local` is the machine the command runs on (as for pyinfra): its target
is this machine's name (migfleet.fleet.local.machine_name) when that name has its domain, unless
its data sets `ssh_hostname`.
"""
from __future__ import annotations

import ipaddress
import json
from typing import Mapping, Sequence

from migfleet.fleet import local
from migfleet.inventory import values
from migfleet.inventory.errors import shown
from migfleet.serving import settings as serving_settings


# A loopback (or unspecified) address or name: to a Prometheus, the machine it runs on, whichever host is meant.
OWN_MACHINE = ("which a Prometheus reads as its own machine; set ssh_hostname in its data to the name or address to "
               "scrape")


class TargetsError(ValueError):
    """A host whose target cannot be written; the message names it, the field and why."""


def _local_address(name: str) -> str:
    # A Prometheus elsewhere reaches this machine by a name with its domain: a loopback name, or a
    # short name that resolves elsewhere only through a search domain (if at all), is not one.
    address = local.machine_name().strip().rstrip(".").lower()
    if address in local.LOCALHOST_NAMES or "." not in address or values.name_problem(address):
        raise TargetsError(f"{name}: $.ssh_hostname: not set, and this machine calls itself {address!r}, which a "
                           "Prometheus elsewhere cannot resolve; set ssh_hostname in its data to the name or address "
                           "to scrape")
    return address


def _address(name: str, data: Mapping, same_machine: bool = False) -> str:
    """The host part of the target, one form per kind: a.b.c.d, [v6], or a DNS name (lower case, no
    final dot). The address the deploy reaches the host at is the one its Envoy listens on.
    `same_machine`: the Prometheus runs where the hosts do (the lab's), so loopback is theirs too."""
    given = data.get("ssh_hostname")
    if given is None and local.is_local(name):
        return _local_address(name)
    field, address = ("$", name) if given is None else ("$.ssh_hostname", given)
    if not isinstance(address, str):
        raise TargetsError(f"{name}: {field}: cannot be a scrape target: {shown(address)} is not a string")
    address = address.strip()
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        ip = None
    if ip is not None:
        if ip.is_unspecified or (ip.is_loopback and not same_machine):
            raise TargetsError(f"{name}: {field}: cannot be a scrape target: {ip}, {OWN_MACHINE}")
        return f"[{ip.compressed}]" if ip.version == 6 else ip.compressed
    why = values.name_problem(address)
    if why:
        raise TargetsError(f"{name}: {field}: cannot be a scrape target: "
                           + (f"the address {why}" if why.startswith(("is ", "holds ")) else why))
    address = address.rstrip(".").lower()
    if address in local.LOCALHOST_NAMES or address.endswith(".localhost"):
        raise TargetsError(f"{name}: {field}: cannot be a scrape target: {address}, {OWN_MACHINE}")
    return address


def _port(name: str, data: Mapping) -> int:
    port = data.get("metrics_port", serving_settings.defaults()["metrics_port"])
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise TargetsError(f"{name}: $.metrics_port: metrics_port {shown(port)} is not a TCP port")
    return port


def target_groups(hosts: Mapping[str, Mapping], host_groups: Mapping[str, Sequence[str]] | None = None,
                  same_machine: bool = False) -> list[dict]:
    """One file_sd target group per host, sorted by host name; `host_groups`: {host: its inventory groups}."""
    groups, seen = [], {}
    for name in sorted(hosts):
        data = hosts[name]
        target = f"{_address(name, data, same_machine)}:{_port(name, data)}"
        if target in seen:
            raise TargetsError(f"{name}: target {target} is also {seen[target]}'s")
        seen[target] = name
        labels = {"host": name}
        member_of = (host_groups or {}).get(name)
        if member_of:
            labels["groups"] = "," + ",".join(sorted(str(g) for g in member_of)) + ","
        groups.append({"targets": [target], "labels": labels})
    return groups


def render_targets(hosts: Mapping[str, Mapping], host_groups: Mapping[str, Sequence[str]] | None = None,
                   same_machine: bool = False) -> str:
    """file_sd JSON text for {host name: merged host data} (and {host: groups}, LoadedInventory.groups);
    every host is checked before any text."""
    return json.dumps(target_groups(hosts, host_groups, same_machine), indent=2) + "\n"
