"""No request lost where one need not be: a one-GPU host (lab-h3, H100) with two models, each under
its own load through the host's Envoy, through a sequence of layout changes and the reverse of each.

Where a Triton stays through a change, a model about to lose its last Triton is lent to it first
(loaded there and healthy in the model's clusters), so no request fails. Where none stays, the
host's health endpoint answers 503 before the first request fails (a fleet balancer moves the
traffic). A Triton that Docker restarts after a model move comes back with the models it serves now.

Puts the lab back (a deploy of inventories/lab.py) before it returns.
"""
from __future__ import annotations

import json
import re
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from labtools import LAB_INVENTORY, REPO, deploy

pytestmark = pytest.mark.lab

HOST = "lab-h3"                     # one NVIDIA H100 80GB HBM3
GROUP = "lend_lab"
A, B = "lab_classifier", "lab_adder"


def inst(profile: str, at: int, *models: str) -> dict:
    return {"profile": profile, "placements": [at], "models": list(models)}


BASE = [inst("3g.40gb", 0, A), inst("3g.40gb", 4, B)]
LOSES_ALL = [inst("2g.20gb", 0, A), inst("3g.40gb", 4, B)]            # A's one instance replaced, B's stays
SWAPPED = [inst("3g.40gb", 0, B), inst("3g.40gb", 4, A)]              # same instances, models swapped
SPLIT = [inst("2g.20gb", 0, A), inst("1g.10gb", 2, A), inst("3g.40gb", 4, B)]   # A's instance split in two
WHOLE = [inst("7g.80gb", 0, A, B)]                                      # no instance stays
# (name, layout, whether a Triton can stay through the change, the lends the deploy plans)
LENT = [(A, "triton-gpu0-s4")]
STEPS = [("one model loses every instance", LOSES_ALL, True, LENT), ("reverse: it gets one back", BASE, True, LENT),
         ("the two models swap instances", SWAPPED, True, []), ("reverse: swapped back", BASE, True, []),
         ("a model's instance split into two", SPLIT, True, LENT), ("reverse: the two merged", BASE, True, LENT),
         ("every instance replaced (none can stay)", WHOLE, False, []), ("reverse: split again", BASE, False, [])]
RATE = 15.0                         # requests/s per model


def write_inventory(folder: Path, layout: list[dict]) -> Path:
    """lab-h3 alone, this layout, and a capacity table (10 requests/s per slice for either model)
    that weighs each model's endpoints in Envoy."""
    (folder / "group_data").mkdir(parents=True, exist_ok=True)
    rules = [{"gpus": {"model": "NVIDIA H100 80GB HBM3"}, "instances": layout}]
    table = folder / "capacity.json"
    table.write_text(json.dumps({"version": 1, "gpus": {"NVIDIA H100 80GB HBM3": {
        p: {"rps": {A: 10.0 * int(p[0]), B: 10.0 * int(p[0])}} for p in ("1g.10gb", "2g.20gb", "3g.40gb", "7g.80gb")}}}))
    (folder / "group_data" / f"{GROUP}.py").write_text(f"mig_layout = {rules!r}\ntriton_capacity_table = {str(table)!r}\n")
    path = folder / f"{GROUP}.py"
    path.write_text("import runpy\n"
                    f"_hosts, _group = runpy.run_path({str(LAB_INVENTORY)!r})['lab']\n"
                    f"{GROUP} = ([(n, d) for n, d in _hosts if n == {HOST!r}], _group)\n")
    return path


def body_for(model: str) -> bytes:
    text = (REPO / "files" / "models" / model / "config.pbtxt").read_text()
    block = re.search(r"input\s*\[\s*\{(.*?)\}", text, re.S).group(1)
    dims = [max(int(d), 1) for d in re.search(r"dims:\s*\[([^\]]*)\]", block).group(1).split(",")]
    size = 1
    for d in dims:
        size *= d
    dtype = re.search(r"data_type:\s*TYPE_(\w+)", block).group(1)
    return json.dumps({"inputs": [{"name": re.search(r'name:\s*"([^"]+)"', block).group(1), "datatype": dtype,
                                   "shape": dims, "data": [1] * size}]}).encode()


