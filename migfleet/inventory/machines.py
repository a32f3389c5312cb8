"""One machine per host: host names that are names, and no machine or GPU under two hosts.

Two inventory entries that reach one machine (the same address and SSH port), or declare one GPU
(UUIDs compare without case, as nvidia-smi's are the same GPU in either case), would have two
deploys fight over one GPU and two scrape targets count one host twice.
"""
from __future__ import annotations

import re
from collections.abc import Mapping

from migfleet.inventory.errors import InventoryError, bare, shown
from migfleet.inventory.values import name_problem

SSH_PORT = 22
# An inventory name that is not itself the address (ssh_hostname is set): a plain label.
ALIAS = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,252}\Z")


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
        uuids = data.get("gpu_uuids") if "gpu_uuids" not in bad else None
        for i, uuid in enumerate(uuids if isinstance(uuids, list) else ()):
            if not isinstance(uuid, str):
                continue
            other = gpus.setdefault(uuid.lower(), name)
            if other != name:
                out.append(InventoryError(name, f"$.gpu_uuids[{i}]", f"{uuid} is a GPU of host {other} too: one GPU "
                                          "is in one machine"))
    return out
