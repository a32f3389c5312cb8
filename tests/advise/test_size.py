"""Fleet sizing: the program against a brute force, the whole-GPU baseline, the lower bound, p99 targets."""
import itertools
import math
import random

import pytest

from migfleet.advise.capacity import parse
from migfleet.advise.layouts import enumerate_layouts
from migfleet.advise.size import SizeError, defaults_only, options, patterns, size, slice_bound, whole_gpu
from migfleet.mig import catalog

A100 = catalog.lookup("NVIDIA A100-SXM4-40GB")
SMALL = ("1g.5gb", "3g.20gb", "7g.40gb")


def v2(points: dict, models=None) -> dict:
    """points: {profile: {model: [(batch, copies, rate, p99), ...]}} on the A100-40GB."""
    return {"version": 2, "models": models or {}, "gpus": {A100.model: {p: {"points": {m: [
        {"max_batch_size": b, "instance_count": c, "concurrency": 1, "rate": r, "p50_ms": p99 / 2, "p95_ms": p99,
         "p99_ms": p99, "memory_mib": 100} for b, c, r, p99 in pts] for m, pts in ms.items()}}
        for p, ms in points.items()}}}


def v1(rates: dict, models=None) -> dict:
    return {"version": 1, "models": models or {}, "gpus": {A100.model: {p: {"rps": r} for p, r in rates.items()}}}


def brute(cap, needs: dict, targets: dict) -> tuple[int, int, int]:
    """(GPUs, slices, instances), least in that order, over every multiset of placed layouts and every
    split of their slots between the models."""
    opts = options(cap, A100, needs, targets)
    rate = {(o.profile, o.model): o.point.rate for o in opts}
    layouts = {tuple(sorted(A100.profile(gi.profile_id).name for gi in lay.gis))
               for lay in enumerate_layouts(A100, {o.profile for o in opts})} - {()}
    models = sorted(needs)
    for gpus in range(1, 8):
        found = []
        for combo in itertools.combinations_with_replacement(sorted(layouts), gpus):
            count = {p: sum(lay.count(p) for lay in combo) for p in {p for lay in combo for p in lay}}
            # every slot of the chosen layouts serves a or b (a smaller layout is another combo)
            for split in itertools.product(*(range(n + 1) for n in count.values())):
                served = dict.fromkeys(models, 0.0)
                ok = True
                for (p, n), k in zip(count.items(), split):
                    for m, many in (("a", k), ("b", n - k)):
                        if many and (p, m) not in rate:
                            ok = False
                        served[m] += many * rate.get((p, m), 0.0)
                if ok and all(served[m] >= needs[m] - 1e-9 for m in models):
                    found.append((gpus, sum(A100.profile(p).slices * n for p, n in count.items()), sum(count.values())))
        if found:
            return min(found)
    raise AssertionError("no fleet of up to 7 GPUs")


@pytest.mark.parametrize("seed", range(6))
def test_the_program_matches_a_brute_force(seed):
    rng = random.Random(seed)
    rates = {p: {m: round(rng.uniform(5, 12) * A100.profile(p).slices ** rng.uniform(0.7, 1.0), 1) for m in "ab"}
             for p in SMALL}
    cap = parse(v1(rates), "t")
    needs = {"a": rng.uniform(5, 80), "b": rng.uniform(5, 60)}
    got = size(cap, A100, needs, {})
    assert got.proven
    assert (len(got.gpus), got.slices, got.instances) == brute(cap, needs, {})
    served = got.served()
    assert all(served[m] >= needs[m] for m in needs)


def test_every_gpu_is_a_placed_layout_with_its_instances_in_its_slots():
    cap = parse(v1({"1g.5gb": {"a": 10}, "3g.20gb": {"a": 28}, "2g.10gb": {"b": 19}}), "t")
    got = size(cap, A100, {"a": 95, "b": 50}, {})
    placed = set(enumerate_layouts(A100))
    for gpu in got.gpus:
        assert gpu.layout in placed
        assert sorted((A100.profile(gi.profile_id).name, gi.start) for gi in gpu.layout.gis) == \
            sorted((i.profile, i.start) for i in gpu.instances)


def test_baseline_and_bound_bracket_the_answer():
    cap = parse(v1({"1g.5gb": {"a": 10, "b": 10}, "7g.40gb": {"a": 60, "b": 60}}), "t")
    needs = {"a": 61, "b": 5}
    opts = options(cap, A100, needs, {})
    # Whole GPU: a needs 2 (61 > 60), b 1.  Bound: (61 + 5) / 10 per slice = 6.6 slices -> 1 GPU.
    assert whole_gpu(needs, opts, A100) == 3
    assert slice_bound(needs, opts, A100) == 1
    got = size(cap, A100, needs, {})        # 7 x 1g.5gb for a and 1 for b: 8 slices, 2 GPUs
    assert (got.bound, len(got.gpus), got.gap, got.slices) == (1, 2, 0, 8)
    assert got.program_bound == 2
    needs = {"a": 55, "b": 5}
    assert slice_bound(needs, opts, A100) == 1
    got = size(cap, A100, needs, {})
    assert got.bound == 1 and len(got.gpus) == 1 and got.gap == 0      # 7 x 1g.5gb: 6 for a, 1 for b


