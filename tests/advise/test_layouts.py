"""Enumerated layouts are exactly the sets of placed instances the planner's fit accepts."""
import itertools
import random

import pytest

from migfleet.advise.layouts import enumerate_layouts, slots
from migfleet.mig import catalog
from migfleet.mig.fit import LayoutError, Want, fit_wants
from migfleet.mig.geometry import default_ci

MODELS = ["NVIDIA A100-SXM4-40GB", "NVIDIA H100 80GB HBM3", "NVIDIA H200"]


def accepted(geo, chosen) -> bool:
    counts = {}
    for pid, _ in chosen:
        counts[pid] = counts.get(pid, 0) + 1
    if any(n > geo.profile(pid).instances for pid, n in counts.items()):
        return False
    units = [Want(geo.profile(pid), start, (default_ci(geo.profile(pid)),)) for pid, start in chosen]
    try:
        fit_wants(geo, units)
        return True
    except LayoutError:
        return False


@pytest.mark.parametrize("model", MODELS)
def test_every_enumerated_layout_fits_and_random_sets_agree(model):
    geo = catalog.lookup(model)
    plain = [p.name for p in geo.profiles if "+" not in p.name]
    layouts = enumerate_layouts(geo, plain)
    as_sets = {frozenset((gi.profile_id, gi.start) for gi in lay.gis) for lay in layouts}
    assert len(as_sets) == len(layouts)                     # no layout twice
    for s in as_sets:
        assert accepted(geo, sorted(s))
    rng = random.Random(model)
    every = slots(geo, plain)
    for _ in range(3000):
        pick = frozenset(rng.sample(every, rng.randint(1, 6)))
        assert (pick in as_sets) == accepted(geo, sorted(pick)), sorted(pick)


def test_all_pairs_and_the_full_gpu_on_a100():
    geo = catalog.lookup("NVIDIA A100-SXM4-40GB")
    layouts = {frozenset((gi.profile_id, gi.start) for gi in lay.gis) for lay in enumerate_layouts(geo)}
    every = slots(geo)
    for a, b in itertools.combinations(every, 2):
        assert (frozenset({a, b}) in layouts) == accepted(geo, [a, b])
    assert frozenset() in layouts and frozenset({(0, 0)}) in layouts     # empty, and one 7g.40gb
