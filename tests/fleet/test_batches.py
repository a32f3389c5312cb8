import pytest

from migfleet.fleet.rollout import (RolloutError, RolloutSettings, exceeds, failure_budget, plan_batches,
                              settings_from_data)

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


def test_failure_budget_count_and_percent():
    assert failure_budget(10, 0) == 0
    assert failure_budget(10, 3) == 3
    assert failure_budget(10, "25%") == 2       # rounded down
    assert failure_budget(6, "50%") == 3
    assert failure_budget(3, "10%") == 0
    assert failure_budget(10, "100%") == 10
    assert not exceeds(2, 2) and exceeds(3, 2)


@pytest.mark.parametrize("bad", [-1, "x", "150%", "5", True])
def test_failure_budget_refuses_nonsense(bad):
    with pytest.raises(RolloutError, match="rollout_max_failures"):
        failure_budget(10, bad)


def test_settings_from_merged_data():
    datas = {h: {"rollout_canary": 2, "rollout_batch_percent": 25, "rollout_max_failures": "10%"} for h in HOSTS}
    assert settings_from_data(datas) == RolloutSettings(canary=2, batch_percent=25, max_failures="10%")
    assert settings_from_data({"a": {}}) == RolloutSettings()


def test_settings_must_agree_across_hosts():
    with pytest.raises(RolloutError, match=r"disagree.*h2.*rollout_canary=3"):
        settings_from_data({"h1": {"rollout_canary": 1}, "h2": {"rollout_canary": 3}})


def test_size_and_percent_are_exclusive():
    with pytest.raises(RolloutError, match="not both"):
        settings_from_data({"h1": {"rollout_batch_size": 2, "rollout_batch_percent": 10}})


def test_bad_batch_settings():
    with pytest.raises(RolloutError, match="rollout_batch_size"):
        plan_batches(HOSTS, RolloutSettings(batch_size=0))
    with pytest.raises(RolloutError, match="rollout_batch_percent"):
        plan_batches(HOSTS, RolloutSettings(batch_percent=0))


def test_schema_accepts_what_the_rollout_reads():
    from migfleet.inventory import validate_host
    assert validate_host("h", {"rollout_canary": 2, "rollout_batch_percent": 25, "rollout_max_failures": "10%"}) == []
    assert validate_host("h", {"rollout_batch_size": 3, "rollout_max_failures": 1}) == []
    errors = [str(e) for e in validate_host("h", {"rollout_max_failures": "lots", "rollout_batch_size": 0})]
    assert "h: $.rollout_max_failures: 'lots' is neither a count (integer >= 0) nor a percent such as \"10%\"" in errors
    assert "h: $.rollout_batch_size: 0 is less than the minimum of 1" in errors
