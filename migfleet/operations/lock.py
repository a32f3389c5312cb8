"""The host lock around a run's changes (facts.lock): marked before the first, removed after the last."""
from __future__ import annotations

from pyinfra.api import operation

from migfleet.facts import lock


@operation()
def changing(pid: int):
    """
    Mark this run's host lock: the run is changing the host (a deploy that stops before it removes the
    lock leaves a stale lock that says so).

    + pid: the lock's holder, this run's connection on the host (facts.lock.LockState.me)
    """
    yield lock.mark_command(pid)


@operation()
def released(pid: int):
    """
    Remove this run's host lock once its changes are done.

    + pid: the lock's holder, this run's connection on the host
    """
    yield lock.release_command(pid)
