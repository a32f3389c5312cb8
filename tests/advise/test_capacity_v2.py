"""Capacity tables version 2 (`migfleet measure`'s points): the rate advise uses is the best point
within each model's p99 target, never a point over it; version-1 tables read as one point each."""
import json

import pytest

from migfleet.advise import capacity
from migfleet.advise.capacity import CapacityError, parse
from migfleet.advise.points import Point, best

H100 = "NVIDIA H100 80GB HBM3"


def pt(rate, p99, mbs=0, count=1, conc=1, mem=100.0) -> dict:
    return {"max_batch_size": mbs, "instance_count": count, "concurrency": conc, "rate": rate,
            "p50_ms": p99 / 3, "p95_ms": p99 / 2, "p99_ms": p99, "memory_mib": mem}


def v2(points: dict, models=None, **extra) -> dict:
    return {"version": 2, "source": {"command": "migfleet measure inv.py --host h1", "host": "h1", "gpu": H100,
                                     "driver": "550.90.07", "triton": "2.51.0", "date": "2026-12-07"},
            "models": models or {}, "gpus": {H100: points}, **extra}


def test_a_point_over_the_models_p99_target_is_never_used():
    fast_but_slow_tail = pt(900.0, 80.0, mbs=8, count=2, conc=32)
    table = v2({"3g.40gb": {"points": {"a": [pt(100.0, 5.0), pt(300.0, 19.0, mbs=4, conc=8), fast_but_slow_tail]}}},
               models={"a": {"memory_mib": 1200, "p99_ms": 20}})
    cap = parse(table, "t.json")
    assert cap.rps(H100, "3g.40gb", "a") == 300.0
    assert cap.best(H100, "3g.40gb", "a").p99_ms == 19.0
    assert len(cap.points(H100, "3g.40gb", "a")) == 3
    cap.retarget({"a": 10.0})           # advise's --p99-ms a=10
    assert cap.rps(H100, "3g.40gb", "a") == 100.0
    cap.retarget({"a": 1.0})            # nothing within it: the profile never serves the model
    assert cap.rps(H100, "3g.40gb", "a") == 0.0
    cap.retarget({"a": 1000.0})
    assert cap.rps(H100, "3g.40gb", "a") == 900.0


def test_the_tables_p99_is_the_default_target_and_no_target_takes_the_highest_rate():
    points = {"7g.80gb": {"points": {"a": [pt(100.0, 5.0), pt(300.0, 60.0)], "b": [pt(50.0, 70.0)]}}}
    assert parse(v2(points, p99_ms=50), "t.json").rps(H100, "7g.80gb", "a") == 100.0
    assert parse(v2(points, p99_ms=50), "t.json").rps(H100, "7g.80gb", "b") == 0.0
    assert parse(v2(points), "t.json").rps(H100, "7g.80gb", "a") == 300.0


def test_best_breaks_ties_towards_the_cheaper_setting_and_skips_points_over_target():
    pts = [Point(8, 2, 4, 200.0, 1, 2, 3, 0), Point(4, 1, 4, 200.0, 1, 2, 3, 0), Point(1, 1, 1, 500.0, 1, 2, 99, 0)]
    assert best(pts, 50) == pts[1]
    assert best(pts, None) == pts[2]
    assert best([], 50) is None


def test_a_version_1_table_is_one_point_per_entry_at_its_p99():
    cap = parse({"version": 1, "p99_ms": 50, "gpus": {H100: {"7g.80gb": {"rps": {"a": 150.8}}}}}, "t.json")
    (only,) = cap.points(H100, "7g.80gb", "a")
    assert (only.rate, only.p99_ms, only.concurrency) == (150.8, 50.0, 0)
    assert cap.rps(H100, "7g.80gb", "a") == 150.8
    cap.retarget({"a": 20.0})           # measured at p99 50 ms: not within 20 ms
    assert cap.rps(H100, "7g.80gb", "a") == 0.0


def test_a_later_table_wins_per_model_and_versions_merge():
    cap = parse({"version": 1, "gpus": {H100: {"7g.80gb": {"rps": {"a": 1.0, "b": 2.0}}}}}, "one.json")
    parse(v2({"7g.80gb": {"points": {"a": [pt(10.0, 5.0)]}}}), "two.json", cap)
    assert (cap.rps(H100, "7g.80gb", "a"), cap.rps(H100, "7g.80gb", "b")) == (10.0, 2.0)
    assert "command=migfleet measure inv.py --host h1 host=h1" in cap.sources[-1]


def test_the_shipped_lab_table_is_read_and_gives_every_lab_model_a_rate():
    cap = capacity.load([capacity.TABLES / "lab.json"])
    assert cap.models() >= {"lab_classifier"}
    assert all(r > 0 for t in cap.gpus.values() for p in t.values() for r in p.rps.values())


@pytest.mark.parametrize("bad, message", [
    ({"7g.80gb": {"points": {"a": []}}}, f"t.json: $.gpus.{H100}.7g.80gb.points.a: wants a list of points, not []"),
    ({"7g.80gb": {"points": {"a": [{**pt(1.0, 2.0), "rate": -1}]}}},
     f"t.json: $.gpus.{H100}.7g.80gb.points.a[0].rate: wants a finite number >= 0 and at most 1000000 "
     "requests/s, not -1"),
    ({"7g.80gb": {"points": {"a": [{**pt(1.0, 2.0), "instance_count": 0}]}}},
     f"t.json: $.gpus.{H100}.7g.80gb.points.a[0].instance_count: wants a whole number from 1 to 64, not 0"),
    ({"7g.80gb": {"points": {"a": [{k: v for k, v in pt(1.0, 2.0).items() if k != "p95_ms"}]}}},
     f"t.json: $.gpus.{H100}.7g.80gb.points.a[0]: lacks p95_ms"),
    ({"1g.10gb": {"points": {"a": [pt(1.0, 2.0, mem=20000)]}}},
     f"t.json: $.gpus.{H100}.1g.10gb.points.a[0].memory_mib: wants a finite number >= 0 and at most 9984 MiB "
     "(the memory of the instance), not 20000"),
    ({"7g.80gb": {"rps": {"a": 1}}},
     f"t.json: $.gpus.{H100}.7g.80gb: wants {{points: {{MODEL: [point, ...]}}, memory_mib: N}}, not {{'rps': {{'a': 1}}}}"),
])
def test_bad_version_2_tables_name_file_path_and_reason(bad, message):
    with pytest.raises(CapacityError) as e:
        parse(v2(bad), "t.json")
    assert str(e.value) == message


def test_a_bad_per_model_target_is_named():
    with pytest.raises(CapacityError, match=r"\$\.models\.a\.p99_ms: wants a finite number above 0"):
        parse(v2({}, models={"a": {"p99_ms": 0}}), "t.json")


def test_a_version_2_table_reads_from_yaml_as_from_json(tmp_path):
    data = v2({"7g.80gb": {"points": {"a": [pt(10.0, 5.0)]}}}, models={"a": {"p99_ms": 20}})
    (tmp_path / "t.json").write_text(json.dumps(data))
    import yaml
    (tmp_path / "t.yaml").write_text(yaml.safe_dump(data))
    a, b = capacity.load([tmp_path / "t.json"]), capacity.load([tmp_path / "t.yaml"])
    assert a.gpus == b.gpus and a.model_p99 == b.model_p99 == {"a": 20.0}
