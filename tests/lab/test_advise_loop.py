"""The advise loop on two lab hosts: skewed load (model A about 5x model B) through each host's
Envoy, advise proposes more capacity for A, --write then `migfleet rollout` under the same load
fails no request (a model that loses every instance on a host is lent to a Triton that stays), and
advise asked again proposes nothing.

Needs models placed per MIG instance (`models: [...]` in mig_layout) and a second model in the
lab's repository; it is skipped without them. Puts the lab back (a deploy of inventories/lab.py)
before it returns.
"""
from __future__ import annotations

import json
import re
import runpy
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from labtools import LAB_INVENTORY, REPO, deploy

pytestmark = pytest.mark.lab

PROMETHEUS = "http://10.250.0.1:9090"
HOSTS = ("lab-h1", "lab-h2")            # 2 x A100-SXM4-40GB, and one A100-SXM4-80GB
MODELS_DIR = REPO / "files" / "models"
GROUP = "advise_lab"
# Today: the slices split about evenly between the two models.
LAYOUT = [
    {"gpus": {"model": "NVIDIA A100-SXM4-40GB"},
     "instances": [{"profile": "1g.5gb", "count": 4, "models": ["{a}"]},
                   {"profile": "1g.5gb", "count": 3, "models": ["{b}"]}]},
    {"gpus": {"model": "NVIDIA A100-SXM4-80GB"},
     "instances": [{"profile": "3g.40gb", "count": 1, "models": ["{a}"]},
                   {"profile": "2g.20gb", "count": 1, "models": ["{b}"]},
                   {"profile": "1g.10gb", "count": 2, "models": ["{b}"]}]},
]
SLICES = {"NVIDIA A100-SXM4-40GB": 14, "NVIDIA A100-SXM4-80GB": 7}     # per host of the model


def two_models() -> tuple[str, str, dict[str, tuple[str, str, list[int]]]]:
    """(A, B, inputs): the lab classifier and another model of the repository, with each one's first
    input (name, datatype, dims) read from its config.pbtxt."""
    names = sorted(p.name for p in MODELS_DIR.iterdir() if (p / "config.pbtxt").is_file())
    others = [n for n in names if n != "lab_classifier"]
    if "lab_classifier" not in names or not others:
        pytest.skip("the lab's model repository has one model; the loop needs two")
    inputs = {}
    for name in ("lab_classifier", others[0]):
        text = (MODELS_DIR / name / "config.pbtxt").read_text()
        block = re.search(r"input\s*\[\s*\{(.*?)\}", text, re.S).group(1)
        dtype = re.search(r"data_type:\s*TYPE_(\w+)", block).group(1)
        dims = [int(d) for d in re.search(r"dims:\s*\[([^\]]*)\]", block).group(1).split(",")]
        inputs[name] = (re.search(r'name:\s*"([^"]+)"', block).group(1), dtype, dims)
    return "lab_classifier", others[0], inputs


def schema_has_models() -> bool:
    schema = json.loads((REPO / "migfleet" / "schemas" / "mig.v1.json").read_text())
    return "models" in json.dumps(schema)


def write_inventory(folder: Path, a: str, b: str, uuids: dict[str, list[str]]) -> Path:
    """Hosts lab-h1 and lab-h2 with their GPUs' UUIDs (advise names one host's GPU by it when the
    two A100-40GB of lab-h1 get different layouts), group `advise_lab`, its group_data beside it."""
    (folder / "group_data").mkdir(parents=True, exist_ok=True)
    layout = json.loads(json.dumps(LAYOUT).replace("{a}", a).replace("{b}", b))
    (folder / "group_data" / f"{GROUP}.py").write_text(f'"""Two models, split evenly."""\n\nmig_layout = {layout!r}\n')
    path = folder / f"{GROUP}.py"
    path.write_text(
        "import runpy\n"
        f"_hosts, _group = runpy.run_path({str(LAB_INVENTORY)!r})['lab']\n"
        f"_uuids = {uuids!r}\n"
        f"{GROUP} = ([(n, {{**d, 'gpu_uuids': _uuids[n]}}) for n, d in _hosts if n in {list(HOSTS)!r}], _group)\n")
    return path


