"""Which models each GPU instance's Tritons load, from the `mig_layout` instances that asked for it
(standard library only; the host runs it)."""
from __future__ import annotations

from collections.abc import Sequence

from migfleet.mig import desired
from migfleet.mig.geometry import Geometry
from migfleet.mig.placed import GpuLayout


def gi_models(instances: Sequence[desired.DesiredInstance], layout: GpuLayout,
              geometry: Geometry | None) -> dict[int, tuple[str, ...]]:
    """{GPU instance start: its models} of a GPU holding `layout` for these desired instances (those
    listing no models left out: they load every model). Instances with placements get theirs; the
    others take the remaining GPU instances of their profile in start order, in the order listed."""
    if geometry is None:
        return {}
    free: dict[int, list[int]] = {}
    for gi in sorted(layout.gis, key=lambda g: g.start):
        free.setdefault(gi.profile_id, []).append(gi.start)
    resolved = []
    for inst in instances:
        try:
            resolved.append((inst, geometry.profile(inst.profile).id))
        except KeyError:
            continue
    out: dict[int, tuple[str, ...] | None] = {}
    for inst, pid in resolved:
        for start in inst.placements or ():
            if start in free.get(pid, []):
                free[pid].remove(start)
                out[start] = inst.models
    for inst, pid in resolved:
        for _ in range(inst.count if inst.placements is None else 0):
            if free.get(pid):
                out[free[pid].pop(0)] = inst.models
    return {start: m for start, m in out.items() if m}
