"""`migfleet measure` on a lab host, end to end: drain, one profile at a time, Triton settings through
the repository API, perf_analyzer on the host, the table advise reads, restore and undrain. A run
killed part way is restored by the next deploy and resumed by the next run without a point
measured twice; the other host serves through its own Envoy with no failed request meanwhile."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from labtools import LAB_INVENTORY, REPO, deploy
from migfleet.advise import capacity
from migfleet.inventory.model_files import read_max_batch_size
from migfleet.measure import grid as grids
from migfleet.measure.results import Results, points_path
from migfleet.serving import settings as serving_settings

pytestmark = pytest.mark.lab

CANARY, OTHER = "lab-h1", "lab-h2"
MARKER = "/etc/migfleet/measure.json"
S = serving_settings.resolve({})
PROFILES = ("1g.5gb", "3g.20gb")        # lab-h1's GPUs: A100-SXM4-40GB
ARGS = ("--gpu", "0", "--profiles", *PROFILES, "--models", "lab_classifier", "lab_adder", "--batch", "0,4",
        "--instances", "1", "--concurrency", "1,2,4", "--window-ms", "500", "--p99-ms", "200")


def measure_argv(out: Path) -> list[str]:
    return [sys.executable, "-m", "migfleet", "measure", str(LAB_INVENTORY), "--host", CANARY, *ARGS, "--out", str(out)]


def health(lab, host: str) -> int:
    address = next(h["address"] for h in lab.inventory["hosts"] if h["name"] == host)
    try:
        with urllib.request.urlopen(f"http://{address}:{S['envoy_http_port']}{S['envoy_health_path']}", timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


class Load:
    """lab_classifier requests through one host's Envoy, as fast as they answer; failures kept."""

    def __init__(self, lab, host: str):
        address = next(h["address"] for h in lab.inventory["hosts"] if h["name"] == host)
        self.url = f"http://{address}:{S['envoy_http_port']}/v2/models/lab_classifier/infer"
        self.body = json.dumps({"inputs": [{"name": "INPUT", "datatype": "FP32", "shape": [4],
                                            "data": [5.1, 3.5, 1.4, 0.2]}]}).encode()
        self.stop, self.sent, self.failures = threading.Event(), 0, []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop.is_set():
            try:
                req = urllib.request.Request(self.url, data=self.body, headers={"Content-Type": "application/json"})
                with urllib.request.urlopen(req, timeout=10) as r:
                    r.read()
            except Exception as exc:    # every failure is a finding
                self.failures.append(repr(exc))
            self.sent += 1
            time.sleep(0.02)

    def finish(self):
        self.stop.set()
        self.thread.join(timeout=30)


def keys(points) -> list[tuple]:
    return [(p["profile"], p["model"], p["max_batch_size"], p["instance_count"], p["concurrency"]) for p in points]


def drift() -> subprocess.CompletedProcess:
    """`migfleet drift` of the canary: exit 0 when its live MIG layout and serving match the inventory."""
    return subprocess.run([sys.executable, "-m", "migfleet", "drift", str(LAB_INVENTORY), "--limit", CANARY],
                          cwd=REPO, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)


def test_measure_end_to_end_killed_then_deployed_then_resumed(deployed, tmp_path):
    lab = deployed
    assert drift().returncode == 0
    out = tmp_path / "cap.json"
    load = Load(lab, OTHER)
    try:
        # killed part way: the host stays drained, the marker says so
        run = subprocess.Popen(measure_argv(out), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 400
        while time.monotonic() < deadline and run.poll() is None:
            if len(Results(points_path(out)).points) >= 3:
                break
            time.sleep(0.5)
        assert run.poll() is None, run.communicate()
        assert health(lab, CANARY) == 503
        run.send_signal(signal.SIGKILL)
        run.wait(timeout=30)
        cut = Results(points_path(out)).points
        assert len(cut) >= 3 and len(set(keys(cut))) == len(cut)
        assert lab.ssh(CANARY, f"test -f {MARKER}", check=False).returncode == 0

        # the next deploy restores the layout and Tritons, undrains and clears the marker
        deploy("--limit", CANARY)
        assert lab.ssh(CANARY, f"test -f {MARKER}", check=False).returncode == 1
        assert health(lab, CANARY) == 200 and drift().returncode == 0

        # resumed: only the missing points, then restored and undrained
        done = subprocess.run(measure_argv(out), cwd=REPO, capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, done.stderr[-4000:]
        assert "left" in done.stderr and "restoring its inventory layout" in done.stderr
    finally:
        load.finish()
    final = Results(points_path(out)).points
    assert final[:len(cut)] == cut                          # kept as measured
    assert len(set(keys(final))) == len(final)              # none measured twice
    models = ["lab_classifier", "lab_adder"]
    grid = grids.make(PROFILES, models, [0, 4], [1], [1, 2, 4], 500, {m: 200.0 for m in models},
                      {m: read_max_batch_size(REPO / "files" / "models", m) for m in models})
    assert grid.skipped                                     # batch 4: the lab models' configs say 0
    for setting in grid.settings:                           # every ladder it measures climbed to its end
        assert grids.next_concurrency(grid, setting, Results(points_path(out)).of("NVIDIA A100-SXM4-40GB", setting)) \
            is None, setting
    # the canary: no marker, in its inventory layout, undrained, spec passing
    assert lab.ssh(CANARY, f"test -f {MARKER}", check=False).returncode == 1
    assert health(lab, CANARY) == 200 and drift().returncode == 0
    spec = subprocess.run([sys.executable, "-m", "migfleet", "spec", str(LAB_INVENTORY), "--hosts-limit", CANARY, "-q"],
                          cwd=REPO, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
    assert spec.returncode == 0, spec.stdout[-4000:] + spec.stderr[-2000:]
    # the table advise reads: both profiles serve both models at the target, from the points measured
    cap = capacity.load([out])
    for profile in PROFILES:
        for model in ("lab_classifier", "lab_adder"):
            best = cap.best("NVIDIA A100-SXM4-40GB", profile, model)
            assert best is not None and best.p99_ms <= 200 and cap.rps("NVIDIA A100-SXM4-40GB", profile, model) == best.rate
    sources = json.loads(out.read_text())["source"]      # one a run: the killed one and the resumed one
    assert len(sources) == 2 and all(s["host"] == CANARY and s["triton"] == "2.51.0" and
                                     s["command"].startswith("migfleet measure") for s in sources), sources
    # the other host served through its own Envoy the whole time
    print(f"\nmeasure: {len(final)} points; {OTHER}: {load.sent} requests, {len(load.failures)} failed")
    assert load.sent > 100 and not load.failures, load.failures[:5]
