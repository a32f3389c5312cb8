"""The grid: a ladder climbs until the p99 passes the target or the rate stops rising; --dry's text."""
from migfleet.measure import grid as grids
from migfleet.measure.grid import Setting, next_concurrency

S = Setting("1g.5gb", "a", 0, 1)


def g(target=50.0) -> grids.Grid:
    return grids.make(["1g.5gb", "2g.10gb"], ["a"], [0, 8], [1], [1, 2, 4, 8], 5000, {"a": target})


def pt(c, rate, p99):
    return {"concurrency": c, "rate": rate, "p99_ms": p99}


def test_the_ladder_climbs_in_order_and_resumes_after_the_highest_point():
    assert next_concurrency(g(), S, []) == 1
    assert next_concurrency(g(), S, [pt(1, 10, 1)]) == 2
    assert next_concurrency(g(), S, [pt(2, 20, 1), pt(1, 10, 1)]) == 4
    assert next_concurrency(g(), S, [pt(1, 10, 1), pt(2, 20, 1), pt(4, 40, 1), pt(8, 80, 1)]) is None


def test_it_stops_past_the_target_and_when_the_rate_stops_rising():
    assert next_concurrency(g(), S, [pt(1, 10, 1), pt(2, 20, 51)]) is None
    assert next_concurrency(g(), S, [pt(1, 10, 1), pt(2, 10.2, 2)]) is None        # under 3% more
    assert next_concurrency(g(), S, [pt(1, 10, 1), pt(2, 10.4, 2)]) == 4
    assert next_concurrency(g(None), S, [pt(1, 10, 1), pt(2, 20, 900)]) == 4       # no target


def test_dry_text_lists_every_setting_and_the_most_time():
    text = grids.describe(g(), "NVIDIA A100-SXM4-40GB", "h1")
    assert "2 profile(s), 4 setting(s), concurrency 1, 2, 4, 8, 5000 ms windows x 3" in text
    assert "  2g.10gb a, dynamic batching up to 8, 1 instance(s); until p99 > 50 ms or the rate stops rising" in text
    # 16 points of 17 s, 4 loads of 10 s, 2 layouts of 30 s
    assert g().estimate_s() == 16 * 17 + 4 * 10 + 2 * 30
    assert "at most 16 point(s), about 6m12s" in text


def test_durations_read_as_hours_minutes_seconds():
    assert [grids.duration(s) for s in (5, 65, 3700)] == ["5s", "1m05s", "1h01m"]


def test_settings_a_model_cannot_take_are_skipped_and_named_in_the_dry_text():
    # a: max_batch_size 4 in its config.pbtxt; b: 0 (no batching at all)
    g = grids.make(["1g.5gb"], ["a", "b"], [0, 4, 8], [1], [1, 2], 1000, {}, {"a": 4, "b": 0})
    assert [(s.model, s.max_batch_size) for s in g.settings] == [("a", 0), ("a", 4), ("b", 0)]
    assert [(s.model, s.max_batch_size) for s, _ in g.skipped] == [("a", 8), ("b", 4), ("b", 8)]
    text = grids.describe(g, "GPU", "h1")
    assert "3 setting(s), concurrency 1, 2, 1000 ms windows x 3; 3 setting(s) skipped" in text
    assert ("  skipped: 1g.5gb a, dynamic batching up to 8, 1 instance(s): 8 is more than model 'a' takes: "
            "its config.pbtxt has max_batch_size 4") in text
    assert "  skipped: 1g.5gb b, dynamic batching up to 4, 1 instance(s): model 'b' does not batch" in text
    assert "at most 6 point(s)" in text


def test_without_the_models_configs_every_setting_is_kept():
    g = grids.make(["1g.5gb"], ["a"], [0, 8], [1], [1], 1000, {})
    assert len(g.settings) == 2 and g.skipped == ()
