"""Fit check and placement choice: desired instances -> a placed layout, or why not in plain words.

Placement rule (MIG user guide, "Partitioning"): a GPU instance occupies the memory slices
[start, start + size) of one of its profile's placements; instances must not overlap, and their
compute slices must not exceed the GPU's. Placements are chosen biggest first, as the guide
advises for the A100 (3g.20gb before smaller profiles).
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from migfleet.mig import catalog
from migfleet.mig.desired import ComputeSpec, DesiredInstance, ServedModel
from migfleet.mig.geometry import CI_PROFILE_ID, CI_SLICES, Geometry, Profile, default_ci
from migfleet.mig.placed import ENABLED, GpuLayout, PlacedGi
from migfleet.mig.state import GpuInstance

class LayoutError(ValueError):
    """A layout that cannot exist on this GPU model; the message says why in plain words."""

    def __init__(self, reason: str, where: str = ""):
        self.reason, self.where = reason, where
        super().__init__(reason)


@dataclass(frozen=True)
class Want:
    """One GPU instance the inventory asks for: its profile, its start when pinned, its CIs, and the
    models its Tritons load (None: every model of the repository; not part of the MIG layout)."""
    profile: Profile
    start: int | None
    cis: tuple[int, ...]
    where: str = ""
    models: tuple[ServedModel, ...] | None = field(default=None, compare=False)

    def size_at(self, start: int) -> int:
        return dict(self.profile.placements)[start]


def compute_reason(geometry: Geometry, gi: Profile, spec: ComputeSpec) -> str | None:
    """Why a compute profile is not offered inside a GPU instance of a catalog model (its own list
    of compute profiles and their counts), or None; a model described in the inventory gets None."""
    if catalog.lookup(geometry.model) is not geometry:
        return None
    ref = spec.profile if isinstance(spec.profile, int) else repr(spec.profile)
    try:
        cp = catalog.compute_profile(geometry.model, gi.id, spec.profile)
    except KeyError:
        offered = ", ".join(f"{p.name} (ID {p.id})" for p in catalog.compute_profiles(geometry.model, gi.id))
        return f"compute profile {ref} does not exist in a {gi.name} GPU instance; its compute profiles are {offered}"
    if spec.count > cp.instances:
        return f"too many {cp.name} compute instances: {spec.count} of {cp.instances} in a {gi.name}"
    return None


def _compute(geometry: Geometry, profile: Profile, spec: ComputeSpec | None, where: str) -> tuple[int, ...]:
    if spec is None:
        return (default_ci(profile),)
    reason = compute_reason(geometry, profile, spec)
    if reason:
        raise LayoutError(reason, f"{where}.compute.profile" if where else "")
    ref = spec.profile
    if isinstance(ref, int) or str(ref).isdigit():
        if int(ref) not in CI_SLICES:
            raise LayoutError(f"compute profile ID {ref} is not a known compute instance profile", where)
        slices = CI_SLICES[int(ref)]
    else:
        name = str(ref).removeprefix("MIG ")
        if name == profile.name:
            slices = profile.slices
        else:
            head, _, rest = name.partition("c.")
            if rest != profile.name or not head.isdigit():
                raise LayoutError(f"compute profile {name} does not belong to GPU instance profile "
                                  f"{profile.name} (expected <N>c.{profile.name})", where)
            slices = int(head)
    if slices not in CI_PROFILE_ID or spec.count < 1 or slices * spec.count > profile.slices:
        raise LayoutError(f"{spec.count} x {slices}c compute instances need {slices * spec.count} compute "
                          f"slices, {profile.name} has {profile.slices}", where)
    return (CI_PROFILE_ID[slices],) * spec.count


def _lookup(geometry: Geometry, ref, where: str) -> Profile:
    try:
        return geometry.profile(ref)
    except KeyError:
        names = ", ".join(f"{p.name} (ID {p.id})" for p in geometry.profiles)
        raise LayoutError(f"profile {ref} does not exist on {geometry.model}; its profiles are {names}",
                          f"{where}.profile" if where else "") from None


def wants(geometry: Geometry, wanted: Sequence[DesiredInstance]) -> list[Want]:
    """The desired instances, one Want per GPU instance; counts checked before they are expanded."""
    found = [(inst, _lookup(geometry, inst.profile, inst.where)) for inst in wanted]
    totals: Counter = Counter()
    for inst, prof in found:
        totals[prof.id] += inst.units
    for pid, n in totals.items():
        prof = geometry.profile(pid)
        if n > prof.instances:
            where = next(inst.where for inst, p in found if p.id == pid)
            raise LayoutError(f"too many {prof.name} instances: {n} of {prof.instances} on {geometry.model}", where)
    resolved = [(inst, prof, _compute(geometry, prof, inst.compute, inst.where)) for inst, prof in found]
    out: list[Want] = []
    for inst, prof, cis in resolved:
        starts = inst.placements if inst.placements is not None else [None] * inst.count
        out += [Want(prof, s, cis, inst.where, inst.models) for s in starts]
    return out


def _check_starts(geometry: Geometry, units: Sequence[Want]) -> None:
    for u in units:
        if u.start is not None and u.start not in dict(u.profile.placements):
            valid = ", ".join(str(p) for p, _ in u.profile.placements)
            raise LayoutError(f"placement {u.start} is not valid for {u.profile.name} on {geometry.model}; "
                              f"valid starts: {valid}", f"{u.where}.placements" if u.where else "")


def _span(w: Want, start: int) -> set[int]:
    return set(range(start, start + w.size_at(start)))


def _order(units: Iterable[Want]) -> list[Want]:
    return sorted(units, key=lambda u: (-u.profile.slices, -max(n for _, n in u.profile.placements), u.profile.id))


def place(units: Sequence[Want], occupied: Iterable[int] = ()) -> list[tuple[Want, int]] | None:
    """Starts for every unit (pinned ones keep theirs) on a GPU whose `occupied` slices are taken,
    or None when no combination exists."""
    taken = set(occupied)
    placed = []
    for u in units:
        if u.start is not None:
            if _span(u, u.start) & taken:
                return None
            taken |= _span(u, u.start)
            placed.append((u, u.start))
    found = _search(_order(u for u in units if u.start is None), frozenset(taken))
    return None if found is None else placed + found


def _search(units: Sequence[Want], occupied: frozenset[int], prev_start: int = -1):
    """Depth-first placement search, biggest first."""
    if not units:
        return []
    unit, rest = units[0], units[1:]
    for start, size in unit.profile.placements:
        if start <= prev_start:
            continue    # identical units follow each other: increasing starts only
        span = set(range(start, start + size))
        if span & occupied:
            continue
        same_next = rest and rest[0].profile.id == unit.profile.id and rest[0].cis == unit.cis
        found = _search(rest, occupied | span, start if same_next else -1)
        if found is not None:
            return [(unit, start)] + found
    return None


def keep_existing(gis: Sequence[GpuInstance], units: Sequence[Want], cis_of) -> tuple[dict[int, Want], list[Want]]:
    """Existing GIs kept for wanted units (same profile, same start where pinned), as many as can
    stay while the units left over still fit around them; matching CIs preferred."""
    order = sorted(units, key=lambda u: (u.start is None, -u.profile.slices, u.profile.id, u.cis))
    best: list = [None, -1]

    def search(i: int, left: list[GpuInstance], kept: dict[int, Want], missing: list[Want], prev: int) -> bool:
        if len(kept) + (len(order) - i) <= best[1]:
            return False                    # cannot beat what is found already
        if i == len(order):
            occupied = {s for g in gis if g.gi_id in kept for s in range(g.start, g.start + g.size)}
            if place(missing, occupied) is not None:
                best[:] = [(dict(kept), list(missing)), len(kept)]
                return len(kept) == len(order)      # everything kept: nothing better exists
            return False
        u = order[i]
        same_as_last = i > 0 and (order[i - 1].profile.id, order[i - 1].cis, order[i - 1].start) == \
            (u.profile.id, u.cis, u.start)
        fits = [g for g in left if g.profile_id == u.profile.id and (u.start is None or g.start == u.start)
                and (not same_as_last or g.gi_id > prev)]      # identical units: each set once, not per order
        fits.sort(key=lambda g: (cis_of(g) != tuple(sorted(u.cis)), -g.start))
        for g in fits:
            if search(i + 1, [x for x in left if x is not g], {**kept, g.gi_id: u}, missing, g.gi_id):
                return True
        return search(i + 1, left, kept, missing + [u], prev if same_as_last else -1)

    search(0, sorted(gis, key=lambda g: g.gi_id), {}, [], -1)
    if best[0] is None:                     # even nothing kept does not fit: fit() has said why already
        return {}, list(units)
    return best[0]


def layout_of(placed: Iterable[tuple[Want, int]]) -> GpuLayout:
    return GpuLayout(ENABLED, tuple(PlacedGi(start, w.profile.id, tuple(sorted(w.cis))) for w, start in placed))


ModelsAt = dict[int, tuple[ServedModel, ...]]      # GPU instance start -> the models its Tritons load


def models_at(units: Sequence[Want], placed: Iterable[tuple[Want, int]]) -> ModelsAt:
    """The models of each placed GPU instance, by start (those listing none left out: they load every
    model). `units` are the wants in the inventory's order. A pinned unit's models stay at its start;
    units alike in all but their models (profile and compute instances) take the places found for
    them in start order, in the order they are listed: the same rules give the same Tritons whatever
    order the search (or the instances kept) went in."""
    listed = {id(w): n for n, w in enumerate(units)}
    out: dict[int, tuple[ServedModel, ...] | None] = {}
    alike: dict[tuple, list[tuple[Want, int]]] = {}
    for w, start in placed:
        if w.start is not None:
            out[start] = w.models
        else:
            alike.setdefault((w.profile.id, tuple(sorted(w.cis))), []).append((w, start))
    for group in alike.values():
        wanted = sorted((w for w, _ in group), key=lambda w: listed.get(id(w), len(listed)))
        for w, start in zip(wanted, sorted(s for _, s in group)):
            out[start] = w.models
    return {start: m for start, m in sorted(out.items()) if m}


def fit(geometry: Geometry, wanted: Sequence[DesiredInstance]) -> GpuLayout:
    """The placed layout of the wanted instances on an empty GPU, or LayoutError saying why not."""
    return fit_wants(geometry, wants(geometry, wanted))


def fit_models(geometry: Geometry, wanted: Sequence[DesiredInstance]) -> tuple[GpuLayout, ModelsAt]:
    """`fit`, and beside the layout the models of its GPU instances by start (`models_at`)."""
    units = wants(geometry, wanted)
    found = place_all(geometry, units)
    return layout_of(found), models_at(units, found)


def fit_wants(geometry: Geometry, units: Sequence[Want]) -> GpuLayout:
    """`fit`, of instances already expanded by `wants`."""
    return layout_of(place_all(geometry, units))


def place_all(geometry: Geometry, units: Sequence[Want]) -> list[tuple[Want, int]]:
    """Each unit with its start on an empty GPU, or LayoutError saying why no placement exists."""
    summary = " + ".join(u.profile.name for u in units) or "nothing"
    used = sum(u.profile.slices for u in units)
    if used > geometry.compute_slices:
        raise LayoutError(f"{summary} does not fit {geometry.model}: too many slices: "
                          f"{used} of {geometry.compute_slices}", units[-1].where)
    _check_starts(geometry, units)
    pinned = [u for u in units if u.start is not None]
    for i, a in enumerate(pinned):
        clash = next((b for b in pinned[:i] if _span(a, a.start) & _span(b, b.start)), None)
        if clash:
            raise LayoutError(f"explicit placements clash: {_label(clash, clash.start)} (memory slices "
                              f"{_slices(clash)}) overlaps {_label(a, a.start)} (memory slices {_slices(a)})",
                              a.where)
    found = place(units)
    if found is None:
        raise LayoutError(*_explain(summary, geometry, units))
    return found


def _label(w: Want, start: int) -> str:
    return f"{w.profile.name} at slice {start}"


def _slices(w: Want) -> str:
    span = sorted(_span(w, w.start))
    return f"{span[0]}-{span[-1]}"


def _explain(summary: str, geometry: Geometry, units: Sequence[Want]) -> tuple[str, str]:
    """Plain-words reason, from a greedy pass (the search already proved no placement exists)."""
    done = [(u, u.start) for u in units if u.start is not None]
    taken = set().union(*(_span(u, s) for u, s in done)) if done else set()
    free = _order(u for u in units if u.start is None)
    for u in free:
        spot = next((s for s, n in u.profile.placements if not set(range(s, s + n)) & taken), None)
        if spot is None:
            after = ", ".join(_label(w, s) for w, s in sorted(done, key=lambda d: d[1])) or "an empty GPU"
            starts = ", ".join(str(s) for s, _ in u.profile.placements)
            return (f"{summary} does not fit {geometry.model}: after {after}, no placement left for "
                    f"{u.profile.name} (its starts: {starts})", u.where)
        done.append((u, spot))
        taken |= _span(u, spot)
    return f"{summary} does not fit {geometry.model}: no combination of placements works", free[-1].where
