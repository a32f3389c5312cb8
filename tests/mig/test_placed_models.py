"""The models of each GPU instance, placed by the planner beside the layout (keyed by start): the
one result the serving plan, the live read, advise and validation read."""
from __future__ import annotations

from migfleet.mig import desired
from migfleet.mig.desired import DesiredGpu
from migfleet.mig.desired import DesiredInstance as D
from migfleet.mig.fit import fit_models, models_at, wants
from migfleet.mig.plan import live_models, plan_gpu, target_models
from tests.mig.test_plan import gpu


def test_models_go_to_instances_in_the_order_listed(a100):
    rule = {"gpus": "all", "models": ["b"], "instances": [{"profile": "3g.20gb", "count": 1, "models": ["a"]},
                                                          {"profile": "1g.5gb", "count": 4}]}
    layout, models = fit_models(a100, desired.parse_rules([rule])[0].layout.instances)
    assert [g.start for g in layout.gis] == [0, 1, 2, 3, 4]
    b, a = (desired.ServedModel("b"),), (desired.ServedModel("a"),)
    assert models == {0: b, 1: b, 2: b, 3: b, 4: a}


def test_alike_instances_take_their_places_in_start_order_as_listed(a100):
    _, models = fit_models(a100, [D("1g.5gb", 2, models=("x",)), D("1g.5gb", 1), D("1g.5gb", 2, models=("y",))])
    assert models == {0: ("x",), 1: ("x",), 3: ("y",), 4: ("y",)}      # start 2 lists none: every model


def test_pinned_instances_keep_their_models_at_their_starts(a100):
    _, models = fit_models(a100, [D("1g.5gb", placements=(6, 2), models=("p",)), D("1g.5gb", 2, models=("q",))])
    assert models == {6: ("p",), 2: ("p",), 0: ("q",), 1: ("q",)}


def test_models_follow_the_compute_instances_they_were_asked_with(a100):
    """Two 3g.20gb alike but for their CIs: each model list goes with the GPU instance built with its CIs."""
    split = D("3g.20gb", compute=desired.ComputeSpec("1c.3g.20gb", 3), models=("split",))
    layout, models = fit_models(a100, [split, D("3g.20gb", models=("whole",))])
    cis = {g.start: len(g.cis) for g in layout.gis}
    assert {models[s]: cis[s] for s in models} == {("split",): 3, ("whole",): 1}


def test_the_plan_carries_the_models_of_what_it_keeps_and_creates(a100):
    """A GPU holding one 1g.5gb at slice 5: the planner keeps it, and the models land on the target's starts."""
    want = DesiredGpu(True, (D("3g.20gb", 1, models=("big",)), D("1g.5gb", 2, models=("small",))))
    live = gpu([(7, 19, 5)])
    plan = plan_gpu(live, want, a100)
    assert sorted(g.start for g in plan.target.gis) == [0, 4, 5]
    assert plan.models == {0: ("big",), 4: ("small",), 5: ("small",)}
    assert target_models(live, want, a100) == (plan.target, plan.models)


def test_the_live_read_gets_models_only_where_the_instance_is_the_planned_one(a100):
    want = DesiredGpu(True, (D("3g.20gb", 1, models=("big",)), D("1g.5gb", 2, models=("small",))))
    assert live_models(gpu([(7, 19, 5)]), want, a100) == {5: ("small",)}
    converged = gpu([(1, 9, 0), (2, 19, 4), (3, 19, 5)])
    assert live_models(converged, want, a100) == {0: ("big",), 4: ("small",), 5: ("small",)}


def test_wants_carry_their_instances_models(a100):
    units = wants(a100, [D("1g.5gb", 2, models=("m",)), D("2g.10gb")])
    assert [u.models for u in units] == [("m",), ("m",), None]
    assert models_at(units, [(units[0], 3), (units[1], 1), (units[2], 4)]) == {1: ("m",), 3: ("m",)}