def test_a_point_over_the_p99_target_is_never_used():
    # On 1g.5gb, a serves 50 req/s at p99 30 ms (over the 20 ms target) or 8 at 12 ms.
    cap = parse(v2({"1g.5gb": {"a": [(8, 2, 50, 30), (0, 1, 8, 12)]}, "7g.40gb": {"a": [(0, 1, 60, 5)]}}), "t")
    got = size(cap, A100, {"a": 100}, {"a": 20.0})
    used = [i.point for g in got.gpus for i in g.instances]
    assert used and all(p.p99_ms <= 20 for p in used)
    assert all(p.rate != 50 for p in used)
    loose = size(cap, A100, {"a": 100}, {"a": 40.0})
    assert {i.point.rate for g in loose.gpus for i in g.instances} == {50.0}    # 2 x 1g.5gb: the target decides
    with pytest.raises(SizeError, match="a: no profile"):
        size(cap, A100, {"a": 100}, {"a": 1.0})


def test_the_table_target_is_used_when_none_is_given():
    data = v2({"1g.5gb": {"a": [(8, 2, 50, 30), (0, 1, 8, 12)]}}, models={"a": {"p99_ms": 20}})
    cap = parse(data, "t")
    got = size(cap, A100, {"a": 16}, cap.model_p99)
    assert [i.point.rate for g in got.gpus for i in g.instances] == [8.0, 8.0]


def test_settings_come_from_the_point_and_defaults_only_keeps_triton_defaults():
    cap = parse(v2({"3g.20gb": {"a": [(16, 2, 90, 10), (0, 1, 30, 5)]}}), "t")
    got = size(cap, A100, {"a": 150}, {})
    assert {i.settings()["max_batch_size"] for g in got.gpus for i in g.instances} == {16}
    assert got.gpus[0].instances[0].settings() == {"name": "a", "instance_count": 2, "max_batch_size": 16}
    plain = size(cap, A100, {"a": 150}, {}, keep=defaults_only)
    assert plain.instances == 5 and len(plain.gpus) == 3


def test_a_model_too_large_for_a_profile_is_not_placed_there():
    cap = parse(v1({"1g.5gb": {"a": 100}, "3g.20gb": {"a": 20}}, models={"a": {"memory_mib": 6000}}), "t")
    got = size(cap, A100, {"a": 30}, {})
    assert {i.profile for g in got.gpus for i in g.instances} == {"3g.20gb"}


def test_patterns_are_the_distinct_counts_of_placed_layouts():
    pats = patterns(A100, {"3g.20gb", "4g.20gb"})
    assert sorted(tuple(sorted(c.items())) for c, _ in pats) == [
        (("3g.20gb", 1),), (("3g.20gb", 1), ("4g.20gb", 1)), (("3g.20gb", 2),), (("4g.20gb", 1),)]


def test_at_the_time_limit_it_says_how_far_from_the_bound():
    rng = random.Random(3)
    profiles = [p.name for p in A100.profiles if not p.name.endswith("+me")]
    models = [f"m{i}" for i in range(12)]
    cap = parse(v1({p: {m: round(rng.uniform(5, 12) * A100.profile(p).slices ** rng.uniform(0.6, 1.0), 1)
                        for m in models} for p in profiles}), "t")
    needs = {m: rng.uniform(50, 400) for m in models}
    got = size(cap, A100, needs, {}, time_limit=0.01)
    assert len(got.gpus) >= max(got.bound, got.program_bound)
    assert got.gap == len(got.gpus) - max(got.bound, got.program_bound)
    assert all(got.served()[m] >= needs[m] for m in needs)
    assert len(got.gpus) <= whole_gpu(needs, options(cap, A100, needs, {}), A100)
    assert math.isfinite(got.seconds)


def test_points_a_model_cannot_take_are_dropped_and_its_rate_picked_again():
    from migfleet.advise.size import drop_untaken
    cap = parse(v2({"1g.5gb": {"a": [(0, 1, 10, 5), (8, 1, 40, 9), (16, 1, 60, 9)],
                               "b": [(0, 1, 12, 5), (4, 1, 50, 9)], "c": [(4, 1, 70, 9)]}}), "t")
    drop_untaken(cap, {"a": 8, "b": 0})         # c: not in the repository read, left as it is
    kept = {m: [(q.max_batch_size, q.rate) for q in cap.points(A100.model, "1g.5gb", m)] for m in "abc"}
    assert kept == {"a": [(0, 10), (8, 40)], "b": [(0, 12)], "c": [(4, 70)]}
    assert [o.point.max_batch_size for o in options(cap, A100, {"a": 1, "b": 1}, {"a": 50, "b": 50})] == [8, 0]
