"""The simulated driver's persistent state: GPUs, MIG mode, GPU/compute instances, processes.

One JSON file, `$NVSIM_ROOT/var/lib/nvsim/state.json`, read and written under an fcntl lock
(`locked()`); after every change the caller's views beside it (views.py, through smi.locked)
are written again.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
from pathlib import Path

from lab.atomic import write_atomic
from lab.nvsim import models as catalog

STATE_VERSION = 1
# Modules a loaded driver has without a display stack; nvidia_drm is loaded on demand (nvsim-ctl).
DRIVER_MODULES = ("nvidia", "nvidia_modeset", "nvidia_uvm")
# PCI buses of the GPUs of an 8-GPU HGX board, in index order.
HGX_BUSES = (0x18, 0x2A, 0x3A, 0x5D, 0x9A, 0xAB, 0xBA, 0xDB)


class StateError(Exception):
    """The state file is missing or unreadable (message says which and how to fix it)."""


def root() -> Path:
    return Path(os.environ.get("NVSIM_ROOT", "/"))


def state_dir(base: Path | None = None) -> Path:
    return (base if base is not None else root()) / "var/lib/nvsim"


def state_path(base: Path | None = None) -> Path:
    return state_dir(base) / "state.json"


def view_path(base: Path | None = None) -> Path:
    return state_dir(base) / "nvml.view"


def modules_path(base: Path | None = None) -> Path:
    """The simulated kernel's module list, in /proc/modules format (this kernel has no modules,
    so /proc/modules does not exist in lab hosts; the lab's lsmod and mig-parted read this)."""
    return state_dir(base) / "modules"


def _hex_uuid(prefix: str, seed: str) -> str:
    h = hashlib.sha256(seed.encode()).hexdigest()
    return f"{prefix}-{h[0:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def gpu_uuid(hostname: str, index: int) -> str:
    return _hex_uuid("GPU", f"nvsim:{hostname}:{index}")


def mig_uuid(gpu_uuid_: str, serial: int) -> str:
    return _hex_uuid("MIG", f"nvsim:{gpu_uuid_}:{serial}")


def default_bus_id(index: int) -> str:
    bus = HGX_BUSES[index] if index < len(HGX_BUSES) else 0xE0 + index
    return f"00000000:{bus:02X}:00.0"


def new_state(hostname: str, models: list[str], uuids: list[str] | None = None,
              bus_ids: list[str] | None = None) -> dict:
    gpus = []
    for index, model in enumerate(models):
        if catalog.lookup(model) is None:
            raise StateError(f"unknown GPU model {model!r}; known: {', '.join(catalog.all_models())}")
        gpus.append({
            "index": index,
            "model": model,
            "uuid": uuids[index] if uuids else gpu_uuid(hostname, index),
            "pci_bus_id": bus_ids[index] if bus_ids else default_bus_id(index),
            "mig_current": False,
            "mig_pending": False,
            "reset_policy": "ok",
            "mig_serial": 0,
            "gpu_instances": [],
        })
    return {"version": STATE_VERSION, "hostname": hostname,
            "driver_version": catalog.driver_version(), "gpus": gpus, "processes": [],
            "clients": [], "modules": list(DRIVER_MODULES)}


def _proc_start_time(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 22 (starttime), counted after the ")" closing the command name.
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] == "Z":
        return None
    return fields[19]


def process_name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "unknown"


def process_identity(pid: int) -> str | None:
    """What ties a recorded process to the live one (its start time), or None when it is gone."""
    return _proc_start_time(pid)


def prune_dead_processes(state: dict) -> bool:
    changed = False
    for key in ("processes", "clients"):
        records = state.get(key, [])
        alive = [p for p in records if _proc_start_time(p["pid"]) == p.get("start_time")]
        changed |= len(alive) != len(records)
        state[key] = alive
    return changed


@contextlib.contextmanager
def locked(views, base: Path | None = None, create: dict | None = None):
    """Yield the state under an exclusive lock; write it back if it changed, then `views(state)`.

    `create` replaces whatever is there (used by `nvsim-ctl init` and install).
    """
    directory = state_dir(base)
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / "state.lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if create is not None:
            state = create
            before = None
        else:
            path = state_path(base)
            try:
                before = path.read_text(encoding="utf-8")
            except FileNotFoundError:
                raise StateError(f"no simulated GPUs: {path} does not exist (run nvsim-ctl init)") from None
            try:
                state = json.loads(before)
            except json.JSONDecodeError as exc:
                raise StateError(f"{path} is not valid JSON: {exc}") from None
            prune_dead_processes(state)
        yield state
        text = json.dumps(state, indent=1) + "\n"
        if before is None or text != before:
            write_atomic(state_path(base), text)
            views(state)
