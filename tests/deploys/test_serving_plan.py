"""The deploy's plan of lends and drains: what the host's rotation will do, predicted from what each
Triton serves now (the same serving.models.plan_lends, step by step)."""
from __future__ import annotations

import pytest

from migfleet.deploys import serving_plan
from migfleet.serving import triton


def _spec(gi: int, profile: str, models) -> triton.Triton:
    return triton.Triton(f"triton-gpu0-s{gi}", triton.Place(0, gi, 0, "GPU-a", profile),
                         triton.TritonPorts(1, 2, 3), ("--label", "x"), "c", tuple(models))


@pytest.fixture
def now(monkeypatch):
    """x = s0 (3g.40gb) serving a, y = s4 (3g.40gb) serving b; the target keeps both models."""
    served = {"triton-gpu0-s0": ("3g.40gb", ("a",)), "triton-gpu0-s4": ("3g.40gb", ("b",))}
    monkeypatch.setattr(serving_plan, "model_mib", lambda: {"a": 1000.0, "b": 1000.0, "c": 1.0})
    monkeypatch.setattr(serving_plan, "endpoints_models", lambda: {"a", "b"})
    monkeypatch.setattr(serving_plan, "triton_specs", lambda: [_spec(0, "2g.20gb", ("a",)), _spec(4, "3g.40gb", ("b",))])
    return served


def test_a_mig_change_that_takes_a_models_only_triton_lends_it_to_the_one_that_stays(now):
    running = set(now)
    lends, drains = serving_plan.lends_and_drains(now, [({"triton-gpu0-s0"}, False)], running)
    assert lends == (("a", "triton-gpu0-s4", "triton-gpu0-s0"),) and drains == ()


def test_every_triton_going_drains_every_model(now):
    lends, drains = serving_plan.lends_and_drains(now, [(set(now), False)], set(now))
    assert lends == () and drains == ("a", "b")


def test_no_memory_left_drains(now, monkeypatch):
    monkeypatch.setattr(serving_plan, "model_mib", lambda: {"a": 40000.0, "b": 1000.0})
    assert serving_plan.lends_and_drains(now, [({"triton-gpu0-s0"}, False)], set(now)) == ((), ("a",))


def test_rolls_one_at_a_time_each_lends_and_gets_its_lend_back(now):
    lends, drains = serving_plan.lends_and_drains(now, [({"triton-gpu0-s0"}, True), ({"triton-gpu0-s4"}, True)], set(now))
    assert lends == (("a", "triton-gpu0-s4", "triton-gpu0-s0"), ("b", "triton-gpu0-s0", "triton-gpu0-s4"))
    assert drains == ()


def test_a_lender_that_goes_later_passes_the_model_on(now):
    now["triton-gpu0-s6"] = ("1g.10gb", ("b",))
    lends, drains = serving_plan.lends_and_drains(now, [({"triton-gpu0-s0"}, False), ({"triton-gpu0-s4"}, False)], set(now))
    assert lends == (("a", "triton-gpu0-s4", "triton-gpu0-s0"), ("a", "triton-gpu0-s6", "triton-gpu0-s4"))
    assert drains == ()
