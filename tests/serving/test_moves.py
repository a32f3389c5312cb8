"""Lends and model moves of the host-side rotation, against run files, served files and a Triton
stand-in for the repository API (what each Triton has loaded)."""
from __future__ import annotations

import pytest

from migfleet.serving import rebind, rotation, settings as serving_settings, triton
from migfleet.serving.endpoints import parse_clusters


def _triton(gi: int, profile: str, models: tuple[str, ...]) -> triton.Triton:
    http = 20000 + 100 * gi
    return triton.Triton(f"triton-gpu0-s{gi}", triton.Place(0, gi, 0, "GPU-a", profile),
                         triton.TritonPorts(http, http + 1, http + 2), ("--label", "x"), "c", models)


@pytest.fixture
def host(tmp_path, monkeypatch):
    """x (s0, 4g.40gb) serves a, y (s4, 3g.40gb) serves b; both run. Loads and unloads are recorded
    with the served files as they were at that moment; Envoy says every endpoint is healthy."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    for t in (_triton(0, "4g.40gb", ("a",)), _triton(4, "3g.40gb", ("b",))):
        (run_dir / f"{t.name}{triton.RUN_SUFFIX}").write_text(t.to_json())
    config = dict(rotation.host_config(serving_settings.defaults(), {"a": 500, "b": 500}), run_dir=str(run_dir),
                  served_dir=str(tmp_path / "served"), envoy_dir=str(tmp_path / "envoy"), drain_seconds=0)
    (tmp_path / "envoy").mkdir()
    h = rotation.Host(config, say=lambda m: h.said.append(m))
    h.said, h.calls, h.loaded = [], [], {"triton-gpu0-s0": {"a"}, "triton-gpu0-s4": {"b"}}
    by_port = {20000: "triton-gpu0-s0", 20400: "triton-gpu0-s4"}

    def served_now():
        return {n: rebind.read_served(n, str(tmp_path / "served")) for n in by_port.values()}

    def load(t, m, timeout):
        h.loaded[t.name].add(m)
        h.calls.append(("load", t.name, m, served_now()))

    def unload(t, m):
        h.loaded[t.name].discard(m)
        h.calls.append(("unload", t.name, m, served_now()))

    monkeypatch.setattr(rebind, "load", load)
    monkeypatch.setattr(rebind, "unload", unload)
    monkeypatch.setattr(rebind, "loaded", lambda t: set(h.loaded[t.name]))
    monkeypatch.setattr(rebind, "ready", lambda port: True)
    monkeypatch.setattr(h, "containers", lambda stopped=False: set(h.loaded))
    monkeypatch.setattr(h, "endpoints", lambda: parse_clusters(""))
    monkeypatch.setattr(h, "wait_healthy", lambda tritons, models=None: h.calls.append(
        ("healthy", sorted(t.name for t in tritons), served_now())) or [])
    monkeypatch.setattr(h, "sync", lambda leaving=frozenset(), gpus=None, keep=None: h.calls.append(
        ("sync", sorted(leaving), served_now())))
    return h


def test_a_model_losing_its_last_triton_is_lent_healthy_before_the_triton_goes(host):
    assert host.lend({"triton-gpu0-s0"}) == {"a": "triton-gpu0-s4"}
    kinds = [c[0] for c in host.calls]
    # loaded; ready and healthy again in the Triton clusters; into a's clusters beside the Triton going
    # (none leaves yet); healthy there
    assert kinds == ["load", "healthy", "sync", "healthy"], host.calls
    assert host.calls[1][1] == ["triton-gpu0-s4"] and host.calls[2][1] == []
    assert host.calls[3][2]["triton-gpu0-s4"] == ("a", "b")       # its served file: a restart keeps the lend
    assert any(m.startswith("lend: a loaded into triton-gpu0-s4") for m in host.said)


def test_no_memory_for_the_model_drains_it_and_says_so(host):
    host.model_mib = {"a": 40500, "b": 500}
    assert host.lend({"triton-gpu0-s0"}) == {}
    assert [c[0] for c in host.calls] == [] and any(m.startswith("drain: no Triton") for m in host.said)


def test_the_lend_is_given_back_after_the_new_tritons_serve_it(host):
    host.lend({"triton-gpu0-s0"})
    host.calls.clear()
    assert host.models({"triton-gpu0-s4"})
    kinds = [c[0] for c in host.calls]
    assert kinds == ["sync", "healthy", "sync", "unload"], host.calls
    # it leaves a's clusters (served file without a) before it unloads a
    assert host.calls[2][2]["triton-gpu0-s4"] == ("b",) and host.calls[3][1:3] == ("triton-gpu0-s4", "a")
    assert host.loaded["triton-gpu0-s4"] == {"b"}


def test_a_move_loads_the_gain_before_the_loss_leaves(host, tmp_path):
    moved = _triton(4, "3g.40gb", ("a",))
    (tmp_path / "run" / f"{moved.name}{triton.RUN_SUFFIX}").write_text(moved.to_json())
    assert host.models({"triton-gpu0-s4"})
    kinds = [(c[0], c[2] if c[0] in ("load", "unload") else None) for c in host.calls]
    assert kinds == [("load", "a"), ("sync", None), ("healthy", None), ("sync", None), ("unload", "b")]
    assert host.calls[1][2]["triton-gpu0-s4"] == ("a", "b") and host.calls[3][2]["triton-gpu0-s4"] == ("a",)


def test_drain_lends_first_then_stops(host, monkeypatch):
    removed = []
    monkeypatch.setattr(rotation.subprocess, "run", lambda argv, **kw: removed.append(argv))
    monkeypatch.setattr(host, "active", lambda names, models=None: 0)
    assert host.drain({"triton-gpu0-s0"}) == {"a": "triton-gpu0-s4"}
    assert host.calls[0][0] == "load" and removed == [["docker", "rm", "-f", "triton-gpu0-s0"]]


def test_a_roll_lends_then_gives_the_lend_back_once_the_triton_is_started_again(host, monkeypatch):
    steps = []
    monkeypatch.setattr(host, "drain", lambda names, stop=True: steps.append(("drain", sorted(names))) or
                        {"a": "triton-gpu0-s4"})
    monkeypatch.setattr(host, "start", lambda names=None: steps.append(("start", sorted(names))) or True)
    monkeypatch.setattr(host, "models", lambda names=None: steps.append(("models", sorted(names))) or True)
    assert host.roll(["triton-gpu0-s0"])
    assert steps == [("drain", ["triton-gpu0-s0"]), ("start", ["triton-gpu0-s0"]), ("models", ["triton-gpu0-s4"])]


def test_a_swap_changes_one_triton_at_a_time_each_back_before_the_next(host, tmp_path):
    for t in (_triton(0, "4g.40gb", ("b",)), _triton(4, "3g.40gb", ("a",))):
        (tmp_path / "run" / f"{t.name}{triton.RUN_SUFFIX}").write_text(t.to_json())
    assert host.models()
    steps = [(c[0], c[1]) if c[0] != "sync" else ("sync", None) for c in host.calls]
    assert steps == [("load", "triton-gpu0-s0"), ("healthy", ["triton-gpu0-s0"]),
                     ("load", "triton-gpu0-s4"), ("healthy", ["triton-gpu0-s4"]),
                     ("sync", None), ("healthy", ["triton-gpu0-s0", "triton-gpu0-s4"]), ("sync", None),
                     ("unload", "triton-gpu0-s0"), ("healthy", ["triton-gpu0-s0"]),
                     ("unload", "triton-gpu0-s4"), ("healthy", ["triton-gpu0-s4"])]
    assert host.loaded == {"triton-gpu0-s0": {"b"}, "triton-gpu0-s4": {"a"}}


def test_new_settings_reload_the_model_in_place_and_the_triton_is_ready_again_before_the_next(host, tmp_path,
                                                                                              monkeypatch):
    """Same models, new Triton settings for b: b is reloaded with them (rebind.apply_settings), nothing is
    unloaded, and the Triton is ready and healthy again before the rotation goes on."""
    from dataclasses import replace
    from migfleet.mig.desired import ServedModel
    tuned = replace(_triton(4, "3g.40gb", ("b",)), settings=(ServedModel("b", 2, 0),))
    (tmp_path / "run" / f"{tuned.name}{triton.RUN_SUFFIX}").write_text(tuned.to_json())
    applied = []
    monkeypatch.setattr(rebind, "apply_settings", lambda t, timeout, models=None: applied.append(
        (t.name, t.settings)) or ([m.name for m in t.settings], []))
    again = []
    monkeypatch.setattr(host, "ready_again", lambda t: again.append(t.name))
    assert host.models()
    assert applied == [("triton-gpu0-s0", ()), ("triton-gpu0-s4", (ServedModel("b", 2, 0),))]
    assert again == ["triton-gpu0-s4"] and not [c for c in host.calls if c[0] in ("load", "unload")]
    assert "settings: b reloaded in triton-gpu0-s4 with its Triton settings" in host.said
