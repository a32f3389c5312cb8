"""Device lookups and process registration through the simulator's `nvsim-ctl`."""
from __future__ import annotations

import subprocess
from typing import Optional

NO_DRIVER = "nvidia-container-cli: initialization error: nvml error: driver not loaded"


class ToolkitError(Exception):
    """Failure reported to the container engine; the message is printed as is."""


def lookup(device: str) -> Optional[str]:
    """Canonical id of an existing device (nvsim-ctl may print one), or None when nvsim-ctl says unknown."""
    try:
        done = subprocess.run(["nvsim-ctl", "lookup-mig", device], capture_output=True, text=True,
                              timeout=30)
    except FileNotFoundError:
        raise ToolkitError(NO_DRIVER) from None
    if done.returncode == 1:
        return None
    if done.returncode != 0:
        raise ToolkitError(f"nvidia-container-cli: initialization error: nvsim-ctl lookup-mig {device} "
                           f"exited {done.returncode}: {done.stderr.strip()!r}")
    words = done.stdout.split()
    if words and words[0].startswith(("MIG-", "GPU-")):
        return words[0]
    return device


def attach(pid: int, device: str, name: str) -> None:
    cmd = ["nvsim-ctl", "attach", "--pid", str(pid), "--mig", device, "--name", name]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except FileNotFoundError:
        raise ToolkitError(NO_DRIVER) from None
    if done.returncode != 0:
        raise ToolkitError(f"nvidia-container-cli: device error: {device}: "
                           f"{' '.join(cmd)} exited {done.returncode}: {done.stderr.strip()!r}")
