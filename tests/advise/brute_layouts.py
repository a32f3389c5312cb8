"""Every layout of one GPU kind, for tests/advise/brute.py and randhost.py; listed once per process
(they depend on the geometry alone, not on the host)."""
from __future__ import annotations

from collections import Counter
from functools import lru_cache

from migfleet.mig.fit import LayoutError, Want, fit_wants
from migfleet.mig.geometry import Geometry, default_ci


@lru_cache(maxsize=16)
def all_layouts(geo: Geometry) -> tuple[tuple, ...]:
    """Every layout of full-size compute instances (each a tuple of PlacedGi), the empty one included."""
    slots = [(p, start, size) for p in geo.profiles if "+" not in p.name for start, size in p.placements]
    out = []

    def walk(i, used, compute, counts, chosen):
        if chosen:
            try:
                out.append(fit_wants(geo, [Want(p, s, (default_ci(p),)) for p, s, _ in chosen]).gis)
            except LayoutError:
                pass
        else:
            out.append(())
        for j in range(i, len(slots)):
            p, start, size = slots[j]
            span = set(range(start, start + size))
            if span & used or compute + p.slices > geo.compute_slices or counts.get(p.id, 0) >= p.instances:
                continue
            counts[p.id] = counts.get(p.id, 0) + 1
            walk(j + 1, used | span, compute + p.slices, counts, chosen + [(p, start, size)])
            counts[p.id] -= 1
    walk(0, set(), 0, {}, [])
    return tuple(out)


def shape_of(lay) -> tuple:
    return tuple(sorted(Counter(gi.profile_id for gi in lay).items()))


def slices_of(geo: Geometry, shape: tuple) -> int:
    return sum(geo.profile(pid).slices * n for pid, n in shape)


@lru_cache(maxsize=16)
def shapes_of(geo: Geometry) -> tuple[dict, dict]:
    """all_layouts(geo) by profile counts (one layout of each), and each placed instance -> the
    indices of the layouts holding it. Hosts share these: they depend on the geometry alone."""
    shapes, containing = {}, {}
    for i, lay in enumerate(all_layouts(geo)):
        shapes.setdefault(shape_of(lay), lay)
        for gi in lay:
            containing.setdefault(gi, []).append(i)
    return shapes, containing


@lru_cache(maxsize=64)
def maximal_shapes(shapes: tuple) -> list[tuple]:
    """The profile counts no other one contains (adding an instance never hurts level 1)."""
    counts = {k: Counter(dict(k)) for k in shapes}
    return [k for k in shapes if not any(k2 != k and all(counts[k2][p] >= c for p, c in counts[k].items())
                                         for k2 in shapes)]
