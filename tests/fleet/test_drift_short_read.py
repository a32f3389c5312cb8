"""Drift's and `validate --live`'s read, short where the host's GPUs read as they did last time."""
from __future__ import annotations

import shlex
import subprocess

import pytest

from migfleet.deploys.context import host_code
from migfleet.facts import noop_digest
from migfleet.fleet import drift as fleet_drift
from migfleet.fleet.ssh import FleetError
from migfleet.mig import smi

from .captures import snapshot, snapshot_text

NAMES = (*smi.NAMES, "containers")


@pytest.fixture
def host(tmp_path, monkeypatch):
    """A host answering from a file (its read's output) with migfleet's host code in its lib dir."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    lib = tmp_path / "lib"
    for name, data in host_code().items():
        (lib / name).parent.mkdir(parents=True, exist_ok=True)
        (lib / name).write_bytes(data)
    monkeypatch.setattr(noop_digest, "LIB_DIR", str(lib))
    out = tmp_path / "read.txt"
    asked = []

    def run_on_host(command, timeout):
        asked.append(command)
        proc = subprocess.run(["/bin/sh", "-c", command], capture_output=True, text=True, timeout=timeout)
        return proc.returncode, proc.stdout, proc.stderr

    def read(text: str):
        out.write_text(text + f"@@migfleet containers\n[]\n@@migfleet rc=0\n")
        sec, gpus = fleet_drift.short_read("h1", f"cat {shlex.quote(str(out))}", NAMES, run_on_host, "drift")
        return sec, gpus, asked[-1]
    return read


def test_the_second_read_of_an_unchanged_host_is_short_and_gives_the_same_snapshot(host):
    text = snapshot_text("h100-mixed")
    sec, gpus, _ = host(text)
    assert gpus == snapshot("h100-mixed") and sec["containers"] == (0, "[]")
    sec2, gpus2, asked = host(text)
    assert "noop_digest snapshot" in asked and gpus2 == gpus and sec2 == {"containers": (0, "[]")}


def test_a_mig_mode_changed_by_hand_is_read_in_full(host):
    host(snapshot_text("h100-mixed"))
    from .captures import CAPTURES
    query = (CAPTURES / "h100-mixed" / "query.csv").read_text()
    pending = query.replace("00000000:00:07.0, Disabled, Disabled", "00000000:00:07.0, Disabled, Enabled")
    assert pending != query
    sec, gpus, asked = host(snapshot_text("h100-mixed", {"query": pending}))
    assert "noop_digest snapshot" in asked and "containers" in sec and len(sec) == len(NAMES)
    assert gpus == snapshot("h100-mixed", {"query": pending}) and gpus != snapshot("h100-mixed")
    assert [g.mig_pending for g in gpus.values()] == [True, True]


def test_an_unchanged_answer_to_a_digest_not_sent_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    with pytest.raises(FleetError, match="h1: the host answered unchanged 0{64}, a digest this read did not send"):
        fleet_drift.short_read("h1", "true", NAMES, lambda c, t: (0, "unchanged " + "0" * 64 + "\n", ""), "drift")
