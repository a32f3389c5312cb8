"""Drift: hosts whose live MIG state differs from the inventory, field by field.

One snapshot round trip per host (in parallel); the comparison is spec_checks.compare_host,
the same one the spec suite's layout test uses.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from migfleet.mig import catalog
from migfleet.fleet import ssh as fleet
from migfleet.fleet import checks as spec_checks
from migfleet.mig.geometry import Geometry
from migfleet.fleet.checks import Mismatch
from migfleet.mig.state import GpuState

Snapshot = dict[str, GpuState]


def read_all(hosts: Sequence[fleet.FleetHost], read: Callable[[fleet.Target], Snapshot] = fleet.read_snapshot,
             workers: int = 16) -> dict[str, Snapshot | Exception]:
    """{host: snapshot, or the error that prevented reading it}, in inventory order."""
    def one(host: fleet.FleetHost):
        try:
            return read(fleet.target_of(host))
        except (fleet.FleetError, OSError) as exc:
            return exc
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(hosts)))) as pool:
        results = list(pool.map(one, hosts))
    return {h.name: r for h, r in zip(hosts, results)}


def geometry_reader(host: fleet.FleetHost) -> Callable[[GpuState], Geometry | None]:
    """Catalog geometry, else read off the GPU on the host (once per model)."""
    cache: dict[str, Geometry | None] = {}

    def geometry_for(gpu: GpuState) -> Geometry | None:
        if gpu.name not in cache:
            known = catalog.lookup(gpu.name)
            if known is None:
                try:
                    known = fleet.read_geometry(fleet.target_of(host), gpu)
                except fleet.FleetError:
                    known = None
            cache[gpu.name] = known
        return cache[gpu.name]
    return geometry_for


def host_drift(host: fleet.FleetHost, live: Snapshot,
               geometry_for: Callable[[GpuState], Geometry | None] | None = None) -> list[Mismatch]:
    return spec_checks.compare_host(host.name, live, host.data.get("mig_layout") or [],
                                    geometry_for or geometry_reader(host))


def table(mismatches: Sequence[Mismatch]) -> str:
    """Aligned columns: host, GPU, UUID, field, expected, found."""
    rows = [("HOST", "GPU", "UUID", "FIELD", "EXPECTED", "FOUND")] + [
        (m.host, "-" if m.gpu_index is None else str(m.gpu_index), m.gpu_uuid or "-", m.field, m.expected, m.found)
        for m in mismatches]
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r[:5], widths)) + "  " + r[5] for r in rows) + "\n"
