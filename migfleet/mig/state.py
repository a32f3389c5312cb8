"""Current MIG state of a host's GPUs, as read from the driver (nvidia-smi or NVML).

Pure data: parsers build it, the planner compares it with the desired layout.
GPUs are keyed by UUID everywhere; indexes are only for commands and messages.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GpuInstance:
    gi_id: int
    profile_id: int
    name: str               # "1g.5gb"
    start: int
    size: int


@dataclass(frozen=True)
class ComputeInstance:
    gi_id: int
    ci_id: int
    profile_id: int
    name: str               # "1g.5gb" for the default CI, "1c.3g.20gb" for a smaller one
    start: int
    size: int


@dataclass(frozen=True)
class MigDevice:
    uuid: str               # "MIG-..." (what containers are bound by)
    gi_id: int
    ci_id: int
    name: str               # "1g.5gb"


@dataclass(frozen=True)
class GpuProcess:
    pid: int
    name: str
    gi_id: int | None       # None when MIG is disabled
    ci_id: int | None
    used_memory_mib: int | None = None


@dataclass(frozen=True)
class GpuState:
    index: int
    uuid: str
    name: str
    pci_bus_id: str
    mig_current: bool
    mig_pending: bool
    memory_mib: int | None = None
    driver_version: str | None = None
    gpu_instances: tuple[GpuInstance, ...] = ()
    compute_instances: tuple[ComputeInstance, ...] = ()
    mig_devices: tuple[MigDevice, ...] = ()
    processes: tuple[GpuProcess, ...] = ()

    @property
    def mode_pending_change(self) -> bool:
        return self.mig_current != self.mig_pending

