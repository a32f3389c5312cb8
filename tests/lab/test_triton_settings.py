"""Triton settings per instance on the lab: a model's `models` entry with instance_count (and
max_batch_size) reaches each Triton's live config through the repository API's config override;
changing it on one instance under load through Envoy reloads the model in place, no request failed
and no Triton replaced; the spec passes, and sees a live config that is not the one asked. Then issue
31's flow end to end: a layout for two lab hosts sized by `migfleet advise --size ... --write-settings
--write FILE`, validated, rolled out with `migfleet rollout`, passing spec, both models answered
through Envoy."""
from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from labtools import REPO, deploy
from test_model_routing import A, B, HOST, container_ids, run_files, under_load

pytestmark = pytest.mark.lab


def settings_inventory(tmp_path: Path, count: int) -> Path:
    """The lab inventory with HOST on 1 x 3g.20gb (A, and B with `count` copies) + 4 x 1g.5gb (B)."""
    rule = {"gpus": "all", "instances": [
        {"profile": "3g.20gb", "count": 1, "models": [A, {"name": B, "instance_count": count, "max_batch_size": 0}]},
        {"profile": "1g.5gb", "count": 4, "models": [B]}]}
    path = tmp_path / f"lab_settings_{count}.py"
    path.write_text("import runpy\n"
                    f"_hosts, _data = runpy.run_path({str(REPO / 'inventories' / 'lab.py')!r})['lab']\n"
                    f"lab = ([(n, {{**d, 'mig_layout': [{rule!r}]}}) if n == {HOST!r} else (n, d)\n"
                    "        for n, d in _hosts], _data)\n")
    return path


def migfleet(*args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "migfleet", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout)


def live_counts(lab, model: str) -> dict[str, list[int]]:
    """{Triton: the instance counts of its live config of `model`} of the Tritons that load it."""
    files = {n: f for n, f in run_files(lab).items() if model in f["models"]}
    script = "; ".join(f"echo @@{n}; curl -s http://127.0.0.1:{f['http_port']}/v2/models/{model}/config"
                       for n, f in sorted(files.items()))
    out = {}
    for chunk in lab.ssh(HOST, script, timeout=60).stdout.split("@@")[1:]:
        name, _, text = chunk.partition("\n")
        out[name.strip()] = sorted(int(g.get("count", 1)) for g in json.loads(text).get("instance_group", []))
    return out


def test_settings_changed_on_one_instance_under_load_drop_no_request(deployed, tmp_path):
    lab = deployed
    deploy("--limit", HOST, inventory=settings_inventory(tmp_path, 1))
    try:
        files = run_files(lab)
        big = sorted(n for n, f in files.items() if f["profile"] == "3g.20gb")
        assert all(files[n]["settings"] == {B: {"instance_count": 1, "max_batch_size": 0}} for n in big)
        ids = container_ids(lab)
        under_load(lab, tmp_path, "instance_count 1 -> 3 on the 3g.20gb instances",
                   lambda: deploy("--limit", HOST, inventory=settings_inventory(tmp_path, 3)))
        assert container_ids(lab) == ids, "a Triton was replaced: settings change reloads the model in place"
        counts = live_counts(lab, B)
        assert {n: counts[n] for n in big} == {n: [3] for n in big}, counts
        assert all(c == [1] for n, c in counts.items() if n not in big), counts     # the others as their config says
        spec = migfleet("spec", str(settings_inventory(tmp_path, 3)), "--hosts-limit", HOST)
        assert spec.returncode == 0, spec.stdout[-4000:] + spec.stderr[-2000:]
        # a live config that is not the one asked: the spec names the Triton, the model and both counts
        port = files[big[0]]["http_port"]
        cfg = json.loads(lab.ssh(HOST, f"curl -sf http://127.0.0.1:{port}/v2/models/{B}/config", timeout=30).stdout)
        cfg["instance_group"] = [{**g, "count": 1} for g in cfg["instance_group"]]
        body = json.dumps({"parameters": {"config": json.dumps(cfg)}})
        lab.ssh(HOST, f"curl -sf -X POST -d {shlex.quote(body)} http://127.0.0.1:{port}/v2/repository/models/{B}/load",
                timeout=60)
        assert live_counts(lab, B)[big[0]] == [1]
        spec = migfleet("spec", str(settings_inventory(tmp_path, 3)), "--hosts-limit", HOST)
        assert spec.returncode != 0 and f"{big[0]} {B} settings" in spec.stdout + spec.stderr, spec.stdout[-4000:]
        assert "instance_count 3, live 1" in spec.stdout + spec.stderr
    finally:
        deploy("--limit", HOST)


def test_a_sized_layout_for_two_hosts_is_written_validated_rolled_out_and_served(deployed, tmp_path):
    lab = deployed
    models = {h["name"]: list(h["gpu_models"]) for h in lab.inventory["hosts"]}
    hosts = [n for n in lab.names if models[n] == models[HOST]][:2]      # two hosts alike (lab-h1, lab-h4)
    assert len(hosts) == 2, models
    gpu, per_host = models[HOST][0], len(models[HOST])
    rates = tmp_path / "rates.json"
    rates.write_text(json.dumps({"models": {A: {"rate": 3000}, B: {"rate": 2000}}}))
    group = tmp_path / "group_data" / "sized.py"
    group.parent.mkdir()
    table = REPO / "migfleet" / "advise" / "tables" / "lab.json"
    done = migfleet("advise", "--size", gpu, "--rates", str(rates), "--capacity", str(table),
                    "--gpus-per-host", str(per_host), "--write-settings", "--write", str(group))
    assert done.returncode == 0, done.stderr
    text = group.read_text()
    assert "instance_count" in text and A in text and B in text
    inventory = tmp_path / "sized_inventory.py"
    inventory.write_text("import runpy\n"
                         f"_hosts, _data = runpy.run_path({str(REPO / 'inventories' / 'lab.py')!r})['lab']\n"
                         f"_sized = runpy.run_path({str(group)!r})\n"
                         f"sized = ([(n, {{**d, 'mig_layout': _sized['mig_layout']}})\n"
                         f"          for n, d in _hosts if n in {hosts!r}], _data)\n")
    valid = migfleet("validate", str(inventory))
    assert valid.returncode == 0, valid.stdout + valid.stderr
    try:
        rolled = migfleet("rollout", str(inventory), timeout=1800)
        assert rolled.returncode == 0, rolled.stdout[-6000:] + rolled.stderr[-3000:]
        spec = migfleet("spec", str(inventory))
        assert spec.returncode == 0, spec.stdout[-4000:] + spec.stderr[-2000:]
        for name in hosts:
            address = next(h["address"] for h in lab.inventory["hosts"] if h["name"] == name)
            out = subprocess.run([sys.executable, str(REPO / "tests" / "lab" / "test_model_routing.py"), address,
                                  "--count", "20"], cwd=REPO, capture_output=True, text=True, timeout=300)
            assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    finally:
        deploy()
