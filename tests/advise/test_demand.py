"""Demand from Prometheus answers: rates and mean times per host and model, memory joined per instance."""
import pytest

from migfleet.advise.demand import DemandError, known_only, parse, queries, read_answers, window_seconds
from migfleet.inventory.errors import shown
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


@pytest.mark.parametrize("bad, words", [
    ({"request_rate": {"status": "error", "errorType": "timeout", "error": "query timed out"}}, "timeout"),
    ({"request_rate": vector([({"model": "a"}, 1)])}, "lacks the host or model"),
    ({"request_rate": {"status": "success", "data": {"resultType": "vector", "result": [{"metric": {}}]}}},
     "not {metric, value"),
])
def test_odd_answers_are_named(bad, words):
    a = answers({("h1", "a"): 1.0})
    a.update(bad)
    with pytest.raises(DemandError, match=r"f: \$\.request_rate") as e:
        parse(a, "1h", "f")
    assert words in str(e.value)


def test_window_must_be_a_prometheus_duration():
    with pytest.raises(DemandError, match="not a Prometheus duration"):
        queries("1 hour")


@pytest.mark.parametrize("window, seconds", [("30m", 1800), ("1h30m", 5400), ("90m", 5400), ("1d", 86400),
                                             ("1w", 604800), ("10y", 315360000), ("500ms", 0.5)])
def test_window_in_seconds(window, seconds):
    assert window_seconds(window) == seconds


@pytest.mark.parametrize("window, why", [
    ("garbage", ""), ("", ""), ("1h1h", ""), ("30m1h", ""), ("-1h", ""), ("1.5h", ""), ("1H", ""),
    ("0s", " (above 0 and at most 10y)"), ("11y", " (above 0 and at most 10y)"), ("9" * 13 + "s", ""),
])
def test_window_that_is_not_a_duration_is_refused(window, why):
    with pytest.raises(DemandError) as e:
        window_seconds(window)
    assert str(e.value) == f"--window {window!r} is not a Prometheus duration such as 30m, 1h or 1d{why}"


def one_rate(value, labels=None):
    a = answers({("h1", "a"): 1.0})
    a["request_rate"] = vector([(labels or {"host": "h1", "model": "a"}, 0)])
    a["request_rate"]["data"]["result"][0]["value"][1] = value
    return a


RATE = "d.json: $.request_rate.data.result[0].value[1]: "
BOUND = "wants a finite number >= 0 and at most 1000000 requests/s, not "


@pytest.mark.parametrize("value, message", [
    ("NaN", RATE + BOUND + "'NaN'"), ("+Inf", RATE + BOUND + "'+Inf'"), ("-Inf", RATE + BOUND + "'-Inf'"),
    ("-1", RATE + BOUND + "'-1'"), ("1e308", RATE + BOUND + "'1e308'"), ("1000001", RATE + BOUND + "'1000001'"),
    ("1e400", RATE + BOUND + "'1e400'"), ("x", RATE + "wants a number, not 'x'"),
    (True, RATE + "wants a number as a string, not True"), ([1], RATE + "wants a number as a string, not [1]"),
    ("1" * 100, RATE + "wants a number, not " + shown("1" * 100)),
])
def test_rates_are_finite_non_negative_and_bounded(value, message):
    with pytest.raises(DemandError) as e:
        parse(one_rate(value), "1h", "d.json")
    assert str(e.value) == message


def test_the_bound_itself_and_zero_are_rates():
    assert parse(one_rate("1e6"), "1h", "d.json").of_host("h1") == {"a": 1e6}
    assert parse(one_rate("0"), "1h", "d.json").of_host("h1") == {"a": 0.0}


@pytest.mark.parametrize("model", ["../../etc/passwd", ".hidden", "-rf", "a b", "a/b", "\u0430", "m" * 129, ""])
def test_model_labels_are_model_names(model):
    with pytest.raises(DemandError) as e:
        parse(one_rate("1", {"host": "h1", "model": model}), "1h", "d.json")
    assert str(e.value).startswith("d.json: $.request_rate.data.result[0].metric.model: ")
    assert "is not a model folder name" in str(e.value) or "at most 128 characters" in str(e.value)


def test_two_samples_for_one_host_and_model_are_refused_naming_both():
    a = answers({("h1", "a"): 1.0})
    a["request_rate"] = vector([({"host": "h1", "model": "a"}, 1), ({"host": "h2", "model": "a"}, 1),
                                ({"host": "h1", "model": "a"}, 2)])
    with pytest.raises(DemandError) as e:
        parse(a, "1h", "d.json")
    assert str(e.value) == ("d.json: $.request_rate.data.result[2]: a second sample for host h1, model a (the first "
                            "is $.request_rate.data.result[0]); the query gives one per host and model")


def test_no_demand_at_all_is_said_plainly():
    a = answers({})
    with pytest.raises(DemandError) as e:
        parse(a, "30m", "d.json")
    assert str(e.value) == ("d.json: no demand found at all: request_rate has no sample for any host and model over "
                            "30m (does this Prometheus scrape Triton's metrics, with the host label of docs/METRICS.md?)")


