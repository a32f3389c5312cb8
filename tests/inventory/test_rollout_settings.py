import pytest

from migfleet.inventory.rollout_settings import RolloutError, RolloutSettings, failure_budget, settings_from_data

HOSTS = [f"h{i}" for i in range(1, 8)]


def test_failure_budget_count_and_percent():
    assert failure_budget(10, 0) == 0
    assert failure_budget(10, 3) == 3
    assert failure_budget(10, "25%") == 2       # rounded down
    assert failure_budget(6, "50%") == 3
    assert failure_budget(3, "10%") == 0
    assert failure_budget(10, "100%") == 10


@pytest.mark.parametrize("bad", [-1, "x", "150%", "5", True])
def test_failure_budget_refuses_nonsense(bad):
    with pytest.raises(RolloutError, match="rollout_max_failures"):
        failure_budget(10, bad)


def test_settings_from_merged_data():
    datas = {h: {"rollout_canary": 2, "rollout_batch_percent": 25, "rollout_max_failures": "10%"} for h in HOSTS}
    assert settings_from_data(datas) == RolloutSettings(canary=2, batch_percent=25, max_failures="10%")
    assert settings_from_data({"a": {}}) == RolloutSettings()


def test_settings_must_agree_across_hosts():
    with pytest.raises(RolloutError, match=r"h2: rollout_canary: 3 here, 1 on h1: all hosts must agree"):
        settings_from_data({"h1": {"rollout_canary": 1}, "h2": {"rollout_canary": 3}})


def test_size_and_percent_are_exclusive():
    with pytest.raises(RolloutError, match="not both"):
        settings_from_data({"h1": {"rollout_batch_size": 2, "rollout_batch_percent": 10}})


def test_schema_accepts_what_the_rollout_reads():
    from migfleet.inventory import validate_inventory
    assert validate_inventory({"h": {"rollout_canary": 1, "rollout_batch_percent": 25, "rollout_max_failures": "10%"}}) == []
    assert validate_inventory({"h": {"rollout_batch_size": 3, "rollout_max_failures": 1}}) == []
    errors = [str(e) for e in validate_inventory({"h": {"rollout_max_failures": "lots", "rollout_batch_size": 0}})]
    assert "h: $.rollout_max_failures: 'lots' is neither a count (integer >= 0) nor a percent such as \"10%\"" in errors
    assert "h: $.rollout_batch_size: 0 is less than the minimum of 1" in errors
