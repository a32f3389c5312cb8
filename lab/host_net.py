"""Bridge, per-host network namespaces and veth pairs (machine network namespace side)."""
from __future__ import annotations

import os

from . import BRIDGE, BRIDGE_IP, PREFIX, PREFIX_LEN, bridge_port, host_address, host_mac, host_netns
from .host_run import quiet, run


def link_exists(name: str) -> bool:
    return os.path.exists(f"/sys/class/net/{name}")


def netns_exists(name: str) -> bool:
    return os.path.exists(f"/run/netns/{name}")


def ensure_bridge() -> None:
    if not link_exists(BRIDGE):
        run(["ip", "link", "add", BRIDGE, "type", "bridge", "stp_state", "0", "forward_delay", "0"])
    addrs = run(["ip", "-o", "-4", "addr", "show", "dev", BRIDGE]).stdout
    if f"{BRIDGE_IP}/{PREFIX_LEN}" not in addrs:
        run(["ip", "addr", "add", f"{BRIDGE_IP}/{PREFIX_LEN}", "dev", BRIDGE])
    run(["ip", "link", "set", BRIDGE, "up"])


def create_host_net(n: int) -> None:
    """A fresh namespace per boot, like a real host's network state after a reboot."""
    delete_host_net(n)
    ns, port = host_netns(n), bridge_port(n)
    run(["ip", "netns", "add", ns])
    run(["ip", "link", "add", port, "type", "veth", "peer", "name", "eth0",
         "address", host_mac(n), "netns", ns])
    run(["ip", "link", "set", port, "master", BRIDGE, "up"])
    run(["ip", "-n", ns, "addr", "add", f"{host_address(n)}/{PREFIX_LEN}", "dev", "eth0"])
    run(["ip", "-n", ns, "link", "set", "eth0", "up"])
    run(["ip", "-n", ns, "link", "set", "lo", "up"])
    # A stale ARP entry for a reused address delays the first connection by ~25 s.
    quiet(["ip", "neigh", "flush", "to", host_address(n), "dev", BRIDGE])


def netns_pids(ns: str) -> list[int]:
    out = run(["ip", "netns", "pids", ns], check=False).stdout
    return [int(p) for p in out.split()]


def delete_host_net(n: int) -> None:
    ns = host_netns(n)
    if netns_exists(ns):
        quiet(["ip", "netns", "del", ns])
    if link_exists(bridge_port(n)):
        quiet(["ip", "link", "del", bridge_port(n)])


def lab_netns() -> list[str]:
    if not os.path.isdir("/run/netns"):
        return []
    return sorted(name for name in os.listdir("/run/netns") if name.startswith(PREFIX))


def lab_links() -> list[str]:
    return sorted(name for name in os.listdir("/sys/class/net") if name.startswith(PREFIX))


def delete_all() -> None:
    """Remove every namespace and link named with the lab prefix, recorded or not."""
    for ns in lab_netns():
        quiet(["ip", "netns", "del", ns])
    for link in lab_links():
        if link != BRIDGE:
            quiet(["ip", "link", "del", link])
    if link_exists(BRIDGE):
        quiet(["ip", "neigh", "flush", "dev", BRIDGE])
        quiet(["ip", "link", "del", BRIDGE])