@pytest.mark.parametrize("change, message", [
    (lambda a: a.update(request_rate=[1, 2]), "d.json: $.request_rate: not a Prometheus API answer: [1, 2]"),
    (lambda a: a["request_rate"]["data"].update(result={"a": 1}),
     "d.json: $.request_rate.data: wants an instant vector (data.resultType vector, data.result a list), got "
     "{'result': {'a': 1}, 'resultType': 'vector'}"),
    (lambda a: a["request_rate"]["data"]["result"][0].update(metric={"host": "h1", "model": ["a"]}),
     "d.json: $.request_rate.data.result[0].metric: labels are strings, not {'model': ['a']}"),
    (lambda a: a["request_rate"]["data"]["result"][0].update(metric=[["host", "h1"]]),
     "d.json: $.request_rate.data.result[0]: a sample is not {metric, value: [time, number]}: "
     "{'metric': [['host', 'h1']], 'value': [1700000000.0, '1.0']}"),
])
def test_wrong_shapes_name_the_json_path(change, message):
    a = answers({("h1", "a"): 1.0})
    change(a)
    with pytest.raises(DemandError) as e:
        parse(a, "1h", "d.json")
    assert str(e.value) == message


def test_answers_that_are_not_a_mapping():
    with pytest.raises(DemandError) as e:
        parse([1], "1h", "d.json")
    assert str(e.value) == "d.json: $: wants a mapping of query name -> Prometheus API answer, not [1]"


MEMORY = "d.json: $.instance_memory_mib.data.result[0]"
LABELS = {"host": "h1", "gpu_uuid": "GPU-1", "gi": "1", "profile": "1g.5gb", "model": "a"}


@pytest.mark.parametrize("mib", [-5000, 1e12, "NaN", 189472])
def test_memory_answers_are_within_a_gpu(mib):
    with pytest.raises(DemandError) as e:
        parse(answers({("h1", "a"): 1.0}, memory=[(LABELS, mib)]), "1h", "d.json")
    assert str(e.value) == (f"{MEMORY}.value[1]: wants a finite number >= 0 and at most 189471 MiB (the most memory "
                            f"of any GPU migfleet knows), not {str(mib)!r}")


def test_memory_rows_name_their_instance_and_once_each():
    with pytest.raises(DemandError) as e:
        parse(answers({("h1", "a"): 1.0}, memory=[({k: v for k, v in LABELS.items() if k != "gpu_uuid"}, 5)]),
              "1h", "d.json")
    assert str(e.value) == (f"{MEMORY}.metric: a sample lacks the gpu_uuid label(s): "
                            "{'gi': '1', 'host': 'h1', 'model': 'a', 'profile': '1g.5gb'}")
    with pytest.raises(DemandError) as e:
        parse(answers({("h1", "a"): 1.0}, memory=[(LABELS, 5), (LABELS, 6)]), "1h", "d.json")
    assert str(e.value) == ("d.json: $.instance_memory_mib.data.result[1]: a second sample for host h1, GPU GPU-1, "
                            "instance 1, model a (the first is $.instance_memory_mib.data.result[0])")


def test_hosts_and_models_the_inventory_does_not_know_are_named_and_left_out():
    d = parse(answers({("h1", "a"): 1.0, ("h9", "a"): 1.0, ("h1", "zz"): 2.0, ("h2", "any"): 3.0}), "1h", "d.json")
    kept, warnings = known_only(d, {"h1": frozenset({"a"}), "h2": None}, "d.json")
    assert set(kept.models) == {("h1", "a"), ("h2", "any")}
    assert warnings == ["demand for host(s) not in the inventory, left out: h9",
                        "h1: demand for model(s) not in its model repository nor its mig_layout, left out: zz"]
    with pytest.raises(DemandError) as e:
        known_only(d, {"h3": None}, "d.json")
    assert str(e.value) == ("d.json: no demand found for any host and model of the inventory (it names only host(s) "
                            "h1, h2, h9; the host label is the inventory's host name, docs/METRICS.md)")


@pytest.mark.parametrize("raw, message", [
    (b"[" * 100_000 + b"]" * 100_000, "not JSON migfleet can read: it nests too deeply"),
    (b'{"request_rate": 1, "request_rate": 2}', "key 'request_rate' is given twice in one object; JSON would keep "
                                                 "only the last"),
    (b"\xff\xfe{", "not JSON: "),
    (b"{", "not JSON: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"),
], ids=["deep", "repeated key", "not UTF-8", "cut short"])
def test_a_demand_file_that_cannot_be_read_is_one_line(tmp_path, raw, message):
    path = tmp_path / "d.json"
    path.write_bytes(raw)
    with pytest.raises(DemandError) as e:
        read_answers(str(path))
    assert str(e.value).startswith(f"{path}: {message}")


def test_queue_and_compute_time_are_bounded_by_the_window():
    a = answers({("h1", "a"): 1.0})
    a["queue_us"]["data"]["result"][0]["value"][1] = "1e308"
    with pytest.raises(DemandError) as e:
        parse(a, "1h", "d.json")
    assert str(e.value) == ("d.json: $.queue_us.data.result[0].value[1]: wants a finite number >= 0 and at most "
                            "1.296e+19 us (1000000 requests a second, each the window long), not '1e308'")
    a["queue_us"]["data"]["result"][0]["value"][1] = "1e12"     # a busy hour
    assert parse(a, "1h", "d.json").models[("h1", "a")].queue_us == pytest.approx(1e12 / 3600)
