"""Every valid placed layout of one GPU model, from the catalog geometry (they are few).

A layout is a set of GPU instances, each at one of its profile's placements, each with one
full-size compute instance (the form advise proposes). The search below only lists candidates;
each one is then checked by the planner's own fit (`mig.fit.fit_wants`), so there is one
geometry: what fit refuses, advise never proposes.
"""
from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from migfleet.mig.fit import LayoutError, Want, fit_wants
from migfleet.mig.geometry import Geometry, Profile, default_ci
from migfleet.mig.placed import ENABLED, GpuLayout, PlacedGi

Slot = tuple[int, int]      # (profile ID, first memory slice)


def slots(geometry: Geometry, profiles: Iterable[str] | None = None) -> list[Slot]:
    """Every (profile, start) an instance may take, biggest profiles first."""
    names = None if profiles is None else set(profiles)
    out = []
    for p in sorted(geometry.profiles, key=lambda p: (-p.slices, p.id)):
        if names is None or p.name in names:
            out += [(p.id, start) for start, _ in p.placements]
    return out


def _span(profile: Profile, start: int) -> frozenset[int]:
    return frozenset(range(start, start + dict(profile.placements)[start]))


def layout_of(geometry: Geometry, chosen: Iterable[Slot]) -> GpuLayout:
    gis = []
    for pid, start in chosen:
        p = geometry.profile(pid)
        gis.append(PlacedGi(start, pid, (default_ci(p),)))
    return GpuLayout(ENABLED, tuple(gis))


def _candidates(geometry: Geometry, all_slots: list[Slot]):
    """Sets of slots with no memory slice twice, within compute slices and instance counts."""
    prof = {p.id: p for p in geometry.profiles}
    spans = [_span(prof[pid], start) for pid, start in all_slots]

    def walk(i: int, taken: frozenset[int], compute: int, counts: dict[int, int], chosen: list[Slot]):
        yield tuple(chosen)
        for j in range(i, len(all_slots)):
            pid, start = all_slots[j]
            p = prof[pid]
            if spans[j] & taken or compute + p.slices > geometry.compute_slices \
                    or counts.get(pid, 0) >= p.instances:
                continue
            counts[pid] = counts.get(pid, 0) + 1
            chosen.append(all_slots[j])
            yield from walk(j + 1, taken | spans[j], compute + p.slices, counts, chosen)
            chosen.pop()
            counts[pid] -= 1

    yield from walk(0, frozenset(), 0, {}, [])


@lru_cache(maxsize=64)
def _enumerate(geometry: Geometry, profiles: tuple[str, ...] | None) -> tuple[GpuLayout, ...]:
    out = []
    for chosen in _candidates(geometry, slots(geometry, profiles)):
        units = [Want(geometry.profile(pid), start, (default_ci(geometry.profile(pid)),)) for pid, start in chosen]
        try:
            placed = fit_wants(geometry, units) if units else GpuLayout(ENABLED, ())
        except LayoutError:
            continue        # the planner would refuse it: never a candidate
        out.append(placed)
    return tuple(out)


def enumerate_layouts(geometry: Geometry, profiles: Iterable[str] | None = None) -> tuple[GpuLayout, ...]:
    """Every valid layout (MIG enabled, the empty one included) of instances of `profiles`
    (names; all of the model's when None), each placed and checked by the planner's fit."""
    key = None if profiles is None else tuple(sorted(set(profiles)))
    return _enumerate(geometry, key)