def migfleet(folder: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """From the repository root, as the other lab tests (the inventory's own group_data is beside it)."""
    return subprocess.run([sys.executable, "-m", "migfleet", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


class Load:
    """Requests at a fixed rate per model through each host's Envoy, counted and failures kept."""

    def __init__(self, lab, rates: dict[str, float], inputs):
        self.stop, self.sent, self.failures, self.threads = threading.Event(), 0, [], []
        self.lock = threading.Lock()
        for host in HOSTS:
            address = next(h["address"] for h in lab.inventory["hosts"] if h["name"] == host)
            for model, rate in rates.items():
                t = threading.Thread(target=self._run, args=(address, model, rate, inputs[model]), daemon=True)
                t.start()
                self.threads.append(t)

    def _run(self, address, model, rate, spec):
        name, dtype, dims = spec
        size = 1
        for d in dims:
            size *= max(d, 1)
        body = json.dumps({"inputs": [{"name": name, "datatype": "FP32" if dtype == "FP32" else dtype,
                                       "shape": [max(d, 1) for d in dims], "data": [0.5] * size}]}).encode()
        url = f"http://{address}:8000/v2/models/{model}/infer"
        next_at = time.monotonic()
        while not self.stop.is_set():
            try:
                req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
                with urllib.request.urlopen(req, timeout=10) as answer:
                    answer.read()
                ok = None
            except Exception as exc:    # every failure is a finding, whatever its kind
                ok = f"{address} {model}: {exc!r}"
            with self.lock:
                self.sent += 1
                if ok:
                    self.failures.append(ok)
            next_at += 1.0 / rate
            time.sleep(max(0.0, next_at - time.monotonic()))

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=30)


def capacity_for(demand: dict, a: str, b: str, path: Path) -> Path:
    """A table where each slice serves 1.08 x what the host needs (x1.3) spread over all its slices: a
    layout with most slices for A serves both, today's split (4 of 7 slices for A on the A100-40GB,
    3 of 7 on the A100-80GB) is short for A even without headroom."""
    per_slice = {}
    for model_name, slices in SLICES.items():
        host = HOSTS[0] if "40GB" in model_name else HOSTS[1]
        need = sum(demand.get((host, m), 0.0) for m in (a, b)) * 1.3
        per_slice[model_name] = need / slices * 1.08
    from migfleet.mig import catalog
    gpus = {m: {p.name: {"rps": {a: round(per_slice[m] * p.slices, 3), b: round(per_slice[m] * p.slices, 3)}}
                for p in catalog.lookup(m).profiles if "+" not in p.name} for m in SLICES}
    path.write_text(json.dumps({"version": 1, "p99_ms": 50, "source": "lab loop test", "gpus": gpus}))
    return path


def a_slices(module: Path, a: str) -> int:
    rules = runpy.run_path(str(module))["mig_layout"]
    return sum(int(i["profile"].split("g.")[0]) * len(i.get("placements", [None] * i.get("count", 1)))
               for r in rules for i in r.get("instances", []) if a in i.get("models", [a]))


def test_skewed_load_then_advise_write_rollout_and_nothing_more(deployed, tmp_path):
    a, b, inputs = two_models()
    if not schema_has_models():
        pytest.skip("mig_layout instances do not take `models` yet")
    uuids = {h: deployed.ssh(h, "nvidia-smi --query-gpu=uuid --format=csv,noheader").stdout.split() for h in HOSTS}
    inventory = write_inventory(tmp_path, a, b, uuids)
    module = tmp_path / "group_data" / f"{GROUP}.py"
    try:
        deploy(inventory=inventory)
        load = Load(deployed, {a: 10.0, b: 2.0}, inputs)
        try:
            time.sleep(75)          # a full minute of scrapes under load for the 1m window
            saved = tmp_path / "demand.json"
            first = migfleet(tmp_path, "advise", str(inventory), "--prometheus", PROMETHEUS, "--window", "1m",
                             "--save-demand", str(saved), "--capacity", str(REPO / "migfleet/advise/tables/lab.json"))
            assert first.returncode == 0, first.stderr
            from migfleet.advise import demand as demand_mod
            measured = demand_mod.parse(json.loads(saved.read_text()), "1m", str(saved))
            rates = {k: d.rps for k, d in measured.models.items()}
            assert all(rates.get((h, a), 0) > 3 * rates.get((h, b), 0) for h in HOSTS), rates
            cap = capacity_for(rates, a, b, tmp_path / "capacity.json")
            before = a_slices(module, a)
            proposed = migfleet(tmp_path, "advise", str(inventory), "--demand-file", str(saved),
                                "--capacity", str(cap), "--write", str(module))
            assert proposed.returncode == 0, proposed.stderr
            assert "proposed" in proposed.stdout, proposed.stdout
            assert a_slices(module, a) > before, module.read_text()
            assert migfleet(tmp_path, "validate", str(inventory)).returncode == 0
            rolled = migfleet(tmp_path, "rollout", str(inventory))
            assert rolled.returncode == 0, rolled.stdout[-4000:] + rolled.stderr[-2000:]
            time.sleep(75)          # the window after the rollout
            again = migfleet(tmp_path, "advise", str(inventory), "--prometheus", PROMETHEUS, "--window", "1m",
                             "--capacity", str(cap))
            assert again.returncode == 0, again.stderr
            assert "advise: nothing to change" in again.stdout, again.stdout
        finally:
            load.finish()
        assert load.sent > 500, load.sent
        # no request lost: a model whose every instance is replaced on a one-GPU host is lent to a
        # Triton that stays until its new instances serve it
        print(f"\nadvise loop: {load.sent} requests, {len(load.failures)} failed")
        assert not load.failures, f"{len(load.failures)} of {load.sent} requests failed during the rollout:\n" + \
            "\n".join(load.failures[:10])
    finally:
        deploy()        # the lab's own layout again
