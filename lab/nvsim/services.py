"""Simulated GPU services for lab hosts: systemd units whose daemon holds every GPU open.

On real hosts nvidia-persistenced, DCGM's nv-hostengine, dcgm-exporter, nvsm and fabric manager
keep the driver's device files open, so `nvidia-smi --gpu-reset` and MIG mode changes that need
the GPU idle fail with "In use by another client" until the service is stopped (mig-parted's
hooks.sh stops nvsm.service and nvidia-dcgm.service, then dcgm-exporter.service, for this reason).
Here each unit runs `nvsim-ctl hold`, which records itself as a GPU client in the driver state
until it exits; `systemctl is-active UNIT` tells whether it holds the GPUs.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
from pathlib import Path

from lab.nvsim import smi, state as st

# service -> (systemd unit, daemon program in /usr/bin), as NVIDIA's packages name them.
SERVICES = {
    "nvidia-persistenced": ("nvidia-persistenced.service", "nvidia-persistenced"),
    "nv-hostengine": ("nvidia-dcgm.service", "nv-hostengine"),
    "dcgm-exporter": ("dcgm-exporter.service", "dcgm-exporter"),
    "nvsm": ("nvsm.service", "nvsm-core"),
    "fabricmanager": ("nvidia-fabricmanager.service", "nv-fabricmanager"),
}
DAEMON = """#!/usr/bin/python3
import sys
sys.path.insert(0, "/usr/lib/nvsim")
from lab.nvsim.ctl import main
sys.exit(main(["hold", "--name", {name!r}]))
"""
UNIT = """[Unit]
Description={name} (simulated by the lab: holds every GPU open while active)
After=nvsim-boot.service

[Service]
Type=notify
ExecStart=/usr/bin/{daemon}

[Install]
WantedBy=multi-user.target
"""


class ServiceError(Exception):
    pass


def _systemctl(*args: str) -> None:
    proc = subprocess.run(["systemctl", *args], capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise ServiceError(f"systemctl {' '.join(args)}: {proc.stderr.strip()}")


def install(names: list[str], enable: bool, start: bool) -> list[str]:
    """Write each service's daemon and unit under $NVSIM_ROOT; on a live host (root /), reload
    systemd and enable/start them. Returns the unit names."""
    root = st.root()
    units = []
    for name in names:
        if name not in SERVICES:
            raise ServiceError(f"unknown service {name!r}; known: {', '.join(SERVICES)}")
        unit, daemon = SERVICES[name]
        program = root / "usr/bin" / daemon
        program.parent.mkdir(parents=True, exist_ok=True)
        program.write_text(DAEMON.format(name=daemon))
        program.chmod(0o755)
        unit_dir = root / "etc/systemd/system"
        unit_dir.mkdir(parents=True, exist_ok=True)
        (unit_dir / unit).write_text(UNIT.format(name=name, daemon=daemon))
        units.append(unit)
    if root == Path("/"):
        _systemctl("daemon-reload")
        if enable:
            _systemctl("enable", *units)
        if start:
            _systemctl("start", *units)
    return units


def _notify_ready() -> None:
    # Type=notify: systemctl start returns once the daemon is a recorded GPU client, so a reset
    # right after `systemctl start` is refused as it would be on a real host.
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address.startswith("@"):
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.sendto(b"READY=1", address)


def hold(name: str) -> int:
    """Record this process as a client of every GPU, then wait for SIGTERM (systemctl stop)."""
    with smi.locked() as state:
        state.setdefault("clients", []).append(
            {"pid": os.getpid(), "name": name, "start_time": st.process_identity(os.getpid())})
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    _notify_ready()
    while True:
        signal.pause()
