"""The measuring loop against a stand-in host: drain first, each profile laid out alone with one
Triton, each setting loaded then climbed, restore last; a run stopped part way restores the host,
and its re-run measures only what is missing and ends with the same points."""
import pytest

from migfleet.advise import capacity
from migfleet.measure import grid as grids
from migfleet.measure.results import Results, points_path, write_table
from migfleet.measure.run import Measure, Remote, Target, layout_of
from migfleet.mig import catalog
from migfleet.serving import settings as serving_settings
from tests.measure.standin import A100, UUID, StandIn

GEOMETRY = catalog.lookup(A100)


def grid() -> grids.Grid:
    return grids.make(["1g.5gb", "3g.20gb"], ["a", "b"], [0, 8], [1, 2], [1, 2, 4, 8, 16, 32, 64], 1000,
                      {"a": 50.0, "b": 30.0})


def target() -> Target:
    return Target("h1", 0, UUID, A100, GEOMETRY, serving_settings.resolve({}), "/usr/local/lib/migfleet")


def measure(tmp_path, host: StandIn) -> Results:
    results = Results(points_path(tmp_path / "cap.json"))
    Measure(Remote(target(), host), grid(), results, "migfleet measure inv.py --host h1", say=lambda m: None,
            on_setting=lambda: write_table(tmp_path / "cap.json", results)).run()
    return results


def test_drain_first_each_profile_alone_each_setting_loaded_restore_last(tmp_path):
    host = StandIn()
    results = measure(tmp_path, host)
    actions = [a for a, _ in host.log]
    assert actions[0] == "begin" and actions[-1] == "end"
    assert actions.count("layout") == 2 and actions.count("triton") == 2 and actions.count("load") == 16
    layouts = [args["layout"] for a, args in host.log if a == "layout"]
    assert layouts == [layout_of(GEOMETRY, "1g.5gb").to_json(), layout_of(GEOMETRY, "3g.20gb").to_json()]
    assert all(len(layout["gis"]) == 1 for layout in layouts)
    first = f"triton-gpu0-s{layouts[0]['gis'][0]['start']}"
    assert [args["remove"] for a, args in host.log if a == "layout"] == [[], [first]]    # freed before the change
    ends = [args for a, args in host.log if a == "end"]
    assert ends == [{"tritons": ["triton-gpu0-s0"]}]        # the last profile's Triton, at its instance's slice
    assert len(host.perf_runs) == len(set(host.perf_runs)) == len(results.points)


def test_each_ladder_stops_once_the_p99_passes_the_target_or_the_rate_stops_rising(tmp_path):
    results = measure(tmp_path, StandIn())
    g = grid()
    for s in g.settings:
        pts = sorted(results.of(A100, s), key=lambda p: p["concurrency"])
        assert pts, s
        last, before = pts[-1], pts[:-1]
        assert all(p["p99_ms"] <= g.target(s.model) for p in before)
        stopped = last["p99_ms"] > g.target(s.model) or last["rate"] < max(p["rate"] for p in before) * grids.RISING \
            or last["concurrency"] == g.ladder[-1]
        assert stopped, pts


def test_an_interrupted_run_resumed_gives_the_same_points_none_measured_twice(tmp_path):
    whole = measure(tmp_path / "whole", StandIn())
    first = StandIn(stop_after_perf=7)
    with pytest.raises(KeyboardInterrupt):
        measure(tmp_path / "cut", first)
    assert [a for a, _ in first.log][-1] == "end"           # the host is restored however the loop stops
    again = StandIn()
    resumed = measure(tmp_path / "cut", again)
    assert not set(first.perf_runs) & set(again.perf_runs)
    key = lambda p: tuple(sorted(p.items()))
    assert sorted(map(key, resumed.points)) == sorted(map(key, whole.points))
    assert len(first.perf_runs) + len(again.perf_runs) == len(whole.points)
    done = StandIn()
    measure(tmp_path / "cut", done)                         # nothing left: the host is not even drained
    assert done.log == []


def test_advise_reads_the_table_and_uses_the_best_point_within_each_target(tmp_path):
    results = measure(tmp_path, StandIn())
    cap = capacity.load([tmp_path / "cap.json"])
    for model, limit in (("a", 50.0), ("b", 30.0)):
        for profile in ("1g.5gb", "3g.20gb"):
            pts = cap.points(A100, profile, model)
            within = [p.rate for p in pts if p.p99_ms <= limit]
            assert cap.rps(A100, profile, model) == max(within)
    over = [p for m, limit in (("a", 50.0), ("b", 30.0)) for pr in ("1g.5gb", "3g.20gb")
            for p in cap.points(A100, pr, m) if p.p99_ms > limit]
    assert over and all(p.rate > 0 for p in over)          # measured, kept in the table, never the rate used
    assert cap.model_p99 == {"a": 50.0, "b": 30.0}
    assert cap.model_memory == {"a": 512.0, "b": 512.0}
    assert "command=migfleet measure inv.py --host h1 host=h1 gpu=NVIDIA A100-SXM4-40GB driver=550.90.07 " \
           "triton=2.51.0" in cap.sources[0]
    assert len(results.points) == sum(len(cap.points(A100, p, m)) for p in ("1g.5gb", "3g.20gb") for m in "ab")


def test_a_setting_its_model_cannot_take_is_never_loaded_and_the_run_says_it_skips_it(tmp_path):
    host, said = StandIn(), []
    g = grids.make(["1g.5gb"], ["a", "b"], [0, 8], [1], [1, 2, 4], 1000, {"a": 50.0, "b": 30.0}, {"a": 8, "b": 0})
    results = Results(points_path(tmp_path / "cap.json"))
    Measure(Remote(target(), host), g, results, "migfleet measure inv.py --host h1", say=said.append).run()
    loads = [(args["model"], args["max_batch_size"]) for a, args in host.log if a == "load"]
    assert sorted(loads) == [("a", 0), ("a", 8), ("b", 0)]
    assert {(p["model"], p["max_batch_size"]) for p in results.points} == {("a", 0), ("a", 8), ("b", 0)}
    assert said[0] == ("measure: h1 GPU 0: skipped: 1g.5gb b, dynamic batching up to 8, 1 instance(s): model 'b' "
                       "does not batch (its config.pbtxt has max_batch_size 0): dynamic batching cannot be turned "
                       "on for it; give max_batch_size 0 or leave it out")
