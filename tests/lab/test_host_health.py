"""Health and drift that tell the truth, on one lab host: with every Triton stopped by hand, the host's
health endpoint answers 503 within a few of Envoy's health-check intervals, and `migfleet drift`
names the host and each stopped Triton; a deploy restores it, and both say so."""
from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from labtools import REPO, deploy
from migfleet.serving.containers import LABEL_ROLE
from migfleet.serving.settings import defaults

pytestmark = pytest.mark.lab

HOST = "lab-h3"             # H100: two 3g.40gb, two Tritons
SETTINGS = defaults()
INTERVAL_S = SETTINGS["envoy_health_interval_s"]
# Envoy marks an endpoint unhealthy after envoy_unhealthy_threshold failed checks (one, when the
# Triton answers 503 while it shuts down); the health filter reads that state on the next request.
BOUND_INTERVALS = SETTINGS["envoy_unhealthy_threshold"] + 2


def health(address: str) -> int:
    url = f"http://{address}:{SETTINGS['envoy_http_port']}{SETTINGS['envoy_health_path']}"
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def wait_for_status(address: str, status: int, intervals: float) -> float:
    """Seconds until the health endpoint answers `status`, polled; fails past `intervals` intervals."""
    start = time.monotonic()
    deadline = start + intervals * INTERVAL_S
    last = None
    while time.monotonic() < deadline:
        last = health(address)
        if last == status:
            return time.monotonic() - start
        time.sleep(0.05)
    raise AssertionError(f"{HOST}: health endpoint still {last}, not {status}, after {intervals} intervals "
                         f"of {INTERVAL_S} s")


def drift() -> tuple[int, list[dict], str]:
    proc = subprocess.run([sys.executable, "-m", "migfleet", "drift", "inventories/lab.py", "--limit", HOST,
                           "--json"], cwd=REPO, capture_output=True, text=True, timeout=120)
    return proc.returncode, [json.loads(line) for line in proc.stdout.splitlines()], proc.stderr


def tritons(lab) -> list[str]:
    out = lab.ssh(HOST, f"docker ps -a --filter label={LABEL_ROLE}=triton --format '{{{{.Names}}}}'").stdout
    return sorted(out.split())


def test_every_triton_stopped_fails_health_and_drift_names_each(deployed):
    lab = deployed
    address = next(h["address"] for h in lab.inventory["hosts"] if h["name"] == HOST)
    deploy("--limit", HOST)
    names = tritons(lab)
    assert len(names) == 2 and health(address) == 200
    rc, found, err = drift()
    assert rc == 0 and found == [], err
    try:
        lab.ssh(HOST, "docker stop " + " ".join(names), timeout=120)
        took = wait_for_status(address, 503, BOUND_INTERVALS)
        print(f"{HOST}: health endpoint 503 {took:.2f} s after the last Triton stopped "
              f"({took / INTERVAL_S:.2f} health-check intervals of {INTERVAL_S} s)")
        rc, found, err = drift()
        assert rc == 1 and {f["host"] for f in found} == {HOST}, (found, err)
        for name in names:
            state = [f for f in found if f["field"] == f"container {name} state"]
            assert [(s["expected"], s["found"]) for s in state] == [("running", "exited")], found
            assert any(f["field"].startswith("Envoy cluster triton_http") and f"({name})" in f["field"] + f["expected"]
                       for f in found), found
        assert f"drift: 1 of 1 host(s) differ from inventories/lab.py ({HOST})" in err
    finally:
        deploy("--limit", HOST)         # a deploy starts the stopped Tritons again
    took = wait_for_status(address, 200, 30 / INTERVAL_S)
    print(f"{HOST}: health endpoint 200 {took:.2f} s after the deploy ended")
    rc, found, err = drift()
    assert rc == 0 and found == [], (found, err)
