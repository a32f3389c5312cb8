"""The time limit on inventory and group data code, which pyinfra runs on gevent.

A SIGALRM after the limit raises TooSlow in the code, and again every quarter second while the code
swallows it. Code blocked in a system call (time.sleep, socket.recv) waits in gevent's hub, so the
alarm rings there: the hub would print what a callback raises (a traceback naming gevent's own
source) before throwing it into the waiting code; TooSlow is passed on without that print. Code that
swallows every alarm (`except BaseException` around a wait) is handed to `give_up`, which ends the
process: nothing else would return control to migfleet.
"""
from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path

# Seconds inventory and group data code may run (MIGFLEET_LOAD_TIMEOUT overrides: a site whose
# inventory asks a slow CMDB); well within what any migfleet command may take as a whole.
LOAD_SECONDS = 5.0
# Alarms (4 a second, after the limit) that inventory code may swallow before migfleet gives up on it.
IGNORED_RINGS = 8


class TooSlow(BaseException):
    """Raised into inventory code that runs past the time limit (not an Exception: `except Exception`
    in that code must not swallow it)."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        super().__init__(seconds)


def limit() -> float:
    try:
        return max(float(os.environ.get("MIGFLEET_LOAD_TIMEOUT", LOAD_SECONDS)), 0.1)
    except ValueError:
        return LOAD_SECONDS


@contextlib.contextmanager
def time_limit(seconds: float, give_up: Callable[[float, object], None]):
    """SIGALRM after `seconds`, and every quarter second after that while the code swallows it;
    `give_up(seconds, frame)` past IGNORED_RINGS of those (it must not return)."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return

    rings = [0]

    def ring(signum, frame):
        rings[0] += 1
        if rings[0] > IGNORED_RINGS:
            give_up(seconds, frame)
        raise TooSlow(seconds)

    old = signal.signal(signal.SIGALRM, ring)
    signal.setitimer(signal.ITIMER_REAL, seconds, 0.25)
    try:
        with quiet_hub():
            yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


@contextlib.contextmanager
def quiet_hub():
    """gevent's hub passes TooSlow on to the waiting code without printing it."""
    gevent = sys.modules.get("gevent")
    hub = gevent.get_hub() if gevent is not None else None
    if hub is None:
        yield
        return
    before = hub.__dict__.get("NOT_ERROR")
    hub.NOT_ERROR = (*type(hub).NOT_ERROR, TooSlow)
    try:
        yield
    finally:
        if before is None:
            del hub.NOT_ERROR
        else:
            hub.NOT_ERROR = before


def waiting_frame(frame):
    """The frame of the code the alarm interrupted: where it rang in gevent's hub, the code waits in
    the hub's parent greenlet."""
    gevent = sys.modules.get("gevent")
    if gevent is not None and frame is not None:
        hub = gevent.get_hub()
        if gevent.getcurrent() is hub and getattr(hub.parent, "gr_frame", None) is not None:
            return hub.parent.gr_frame
    return frame


def end_children() -> None:
    """Processes the code started and left waiting (a `sleep` in its loop) hold this process's output
    open: whoever reads it would wait for them. Linux lists them in /proc; elsewhere nothing is done."""
    for children in Path("/proc/self/task").glob("*/children"):
        try:
            pids = [int(p) for p in children.read_text().split()]
        except (OSError, ValueError):
            continue
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