class Watch:
    """Requests at RATE per model through the host's Envoy, and its health endpoint polled every
    50 ms; each outcome kept with its time."""

    def __init__(self, address: str):
        self.address, self.stop = address, threading.Event()
        self.sent = {A: 0, B: 0}
        self.failures: list[tuple[float, str]] = []
        self.health: list[tuple[float, int]] = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._load, args=(m,), daemon=True) for m in (A, B)]
        self.threads.append(threading.Thread(target=self._health, daemon=True))
        for t in self.threads:
            t.start()

    def _load(self, model: str) -> None:
        body, url = body_for(model), f"http://{self.address}:8000/v2/models/{model}/infer"
        next_at = time.monotonic()
        while not self.stop.is_set():
            at, error = time.monotonic(), None
            try:
                req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
                with urllib.request.urlopen(req, timeout=10) as answer:
                    answer.read()
            except Exception as exc:        # every failure is a finding, whatever its kind
                error = f"{model}: {exc!r}"
            with self.lock:
                self.sent[model] += 1
                if error:
                    self.failures.append((at, error))
            next_at += 1.0 / RATE
            time.sleep(max(0.0, next_at - time.monotonic()))

    def _health(self) -> None:
        while not self.stop.is_set():
            at = time.monotonic()
            try:
                with urllib.request.urlopen(f"http://{self.address}:8000/migfleet/healthz", timeout=2) as r:
                    status = r.status
            except urllib.error.HTTPError as e:
                status = e.code
            except OSError:
                status = 0
            with self.lock:
                self.health.append((at, status))
            time.sleep(0.05)

    def finish(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=30)


def served_models(lab, name: str) -> dict[str, set[str]]:
    """{Triton: models loaded and ready} of every Triton on the host, from its repository API."""
    out = lab.ssh(HOST, "for f in /etc/migfleet/tritons/*.json; do python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); "
                        "print(d[\"name\"], d[\"http_port\"])' \"$f\"; done", timeout=30).stdout
    models = {}
    for line in out.splitlines():
        triton, port = line.split()
        index = lab.ssh(HOST, f"curl -s -X POST -d '{{\"ready\": true}}' http://127.0.0.1:{port}/v2/repository/index",
                        timeout=30, check=False).stdout
        models[triton] = {m["name"] for m in json.loads(index or "[]")}
    return models


def weights_of(lab, model: str) -> dict[int, int | None]:
    """{port: load_balancing_weight} of the model's HTTP cluster, from the host's EDS file."""
    doc = json.loads(lab.ssh(HOST, f"cat /etc/migfleet/envoy/eds-triton_http.{model}.json", timeout=30).stdout)
    return {e["endpoint"]["address"]["socket_address"]["port_value"]: e.get("load_balancing_weight")
            for e in doc["resources"][0]["endpoints"][0]["lb_endpoints"]}


def restart_keeps_the_moves(lab) -> None:
    """After the swap, each Triton serves the other model; one Docker restarts comes back with it."""
    before = served_models(lab, HOST)
    assert before == {"triton-gpu0-s0": {B}, "triton-gpu0-s4": {A}}, before
    lab.ssh(HOST, "docker restart triton-gpu0-s0", timeout=120)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and served_models(lab, HOST).get("triton-gpu0-s0") != {B}:
        time.sleep(1)
    assert served_models(lab, HOST)["triton-gpu0-s0"] == {B}


def test_lend_or_drain_through_layout_changes_under_load(deployed, tmp_path, capsys):
    address = next(h["address"] for h in deployed.inventory["hosts"] if h["name"] == HOST)
    inventory = write_inventory(tmp_path, BASE)
    report = []
    try:
        deploy(inventory=inventory)
        time.sleep(5)
        for name, layout, stays, lent in STEPS:
            write_inventory(tmp_path, layout)
            watch, started = Watch(address), time.monotonic()
            try:
                time.sleep(3)
                done = deploy(inventory=inventory)
                time.sleep(5)
            finally:
                watch.finish()
            first_503 = next((at for at, status in watch.health if status == 503), None)
            first_fail = min((at for at, _ in watch.failures), default=None)
            out = done.stdout + done.stderr
            lends = sorted(set(re.findall(r"lend: (\S+) loaded into (\S+)", out)))
            drained = "drain: no Triton that stays can take" in out
            since = {what: f"+{at - started:.1f} s" if at else "never" for what, at in (("503", first_503), ("fail", first_fail))}
            report.append(f"{name}: sent {watch.sent[A]} {A} + {watch.sent[B]} {B}, failed {len(watch.failures)}; "
                          f"lends {lends or 'none'}; healthz 503 in {sum(st == 503 for _, st in watch.health)} of "
                          f"{len(watch.health)} polls, first {since['503']}; first failure {since['fail']}")
            assert watch.sent[A] > 50 and watch.sent[B] > 50, report[-1]
            assert lends == lent and drained == (not stays), report[-1]
            if stays:
                assert not watch.failures, report[-1] + "\n" + "\n".join(e for _, e in watch.failures[:10])
            elif first_fail is not None:
                assert first_503 is not None and first_503 < first_fail, report[-1]
            assert watch.health[-1][1] == 200, f"{report[-1]}: healthz {watch.health[-1][1]} once served"
            if layout is SWAPPED:
                restart_keeps_the_moves(deployed)
            if layout is SPLIT:         # the 2g.20gb instance gets twice the 1g.10gb's share of A
                weights = weights_of(deployed, A)
                report.append(f"  weights of {A}'s endpoints (port: weight): {weights}")
                assert sorted(weights.values()) == [100, 200], weights
        with capsys.disabled():
            print("\n" + "\n".join(report))
    finally:
        deploy()        # the lab's own layout again
