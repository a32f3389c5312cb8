"""Checks of single values that a JSON Schema cannot word: addresses, networks, key files, units.

Each is checked the way the deploy uses it: the metrics allow list through the same parser that
builds Envoy's RBAC filter (migfleet.serving.metrics.parse_networks), the listen address as Envoy
reads a socket address (an IP address, no port, no name). Run only on keys that passed the schema.
"""
from __future__ import annotations

import difflib
import ipaddress
import re
from collections.abc import Mapping

from migfleet.inventory.errors import HIDDEN, SECRET_TEXT, InventoryError, shown
from migfleet.serving import metrics

# Keys whose value is the path of a file on the machine running migfleet.
PATH_KEYS = ("ssh_key", "ssh_known_hosts_file", "ssh_config_file")
# The text of a key rather than its path: a PEM header, several lines, or a long run of base64.
KEY_MATERIAL = re.compile(r"-----BEGIN|\n|[A-Za-z0-9+/=]{64}")
HOST_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\Z")
OPEN_NETWORKS = {ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0")}


def name_problem(name: str) -> str | None:
    """Why `name` is not a host name (RFC 1123 labels, at most 253 characters) or an IP address."""
    if not isinstance(name, str) or not name:
        return "is empty"
    try:
        ipaddress.ip_address(name)
        return None
    except ValueError:
        pass
    if name.count(":") == 1 and name.rpartition(":")[2].isdigit():
        return f"holds a port ({shown(name)}): give the port as ssh_port"
    if re.fullmatch(r"[0-9]+", name.rstrip(".").rpartition(".")[2]):
        # The resolver reads such a name as an IPv4 address in a short form (10.1.2 is 10.1.0.2), and
        # no top-level domain is all digits (RFC 3696): it is a mistyped address, not a name.
        return (f"{shown(name)} looks like an IPv4 address but is not one (four numbers 0-255 separated by dots, "
                "without leading zeros)")
    if len(name) > 253:
        return f"is {len(name)} characters long; a host name has at most 253"
    bad = [label for label in name.rstrip(".").split(".") if not HOST_LABEL.match(label)]
    if bad:
        return (f"{shown(name)} is not a host name or IP address (letters, digits and -, in labels of at most "
                "63 characters separated by dots)")
    return None


def _key_material(host: str, data: Mapping) -> list[InventoryError]:
    out = []
    for key in PATH_KEYS:
        value = data.get(key)
        if isinstance(value, str) and (KEY_MATERIAL.search(value) or SECRET_TEXT.search(value)):
            out.append(InventoryError(host, f"$.{key}", f"{HIDDEN} looks like key material, not the path of a "
                                      "file: put the key in a file (mode 0600) and give its path"))
    return out


def _address(host: str, data: Mapping) -> list[InventoryError]:
    out = []
    value = data.get("ssh_hostname")
    if isinstance(value, str) and (why := name_problem(value)):
        out.append(InventoryError(host, "$.ssh_hostname", why))
    value = data.get("envoy_listen_address")
    if isinstance(value, str):
        try:
            ipaddress.ip_address(value)
            if "%" in value:
                raise ValueError(value)
        except ValueError:
            out.append(InventoryError(host, "$.envoy_listen_address", f"{shown(value)} is not an IP address: Envoy "
                                      "listens on an address such as 0.0.0.0, :: or 10.0.0.5 (no port, no name, "
                                      "no brackets)"))
    return out


def network_findings(host: str, data: Mapping) -> tuple[list[InventoryError], list[InventoryError]]:
    """(errors, warnings) of metrics_allow_networks, each entry parsed as the deploy parses it."""
    errors, warnings = [], []
    networks = data.get("metrics_allow_networks")
    if not isinstance(networks, list):
        return errors, warnings
    seen: dict = {}
    for i, entry in enumerate(networks):
        where = f"$.metrics_allow_networks[{i}]"
        if not isinstance(entry, str):
            continue
        if "%" in entry or entry != entry.strip():
            # Python reads a zone index (fe80::1%eth0) and strips spaces; Envoy's RBAC CIDR takes neither.
            errors.append(InventoryError(host, where, f"{shown(entry)} is not a network: write a CIDR such as "
                                         "10.0.0.0/8 or fd00::/8, without a zone index or spaces"))
            continue
        try:
            (network,) = metrics.parse_networks([entry])
        except ValueError:
            hint = ("; host bits are set: the network is " + str(ipaddress.ip_interface(entry).network)
                    if _interface(entry) else "")
            errors.append(InventoryError(host, where, f"{shown(entry)} is not a network (a CIDR such as 10.0.0.0/8, "
                                         f"with a prefix length of at most 32 for IPv4, 128 for IPv6){hint}"))
            continue
        if network in OPEN_NETWORKS:
            warnings.append(InventoryError(host, where, f"{network} lets every address scrape the metrics endpoint"))
        if network in seen:
            warnings.append(InventoryError(host, where, f"{network} is also entry {seen[network]}"))
        seen.setdefault(network, i)
    return errors, warnings


def _interface(entry: str) -> bool:
    try:
        ipaddress.ip_interface(entry)
        return True
    except ValueError:
        return False


def _services(host: str, data: Mapping, known) -> list[InventoryError]:
    out = []
    services = data.get("mig_reset_services")
    if not isinstance(services, list):
        return out
    for i, name in enumerate(services):
        if not isinstance(name, str):
            continue
        where = f"$.mig_reset_services[{i}]"
        template, at, _ = name.partition("@")
        if at and not template:
            out.append(InventoryError(host, where, f"{shown(name)} is not a unit name: a template's instance is "
                                      "NAME@INSTANCE.service"))
        elif name.endswith("@.service"):
            out.append(InventoryError(host, where, f"{shown(name)} is a template unit, which cannot be stopped or "
                                      f"started itself: name an instance, such as {template}@NAME.service"))
        elif at:
            continue        # an instance of a template (dcgm-exporter@gpu0.service): the site's own unit
        elif name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.85)
            if close:
                out.append(InventoryError(host, where, f"unknown service {shown(name)} (did you mean {close[0]}?)"))
    return out


def value_errors(host: str, data: Mapping, skip: set[str], known_services) -> tuple[list, list]:
    """(errors, warnings) of one host's values that passed the schema (keys in `skip` did not)."""
    clean = {k: v for k, v in data.items() if k not in skip}
    errors = _key_material(host, clean) + _address(host, clean) + _services(host, clean, known_services)
    found, warnings = network_findings(host, clean)
    return errors + found, warnings
