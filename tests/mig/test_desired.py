"""mig_layout rules -> desired layout per GPU."""
from __future__ import annotations

import pytest

from migfleet.mig.desired import ComputeSpec, DesiredGpu, DesiredInstance, RuleError, resolve
from migfleet.mig.state import GpuState


def gpus(*models):
    return {f"GPU-{i:08d}-0000-0000-0000-000000000000": GpuState(i, f"GPU-{i:08d}-0000-0000-0000-000000000000",
                                                                 m, f"0000:{i:02x}:00.0", False, False)
            for i, m in enumerate(models)}


A40, H100 = "NVIDIA A100-SXM4-40GB", "NVIDIA H100 80GB HBM3"


def test_later_rules_override_for_the_gpus_they_select():
    g = gpus(A40, A40, H100)
    u = list(g)
    rules = [{"gpus": "all", "instances": [{"profile": "1g.5gb", "count": 7}]},
             {"gpus": {"model": "NVIDIA H100 80GB HBM3"}, "instances": [{"profile": "3g.40gb", "count": 2}]},
             {"gpus": [1], "mig": False},
             {"gpus": {"uuid": u[0].lower()}, "instances": [{"profile": 9, "placements": [4],
                                                            "compute": {"profile": "1c.3g.20gb", "count": 3}}]}]
    out = resolve(rules, g)
    assert out[u[1]] == DesiredGpu(False)
    assert out[u[2]].instances == (DesiredInstance("3g.40gb", 2),)
    (inst,) = out[u[0]].instances
    assert inst.placements == (4,) and inst.units == 1 and inst.compute == ComputeSpec("1c.3g.20gb", 3)
    assert inst.where == "$.mig_layout[3].instances[0]"


def test_unselected_gpus_are_left_alone():
    g = gpus(A40, H100)
    out = resolve([{"gpus": {"index": 1}, "mig": False}], g)
    assert list(out) == [list(g)[1]]


def test_model_match_ignores_case_and_vendor_prefix():
    g = gpus(H100)
    assert resolve([{"gpus": {"model": "h100 80gb hbm3"}, "mig": False}], g)


def test_missing_index_is_an_error():
    with pytest.raises(RuleError, match=r"\$.mig_layout\[0\].gpus: selects GPU index 3 but the host has GPUs 0-1"):
        resolve([{"gpus": [1, 3], "mig": False}], gpus(A40, A40))


def test_no_rules_no_layout():
    assert resolve([], gpus(A40)) == {}


def test_uuid_with_a_trailing_newline_is_refused():
    g = gpus(A40)
    uuid = list(g)[0]
    with pytest.raises(RuleError, match=r"\$.mig_layout\[0\].gpus.uuid: .* is not a GPU UUID"):
        resolve([{"gpus": {"uuid": uuid + "\n"}, "mig": False}], g)
    assert resolve([{"gpus": {"uuid": uuid}, "mig": False}], g) == {uuid: DesiredGpu(False)}
