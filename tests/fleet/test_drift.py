from dataclasses import replace

from migfleet.mig import catalog
from migfleet.fleet import checks as spec_checks
from migfleet.fleet.checks import Mismatch

from .captures import snapshot

GPU0 = "GPU-a0d11e01-114d-c41d-cf0d-5741a1004c79"
GPU1 = "GPU-5b2f7c0e-93a1-4d0b-8c55-0e7d2f6a9b13"


def geometry_for(gpu):
    return catalog.lookup(gpu.name)


def drift(rules, live=None):
    return spec_checks.compare_host("h1", live or snapshot("h100-mixed"), rules, geometry_for)


def test_counts_without_placements_compare_with_the_planners_choice():
    # the live layout is the only way to place these counts: the planner finds it, no drift
    same = [{"gpus": [0], "instances": [{"profile": "3g.40gb", "count": 1}, {"profile": "1g.10gb", "count": 2},
                                        {"profile": "2g.20gb", "count": 1,
                                         "compute": {"profile": "1c.2g.20gb", "count": 2}}]},
            {"gpus": [1], "mig": False}]
    assert drift(same) == []
    # 3g + 2 x 1g: the planner keeps the 3g.40gb at 4 and the 1g.10gb at 2 and 3 where they are and
    # destroys the 2g.20gb: drift names exactly that one difference, as the deploy would change it
    fewer = [{"gpus": [0], "instances": [{"profile": "3g.40gb", "count": 1}, {"profile": "1g.10gb", "count": 2}]}]
    found = {m.field: (m.expected, m.found) for m in drift(fewer)}
    assert found == {"GPU instance at slice 0": ("none", "2g.20gb (ID 14) at slice 0 with CIs 2 x 1c.2g.20gb")}


def test_mode_difference_names_gpu_and_both_values():
    rules = [{"gpus": "all", "mig": False}]
    found = drift(rules)
    assert found == [Mismatch("h1", 0, GPU0, "MIG mode", "disabled", "enabled")]
    assert str(found[0]) == f"h1 GPU 0 (00000000:00:06.0, {GPU0}): MIG mode: expected disabled, found enabled"


def test_missing_and_extra_instances_field_by_field():
    rules = [{"gpus": [0], "instances": [{"profile": "3g.40gb", "placements": [4]},
                                         {"profile": "1g.10gb", "placements": [2, 3, 1]}]},
             {"gpus": [1], "instances": [{"profile": "7g.80gb", "count": 1}]}]
    found = {(m.gpu_index, m.field): (m.expected, m.found) for m in drift(rules)}
    assert found == {
        (0, "GPU instance at slice 0"): ("none", "2g.20gb (ID 14) at slice 0 with CIs 2 x 1c.2g.20gb"),
        (0, "GPU instance at slice 1"): ("1g.10gb (ID 19) at slice 1", "none"),
        (1, "MIG mode"): ("enabled", "disabled"),
    }


def test_compute_instances_difference():
    rules = [{"gpus": [0], "instances": [{"profile": "3g.40gb", "placements": [4],
                                          "compute": {"profile": "1c.3g.40gb", "count": 3}},
                                         {"profile": "2g.20gb", "placements": [0],
                                          "compute": {"profile": 0, "count": 2}},
                                         {"profile": 19, "placements": [2, 3]}]}]
    found = drift(rules)
    assert found == [Mismatch("h1", 0, GPU0, "compute instances of 3g.40gb at slice 4",
                              "3 x 1c.3g.40gb", "1 x 3g.40gb")]


def test_rules_not_selecting_a_gpu_leave_it_out():
    rules = [{"gpus": [1], "mig": False}]
    assert drift(rules) == []


def test_layout_that_cannot_fit_is_reported_not_raised():
    rules = [{"gpus": [1], "instances": [{"profile": "3g.40gb", "count": 3}]}]
    (m,) = drift(rules)
    assert (m.gpu_index, m.field) == (1, "mig_layout") and "too many 3g.40gb" in m.found


def test_rule_for_missing_index():
    (m,) = drift([{"gpus": [5], "mig": False}])
    assert m.field == "mig_layout" and "GPU index 5" in m.found


def test_unknown_model_without_geometry():
    live = snapshot("h100-mixed")
    live[GPU1] = replace(live[GPU1], name="NVIDIA B300")
    (m,) = spec_checks.compare_host("h1", live, [{"gpus": [1], "instances": [{"profile": 19, "count": 1}]}],
                                    geometry_for)
    assert m.field == "geometry" and "NVIDIA B300" in m.expected
