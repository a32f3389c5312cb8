"""The lab state file (STATE_DIR/lab.json): what `up` created, written before it is created, so
that `down` after a crash or an interrupted `up` knows what to remove."""
from __future__ import annotations

import fcntl
import json
import threading
from contextlib import contextmanager
from pathlib import Path

from . import STATE_DIR, THIN
from .atomic import write_atomic
from .host_boot import Running

STATE_FILE = STATE_DIR / "lab.json"
LOCK_FILE = Path("/run/lock/migfleet-thin.lock" if THIN else "/run/lock/migfleet-lab.lock")   # one per lab


class LabState:
    def __init__(self, data: dict | None = None):
        self.data = data or {"gpus": None, "hosts": {}}
        self._mutex = threading.RLock()   # boot threads update their own host's entry

    @classmethod
    def load(cls) -> "LabState":
        try:
            return cls(json.loads(STATE_FILE.read_text()))
        except FileNotFoundError:
            return cls()

    def save(self) -> None:
        with self._mutex:
            STATE_DIR.mkdir(parents=True, exist_ok=True)
            write_atomic(STATE_FILE, json.dumps(self.data, indent=2, sort_keys=True))

    @property
    def host_numbers(self) -> list[int]:
        return sorted(int(k) for k in self.data["hosts"])

    def host(self, n: int) -> dict:
        with self._mutex:
            return self.data["hosts"].setdefault(str(n), {})

    def update(self, n: int, **values) -> None:
        with self._mutex:
            self.host(n).update(values)
            self.save()

    def running(self, n: int) -> Running | None:
        h = self.data["hosts"].get(str(n), {})
        return Running(h["pid"], h["start_time"]) if h.get("pid") else None

    def set_running(self, n: int, r: Running | None) -> None:
        self.update(n, pid=r.pid if r else None, start_time=r.start_time if r else None)

    def forget(self, n: int) -> None:
        with self._mutex:
            self.data["hosts"].pop(str(n), None)
            self.save()


@contextmanager
def exclusive():
    """One lab command that changes the lab at a time (up, down, reboot)."""
    LOCK_FILE.parent.mkdir(parents=True, exist_ok=True)
    with open(LOCK_FILE, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
