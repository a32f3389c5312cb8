import pytest

from migfleet.fleet.rollout import exceeds, plan_batches
from migfleet.inventory.rollout_settings import RolloutError, RolloutSettings

HOSTS = [f"h{i}" for i in range(1, 8)]


def test_canary_then_fixed_size_batches():
    assert plan_batches(HOSTS, RolloutSettings(canary=1, batch_size=2)) == [
        ["h1"], ["h2", "h3"], ["h4", "h5"], ["h6", "h7"]]


def test_percent_batches_round_up_against_fleet_size():
    # 30% of 7 hosts = 2.1 -> 3 per batch
    assert plan_batches(HOSTS, RolloutSettings(canary=2, batch_percent=30)) == [
        ["h1", "h2"], ["h3", "h4", "h5"], ["h6", "h7"]]


def test_resumed_rollout_keeps_batch_size_of_whole_fleet():
    remaining = ["h5", "h6", "h7"]
    # 50% of the 7-host fleet is 4, although only 3 hosts remain
    assert plan_batches(remaining, RolloutSettings(canary=0, batch_percent=50), total_hosts=7) == [remaining]
    assert plan_batches(remaining, RolloutSettings(canary=0, batch_percent=20), total_hosts=7) == [
        ["h5", "h6"], ["h7"]]


def test_default_is_canary_then_everything_else():
    assert plan_batches(HOSTS, RolloutSettings()) == [["h1"], HOSTS[1:]]


def test_no_canary_and_tiny_fleets():
    assert plan_batches(["a"], RolloutSettings(canary=0, batch_size=5)) == [["a"]]
    assert plan_batches(["a"], RolloutSettings(canary=3)) == [["a"]]
    assert plan_batches([], RolloutSettings()) == []


def test_every_host_exactly_once_in_order():
    for canary in range(0, 4):
        for size in range(1, 9):
            batches = plan_batches(HOSTS, RolloutSettings(canary=canary, batch_size=size))
            assert [h for b in batches for h in b] == HOSTS
            assert all(batches)


def test_bad_batch_settings():
    with pytest.raises(RolloutError, match="rollout_batch_size"):
        plan_batches(HOSTS, RolloutSettings(batch_size=0))
    with pytest.raises(RolloutError, match="rollout_batch_percent"):
        plan_batches(HOSTS, RolloutSettings(batch_percent=0))


def test_a_failure_count_exceeds_its_budget_only_past_it():
    assert not exceeds(2, 2) and exceeds(3, 2)
