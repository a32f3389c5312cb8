"""Device lookups and process registration through the simulator's `nvsim-ctl`."""
from __future__ import annotations

import json
import subprocess
from typing import Optional

NO_DRIVER = "nvidia-container-cli: initialization error: nvml error: driver not loaded"


class ToolkitError(Exception):
    """Failure reported to the container engine; the message is printed as is."""


def _ctl(*args: str) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(["nvsim-ctl", *args], capture_output=True, text=True, timeout=30)
    except FileNotFoundError:
        raise ToolkitError(NO_DRIVER) from None


def _failed(args: tuple, done: subprocess.CompletedProcess) -> ToolkitError:
    return ToolkitError(f"nvidia-container-cli: initialization error: nvsim-ctl {' '.join(args)} "
                        f"exited {done.returncode}: {done.stderr.strip()!r}")


def _lookup_gpu(device: str) -> Optional[str]:
    """Whole GPUs (UUID or index) from the simulator's state."""
    done = _ctl("show")
    if done.returncode != 0:
        raise _failed(("show",), done)
    try:
        gpus = json.loads(done.stdout).get("gpus") or []
    except (json.JSONDecodeError, AttributeError):
        raise ToolkitError(f"nvidia-container-cli: initialization error: nvsim-ctl show printed "
                           f"{done.stdout[:200]!r}") from None
    for gpu in gpus:
        if device == gpu.get("uuid") or (device.isdigit() and int(device) == gpu.get("index")):
            return gpu.get("uuid")
    return None


def lookup(device: str) -> Optional[str]:
    """Canonical UUID of an existing device, or None when the simulator does not know it.

    MIG UUIDs go through `nvsim-ctl lookup-mig` (exit 0 + JSON / 1 unknown); GPU UUIDs and indexes
    through `nvsim-ctl show`. Other forms (e.g. "0:1") are unknown."""
    if not device.startswith("MIG-"):
        return _lookup_gpu(device) if device.startswith("GPU-") or device.isdigit() else None
    done = _ctl("lookup-mig", device)
    if done.returncode == 1:
        return None
    if done.returncode != 0:
        raise _failed(("lookup-mig", device), done)
    try:
        found = json.loads(done.stdout)
    except json.JSONDecodeError:
        return device
    return found.get("uuid", device) if isinstance(found, dict) else device


def attach(pid: int, device: str, name: str) -> None:
    kind = "--mig" if device.startswith("MIG-") else "--gpu"
    cmd = ["nvsim-ctl", "attach", "--pid", str(pid), kind, device, "--name", name]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except FileNotFoundError:
        raise ToolkitError(NO_DRIVER) from None
    if done.returncode != 0:
        raise ToolkitError(f"nvidia-container-cli: device error: {device}: "
                           f"{' '.join(cmd)} exited {done.returncode}: {done.stderr.strip()!r}")
