"""One machine per host: host names that are names, and no machine or GPU under two hosts.

Two inventory entries that reach one machine (the same address and SSH port), or declare one GPU
(UUIDs compare without case, as nvidia-smi's are the same GPU in either case), would have two
deploys fight over one GPU and two scrape targets count one host twice. `@local` is the machine
migfleet runs on: a host beside it whose address is this machine (a loopback address, one of this
machine's own addresses, or one of its names) is that machine again. Only on SSH's own port: a
loopback address on another port is often a forwarded port into a VM, another machine.
"""
from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path

from migfleet.inventory.errors import InventoryError, bare, shown
from migfleet.inventory.values import name_problem

SSH_PORT = 22
# An inventory name that is not itself the address (ssh_hostname is set): a plain label.
ALIAS = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,252}\Z")
LOCAL = "@local"
# Names every resolver maps to the loopback address (RFC 6761: localhost and every name under it).
LOOPBACK_NAMES = ("localhost", "localhost.localdomain", "localhost6", "localhost6.localdomain6")


def _proc_addresses() -> set:
    """This machine's own addresses, read from the kernel's tables (Linux; no resolver, no network)."""
    found = set()
    try:
        last = None
        for line in Path("/proc/net/fib_trie").read_text().splitlines():
            if "|--" in line:
                last = line.split("|--", 1)[1].strip()
            elif "host LOCAL" in line and last:
                found.add(ipaddress.ip_address(last))
    except (OSError, ValueError):
        pass
    try:
        for line in Path("/proc/net/if_inet6").read_text().splitlines():
            raw = line.split()[0]
            found.add(ipaddress.IPv6Address(int(raw, 16)))
    except (OSError, ValueError, IndexError):
        pass
    return found


@lru_cache(maxsize=1)
def this_machine() -> tuple[frozenset[str], frozenset]:
    """(names, addresses) that reach the machine migfleet runs on: its host name (and short name),
    the names /etc/hosts gives it, and its own addresses. Files only: validation resolves nothing."""
    hostname = socket.gethostname().lower().rstrip(".")
    names = {hostname, hostname.split(".")[0]} - {""}
    addresses = _proc_addresses()
    try:
        for line in Path("/etc/hosts").read_text(errors="replace").splitlines():
            fields = line.split("#", 1)[0].lower().split()
            if len(fields) > 1 and hostname in fields[1:]:
                names.update(f.rstrip(".") for f in fields[1:])
    except OSError:
        pass
    return frozenset(names), frozenset(addresses)


def is_this_machine(address: str) -> bool:
    """Whether a host address (name or IP literal, as an inventory gives it) is this machine."""
    address = address.strip().rstrip(".").lower()
    try:
        ip = ipaddress.ip_address(address.strip("[]"))
    except ValueError:
        names, _ = this_machine()
        return address in LOOPBACK_NAMES or address.endswith(".localhost") or address in names
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_loopback or ip.is_unspecified or ip in this_machine()[1]


def _name_error(name: str, data: Mapping) -> str | None:
    if name.startswith("@"):
        return None         # a pyinfra connector (@local, @ssh/NAME, ...): pyinfra has checked it
    if isinstance(data.get("ssh_hostname"), str):
        return None if ALIAS.match(name) else f"{shown(name)} is not a plain name (letters, digits, . _ -)"
    why = name_problem(name)
    if why is None or why.startswith("holds"):
        return why
    return f"the host name {why}" if why.startswith("is ") else f"{why}; or set ssh_hostname and keep this as a label"


def _address(name: str, data: Mapping) -> tuple[str, int] | None:
    address = data.get("ssh_hostname") if data.get("ssh_hostname") is not None else name
    port = data.get("ssh_port", SSH_PORT)
    if not isinstance(address, str) or address.startswith("@") or not isinstance(port, int):
        return None
    return address.strip().rstrip(".").lower(), port


def machine_errors(hosts: Mapping[str, Mapping], skip: Mapping[str, set[str]]) -> list[InventoryError]:
    """Names that are not host names; a machine or a GPU under two hosts (told on the later host)."""
    out = []
    addresses: dict[tuple[str, int], str] = {}
    gpus: dict[str, str] = {}
    for name, data in hosts.items():
        bad = skip.get(name, set())
        if (why := _name_error(name, data)) is not None:
            out.append(InventoryError(name, "$", why))
        if "ssh_hostname" not in bad and "ssh_port" not in bad and (addr := _address(name, data)):
            if addr in addresses:
                where = "$.ssh_hostname" if "ssh_hostname" in data else "$"
                out.append(InventoryError(name, where, f"reaches {bare(addr[0])} port {addr[1]}, as host "
                                          f"{addresses[addr]} does: one machine, listed twice"))
            addresses.setdefault(addr, name)
            if LOCAL in hosts and addr[1] == SSH_PORT and is_this_machine(addr[0]):
                where = "$.ssh_hostname" if "ssh_hostname" in data else "$"
                out.append(InventoryError(name, where, f"reaches {bare(addr[0])}, this machine, which the inventory "
                                          f"also lists as {LOCAL}: one machine under two names"))
        uuids = data.get("gpu_uuids") if "gpu_uuids" not in bad else None
        for i, uuid in enumerate(uuids if isinstance(uuids, list) else ()):
            if not isinstance(uuid, str):
                continue
            other = gpus.setdefault(uuid.lower(), name)
            if other != name:
                out.append(InventoryError(name, f"$.gpu_uuids[{i}]", f"{uuid} is a GPU of host {other} too: one GPU "
                                          "is in one machine"))
    return out
