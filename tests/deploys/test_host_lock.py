"""The deploy and the host lock its one read reports: a host another deploy holds fails at prepare
time with one line naming the holder, nothing queued; a stale lock taken over is logged; --dry warns."""
from __future__ import annotations

import logging
from dataclasses import replace

import pytest

from migfleet.deploys import context
from migfleet.facts import host as host_fact
from migfleet.facts import lock as host_lock
from migfleet.facts.lock import Holder, LockState
from tests.deploys.test_preflight import DATA, H200, U0, U1, errors, prepare
from tests.operations.conftest import sim_host_read  # noqa: F401  (the fixture, used below)
from tests.operations.simulated_gpus import SimulatedGpus, gpu

ME = Holder(4242, 900, 1796400000, "sshd")
OTHER = Holder(3131, 700, 1796399000, "sshd", "ops@ctl-2")


@pytest.fixture
def locks(monkeypatch, sim_host_read):  # noqa: F811
    """Each host's read as the simulator gives it, with the lock state named for it."""
    from pyinfra import context as pyinfra_context
    states: dict[str, LockState] = {}
    simulated = host_fact.parse_host

    def parse_host(text, *args):
        view = simulated(text, *args)
        return replace(view, lock=states.get(pyinfra_context.host.name.removeprefix("@fake/")))

    monkeypatch.setattr(host_fact, "parse_host", parse_host)
    return states


def hosts():
    return {"h1": (SimulatedGpus(gpu(0, H200, U0)), DATA), "h2": (SimulatedGpus(gpu(0, H200, U1)), DATA)}


def test_a_host_another_deploy_holds_fails_at_once_naming_the_holder(locks, caplog):
    locks["h1"] = LockState("locked", ME, OTHER)
    locks["h2"] = LockState("taken", ME)
    with caplog.at_level(logging.INFO):
        fleet = prepare(hosts())
    assert fleet.failed == {"h1"}
    [line] = errors(caplog)
    assert line == ("[@fake/h1] another migfleet deploy holds this host: PID 3131 (sshd for ops@ctl-2) since "
                    "2026-12-04 15:43:20 UTC; wait for it or, if that deploy is gone, end its connection on the "
                    "host (kill 3131) and run again")
    assert fleet.ops("h1") == [] and fleet.ops("h2")
    fleet.execute()
    assert fleet.host("h1").connector.sim.executed == []


def test_a_stale_lock_of_a_deploy_cut_off_mid_change_is_taken_over_and_logged(locks, caplog):
    locks["h1"] = LockState("took-over", ME, replace(OTHER, changing=True))
    locks["h2"] = LockState("took-over", ME, OTHER)         # a run that changed nothing: no word
    with caplog.at_level(logging.INFO):
        fleet = prepare(hosts())
    assert fleet.failed == set() and errors(caplog) == [] and fleet.ops("h1")
    assert ("[@fake/h1] took over a stale lock from PID 3131 (sshd for ops@ctl-2) (started 2026-12-04 15:43:20 "
            "UTC): that deploy ended in the middle of a change; this run converges what it left") in caplog.text
    assert "h2] took over" not in caplog.text


def test_a_changing_run_marks_its_lock_first_and_releases_it_last(locks):
    locks["h1"] = LockState("taken", ME)
    locks["h2"] = LockState("ours", ME)
    fleet = prepare(hosts())
    for name in ("h1", "h2"):
        ops = fleet.ops(name)
        assert ops[0].endswith("| Host lock: changing") and ops[-1] == "Host lock: released", ops
        assert len(ops) > 2


def test_a_run_that_changes_nothing_leaves_the_lock_to_its_connection(locks, monkeypatch):
    locks["h1"] = LockState("taken", ME)
    monkeypatch.setattr(context, "queue", lambda op, **kwargs: context._Unchanged())     # nothing to change
    fleet = prepare({"h1": hosts()["h1"]})
    assert fleet.ops("h1") == []


def test_dry_warns_of_a_deploy_holding_the_host(locks, caplog):
    locks["h1"] = LockState("active", ME, OTHER)
    with caplog.at_level(logging.INFO):
        fleet = prepare(hosts())
    assert fleet.failed == set() and fleet.ops("h1")
    [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "PID 3131 (sshd for ops@ctl-2)" in warning and warning.endswith("(--dry takes no lock)")


def test_the_read_takes_the_lock_unless_dry(monkeypatch):
    context.pyinfra_arguments.cache_clear()
    assert not context.dry_run()            # pyinfra's API (here under pytest): no --dry
    monkeypatch.setattr("sys.argv", ["/venv/bin/pyinfra", "inventory.py", "deploy.py", "--dry"])
    context.pyinfra_arguments.cache_clear()
    assert context.dry_run()
    monkeypatch.setattr("sys.argv", ["/venv/bin/pyinfra", "inventory.py", "deploy.py", "-y"])
    context.pyinfra_arguments.cache_clear()
    assert not context.dry_run()
    context.pyinfra_arguments.cache_clear()
    assert "[ 1 = 0 ]" in host_lock.command("a@b", take=True) and "[ 0 = 0 ]" in host_lock.command("a@b", take=False)
    assert "@@migfleet lock" in host_fact.host_command(lock=host_lock.command("a@b", take=True))
    assert "@" in context.controller() and " " not in context.controller()
