"""A rebooted host serves again by itself: migfleet-mig.service re-creates the MIG instances (new MIG
UUIDs), migfleet-tritons.service runs each Triton again on the device now at its place.

For an H100 host (MIG mode lost at boot) and an A100 host (MIG mode kept): after `python -m lab reboot`,
without a deploy, within BOUND_S every Triton of the host runs on the new MIG UUID of its place
(same name, same ports), answers ready, and the host's Envoy returns the model's known output; the
re-bind unit's journal says what it did; a deploy of that host then changes nothing.
"""
from __future__ import annotations

import json
import re
import time
import urllib.request

import pytest

from labtools import LAB_INVENTORY, REPO, deploy, pyinfra
from migfleet.mig import smi as parsers
from migfleet.serving import triton
from migfleet.serving.containers import LABEL_MIG_UUID, LABEL_ROLE
from migfleet.serving.settings import defaults

pytestmark = pytest.mark.lab

SETTINGS = defaults()
BOUND_S = 60            # reboot returned -> every Triton ready and an answer through Envoy
UNIT = "migfleet-tritons.service"


def known_pair() -> tuple[list[float], list[float]]:
    block = re.search(r"```known-pairs\n(.*?)```", (REPO / "files" / "models" / "README.md").read_text(), re.S)
    left, right = block.group(1).strip().splitlines()[0].split("->")
    return [float(v) for v in left.split()], [float(v) for v in right.split()]


def expected_tritons(lab, host: str) -> dict[str, str]:
    """{Triton name: the MIG UUID now at its place}, for the host's live placed layout."""
    snapshot = parsers.parse_snapshot(lab.ssh(host, parsers.SNAPSHOT_COMMAND, timeout=30).stdout)
    return {s.name: s.device and s.device.uuid
            for s in triton.live_specs(snapshot, SETTINGS)}


def triton_containers(lab, host: str) -> dict[str, dict]:
    out = lab.ssh(host, f"ids=$(docker ps -aq --filter label={LABEL_ROLE}={triton.ROLE}); "
                        '[ -z "$ids" ] && echo "[]" || docker inspect $ids', timeout=30).stdout
    found = {}
    for item in json.loads(out):
        env = dict(e.split("=", 1) for e in item["Config"]["Env"] or [] if "=" in e)
        found[item["Name"].lstrip("/")] = {
            "status": item["State"]["Status"], "label": item["Config"]["Labels"].get(LABEL_MIG_UUID),
            "visible": env.get("NVIDIA_VISIBLE_DEVICES"),
            "http": int(next(a.split("=", 1)[1] for a in item["Args"] if a.startswith("--http-port="))),
        }
    return found


def not_ready(lab, host: str, ports) -> list[int]:
    probe = "; ".join(f"curl -fsS -o /dev/null --max-time 2 http://127.0.0.1:{p}{triton.READY_PATH} || echo {p}"
                      for p in ports)
    return [int(p) for p in lab.ssh(host, probe, timeout=60, check=False).stdout.split()]


def infer(address: str, features) -> list[float]:
    body = json.dumps({"inputs": [{"name": "INPUT", "datatype": "FP32", "shape": [4], "data": features}]}).encode()
    request = urllib.request.Request(f"http://{address}:{SETTINGS['envoy_http_port']}/v2/models/lab_classifier/infer",
                                     data=body, headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=5) as answer:
        return next(o["data"] for o in json.loads(answer.read())["outputs"] if o["name"] == "PROBABILITIES")


def rebound(lab, host: str, before: dict[str, dict]) -> tuple[dict, dict] | None:
    """(containers, expected) once every Triton runs on the MIG device now at its place, else None."""
    try:
        expected = expected_tritons(lab, host)
        now = triton_containers(lab, host)
    except (AssertionError, ValueError):         # host still booting: nvidia-smi or docker not there yet
        return None
    if set(expected) != set(before) or set(now) != set(before):
        return None
    if any(c["status"] != "running" or c["label"] != expected[n] or c["visible"] != c["label"]
           for n, c in now.items()):
        return None
    return now, expected


@pytest.mark.parametrize("host", ["lab-h3", "lab-h2"])   # H100 (MIG mode lost at boot), A100 (kept)
def test_rebooted_host_serves_again_without_a_deploy(deployed, lab_cli_run, host):
    lab = deployed
    address = next(h["address"] for h in lab.inventory["hosts"] if h["name"] == host)
    features, answer = known_pair()
    before = triton_containers(lab, host)
    assert before and all(c["status"] == "running" for c in before.values()), before
    converged = False
    try:
        lab_cli_run("reboot", host, timeout=120)
        started = time.monotonic()
        deadline = started + BOUND_S
        state = None
        while state is None and time.monotonic() < deadline:
            state = rebound(lab, host, before)
            if state is None:
                time.sleep(1)
        assert state, (f"{host}: Tritons not re-bound {BOUND_S} s after the reboot: {triton_containers(lab, host)}"
                       f"\n{lab.ssh(host, f'journalctl -b -u {UNIT} --no-pager', check=False).stdout}")
        now, expected = state
        assert {n: c["http"] for n, c in now.items()} == {n: c["http"] for n, c in before.items()}
        assert not {c["label"] for c in now.values()} & {c["label"] for c in before.values()}, \
            "the MIG UUIDs did not change across the reboot: nothing was re-bound"

        waiting = [c["http"] for c in now.values()]
        while waiting and time.monotonic() < deadline:
            waiting = not_ready(lab, host, waiting)
            time.sleep(0.5 if waiting else 0)
        assert not waiting, f"{host}: Tritons on ports {waiting} not ready {BOUND_S} s after the reboot"
        got, problem = None, None
        while got is None and time.monotonic() < deadline:
            try:
                got = infer(address, features)
            except OSError as e:                 # Envoy up before its health checks pass: 503
                problem = e
                time.sleep(0.5)
        assert got is not None, f"{host}: no answer through Envoy {BOUND_S} s after the reboot: {problem}"
        assert got == pytest.approx(answer, abs=1e-5)
        print(f"{host}: serving {time.monotonic() - started:.1f} s after `lab reboot` returned")

        journal = lab.ssh(host, f"systemctl is-active {UNIT}; journalctl -b -u {UNIT} --no-pager").stdout
        assert journal.startswith("active\n"), journal
        for name, uuid in expected.items():
            assert f"{name}: started on {uuid}" in journal, journal

        proc = pyinfra("-y", "--json", str(LAB_INVENTORY), "deploy.py", "--limit", host, timeout=300)
        assert proc.returncode == 0, proc.stderr[-4000:]
        changed = {op["name"]: op["success"] for op in json.loads(proc.stdout)["results"]["operations"]
                   if op["success"]}
        assert changed == {}, f"a deploy after the re-bind changed {changed}"
        converged = True
    finally:
        if not converged:
            deploy()
