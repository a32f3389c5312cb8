"""Local test lab: network-namespaced hosts booting systemd over an overlay of this machine.

Names, addresses and paths are fixed in docs/ARCHITECTURE.md ("Lab"); they live here so every
lab module and test reads the same values.
"""
from __future__ import annotations

import os
from pathlib import Path

# The thin lab (`python -m lab ... --thin`, lab/thin.py: hosts with sshd, systemd and the simulated
# driver only) runs beside the suite lab: its own prefix, bridge, subnet, names and state dir, chosen
# when this package is imported (the CLI sets MIGFLEET_LAB_THIN=1 for --thin).
THIN = os.environ.get("MIGFLEET_LAB_THIN") == "1"
PREFIX = "mfthin" if THIN else "mflab"
BRIDGE = f"{PREFIX}0"
NET = "10.251.0" if THIN else "10.250.0"         # /24: hosts are NET.11 .. NET.210
NAME_PREFIX = "thin-h" if THIN else "lab-h"
BRIDGE_IP = f"{NET}.1"
PREFIX_LEN = 24
REGISTRY = f"{BRIDGE_IP}:5000"
APT_REPO = f"http://{BRIDGE_IP}:8081/"
STATE_DIR = (Path(os.environ.get("MIGFLEET_THIN_DIR", "/var/lib/migfleet-thin")) if THIN
             else Path(os.environ.get("MIGFLEET_LAB_DIR", "/var/lib/migfleet-lab")))

# The public names of migfleet's defaults, answered in the lab the way a site's transparent mirror
# would (lab/public_mirror.py): bridge address -> names, in every host's /etc/hosts.
PUBLIC_APT_IP = "10.250.0.2"        # https: the toolkit's apt repository and its key
PUBLIC_REGISTRY_IP = "10.250.0.3"   # https registry: the lab's images under their public names
PUBLIC_NAMES = {
    PUBLIC_APT_IP: ("nvidia.github.io",),
    # Docker Hub: pulls go to registry-1.docker.io; auth.docker.io (tokens) and index.docker.io
    # (logins) are never asked by an anonymous pull from a registry without auth, but answer here too
    PUBLIC_REGISTRY_IP: ("nvcr.io", "registry-1.docker.io", "index.docker.io", "auth.docker.io"),
}
MAX_HOSTS = 200

# The lab the test suite runs on (bin/test): every model, a two-GPU host (lab-h1 and lab-h4), and
# enough hosts for a canary plus batches.
SUITE_HOSTS = 6
SUITE_GPUS = "A100-40GB:2,A100-80GB,H100"


def host_name(n: int) -> str:
    return f"{NAME_PREFIX}{n}"


def host_netns(n: int) -> str:
    return f"{PREFIX}-h{n}"


def host_address(n: int) -> str:
    return f"{NET}.{10 + n}"


def host_mac(n: int) -> str:
    return f"02:6d:{'74' if THIN else '66'}:00:00:{n:02x}"


def bridge_port(n: int) -> str:
    """Machine-side end of host N's veth pair (attached to the bridge)."""
    return f"{PREFIX}-v{n}"


def host_number(name: str) -> int:
    """Accept lab-h3, h3, 3, mflab-h3 or 10.250.0.13 and return 3."""
    text = name.strip()
    if text.startswith(f"{NET}."):
        n = int(text.rsplit(".", 1)[1]) - 10
    else:
        for prefix in (NAME_PREFIX, f"{PREFIX}-h", "h"):
            if text.startswith(prefix):
                text = text[len(prefix):]
                break
        if not text.isdigit():
            raise ValueError(f"not a lab host name: {name!r} (expected {NAME_PREFIX}N, hN, N or {NET}.(10+N))")
        n = int(text)
    if not 1 <= n <= MAX_HOSTS:
        raise ValueError(f"lab host number out of range 1..{MAX_HOSTS}: {name!r}")
    return n
