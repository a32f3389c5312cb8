"""Demand from Prometheus answers: rates and mean times per host and model, memory joined per instance."""
import pytest

from migfleet.advise.demand import DemandError, parse, queries
from tests.advise.helpers import answers, vector


def test_rates_and_mean_times_per_host_and_model():
    d = parse(answers({("h1", "a"): 10.0, ("h2", "a"): 2.0}, queue_us=300, compute_us=4000), "1h", "f")
    assert d.of_host("h1") == {"a": 10.0}
    md = d.models[("h2", "a")]
    assert md.queue_us == pytest.approx(300) and md.compute_us == pytest.approx(4000)


def test_memory_counts_only_instances_serving_one_model():
    rows = [({"host": "h1", "gpu_uuid": "GPU-1", "gi": "1", "profile": "1g.5gb", "model": "a"}, 1800),
            ({"host": "h1", "gpu_uuid": "GPU-1", "gi": "2", "profile": "3g.20gb", "model": "a"}, 9000),
            ({"host": "h1", "gpu_uuid": "GPU-1", "gi": "2", "profile": "3g.20gb", "model": "b"}, 9000),
            ({"host": "h1", "gpu_uuid": "GPU-2", "gi": "1", "profile": "1g.5gb", "model": "a"}, 2100)]
    d = parse(answers({("h1", "a"): 1.0, ("h1", "b"): 1.0}, memory=rows), "1h", "f")
    assert d.model_memory() == {"a": 2100}          # the shared 3g says nothing of a or b alone
    assert {i.models for i in d.instances} == {("a",), ("a", "b")}


def test_memory_join_is_on_uuid_and_gi_not_profile():
    q = queries("30m")["instance_memory_mib"]
    assert "on (gpu_uuid, gi)" in q and '"UUID"' in q and '"GPU_I_ID"' in q and "GPU_I_PROFILE" not in q


def test_nan_samples_are_no_data():
    a = answers({("h1", "a"): 1.0})
    a["request_rate"] = vector([({"host": "h1", "model": "a"}, "NaN"), ({"host": "h1", "model": "b"}, 3)])
    assert set(parse(a, "1h", "f").of_host("h1")) == {"b"}


@pytest.mark.parametrize("bad, words", [
    ({"request_rate": {"status": "error", "errorType": "timeout", "error": "query timed out"}}, "timeout"),
    ({"request_rate": vector([({"model": "a"}, 1)])}, "lacks the host or model"),
    ({"request_rate": {"status": "success", "data": {"resultType": "vector", "result": [{"metric": {}}]}}},
     "not {metric, value"),
])
def test_odd_answers_are_named(bad, words):
    a = answers({("h1", "a"): 1.0})
    a.update(bad)
    with pytest.raises(DemandError, match="f: request_rate") as e:
        parse(a, "1h", "f")
    assert words in str(e.value)


def test_window_must_be_a_prometheus_duration():
    with pytest.raises(DemandError, match="not a Prometheus duration"):
        queries("1 hour")
