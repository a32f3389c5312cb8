"""The lab's driver stack as an operator meets it on one H100 host (lab-h6), by hand, without migfleet.

From MIG disabled: `nvidia-smi -i 0 -mig 1` leaves the mode pending and prints the driver's
warning, `--gpu-reset` makes it current, `mig -cgi 9,9 -C` gives two 3g.40gb instances at 0:4 and
4:4; a Triton container started the deploy's way (migfleet.serving.triton.spec_for) on one of
those MIG devices answers ready and serves the lab model's known output; a container given an
unknown MIG UUID is refused by the container toolkit
(`nvidia-container-cli: device error: <UUID>: unknown device`).

The host's migfleet Tritons are removed first (their processes sit on the MIG devices and would
block the reset) and migfleet-mig.service is disabled for the test; both are put back by a deploy.
"""
from __future__ import annotations

import json
import re
import shlex
import time
from pathlib import Path

import pytest

from labtools import deploy
from migfleet.mig import smi as parsers
from migfleet.serving import triton
from migfleet.serving.containers import LABEL_ROLE
from migfleet.serving.settings import resolve

HOST = "lab-h6"
UNIT = "migfleet-mig.service"
TEST_PREFIX = "drvtest-"
MODELS_README = Path(__file__).resolve().parents[2] / "files" / "models" / "README.md"
UNKNOWN_MIG = "MIG-00000000-1111-2222-3333-444444444444"

pytestmark = pytest.mark.lab


def known_pairs() -> list[tuple[list[float], list[float]]]:
    block = re.search(r"```known-pairs\n(.*?)```", MODELS_README.read_text(), re.S)
    assert block, f"no known-pairs block in {MODELS_README}"
    pairs = []
    for line in block.group(1).strip().splitlines():
        given, _, expected = line.partition("->")
        pairs.append(([float(x) for x in given.split()], [float(x) for x in expected.split()]))
    return pairs


def snapshot(lab, host: str) -> dict:
    return parsers.parse_snapshot(lab.ssh(host, parsers.SNAPSHOT_COMMAND).stdout)


def smi(lab, command: str, expect_rc: int = 0) -> str:
    proc = lab.ssh(HOST, command, check=False)
    assert proc.returncode == expect_rc, f"{command}: rc={proc.returncode}\n{proc.stdout}{proc.stderr}"
    return proc.stdout


def mode(lab) -> tuple[str, str]:
    out = smi(lab, "nvidia-smi -i 0 --query-gpu=mig.mode.current,mig.mode.pending --format=csv,noheader")
    current, pending = (v.strip() for v in out.strip().split(","))
    return current, pending


def wait_ready(lab, port: int, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    code = ""
    while time.monotonic() < deadline:
        code = lab.ssh(HOST, f"curl -s -o /dev/null -w '%{{http_code}}' --max-time 2 "
                             f"http://127.0.0.1:{port}{triton.READY_PATH}", check=False).stdout.strip()
        if code == "200":
            return
        time.sleep(1)
    logs = lab.ssh(HOST, f"docker logs --tail 30 {TEST_PREFIX}triton 2>&1", check=False).stdout
    raise AssertionError(f"Triton on {HOST}:{port} not ready after {timeout:.0f} s (last HTTP code {code!r}):\n{logs}")


def infer(lab, port: int, features: list[float]) -> list[float]:
    body = json.dumps({"inputs": [{"name": "INPUT", "datatype": "FP32", "shape": [4], "data": features}]})
    out = lab.ssh(HOST, f"curl -sf --max-time 10 -X POST -d {shlex.quote(body)} "
                        f"http://127.0.0.1:{port}/v2/models/lab_classifier/infer").stdout
    answer = json.loads(out)
    return answer["outputs"][0]["data"]


@pytest.fixture
def bare_h6(deployed):
    """lab-h6 without migfleet's Tritons and boot unit; a deploy puts both back afterwards."""
    lab = deployed
    lab.ssh(HOST, f"systemctl disable {UNIT}")
    lab.ssh(HOST, f"ids=$(docker ps -aq --filter label={LABEL_ROLE}={triton.ROLE}); "
                  '[ -z "$ids" ] || docker rm -f $ids >/dev/null')
    try:
        yield lab
    finally:
        lab.ssh(HOST, f"ids=$(docker ps -aq --filter name=^{TEST_PREFIX}); "
                      '[ -z "$ids" ] || docker rm -f $ids >/dev/null', check=False)
        lab.ssh(HOST, f"systemctl enable {UNIT}", check=False)
        deploy("--limit", HOST)
        assert lab.ssh(HOST, f"systemctl is-enabled {UNIT}").stdout.strip() == "enabled"


def test_mig_by_hand_then_triton_on_a_mig_device(bare_h6):
    lab = bare_h6
    # A fresh, MIG-disabled GPU (the migfleet layout is torn down first).
    smi(lab, "nvidia-smi mig -dci >/dev/null; nvidia-smi mig -dgi >/dev/null; nvidia-smi -i 0 -mig 0 >/dev/null")
    assert "successfully reset" in smi(lab, "nvidia-smi --gpu-reset -i 0")
    assert mode(lab) == ("Disabled", "Disabled")
    assert "No MIG-enabled devices found." in smi(lab, "nvidia-smi mig -lgi")

    # Enable: an idle Hopper GPU switches at once (MIG user guide, "Enable MIG Mode"); no reset.
    out = smi(lab, "nvidia-smi -i 0 -mig 1")
    assert re.search(r"Enabled MIG Mode for GPU \S+", out), out
    assert "All done." in out
    assert mode(lab) == ("Enabled", "Enabled")

    out = smi(lab, "nvidia-smi mig -cgi 9,9 -C")
    assert len(re.findall(r"Successfully created GPU instance ID +\d+ on GPU +0 using profile MIG 3g\.40gb", out)) == 2, out
    assert len(re.findall(r"Successfully created compute instance ID +\d+ on GPU +0 GPU instance ID +\d+", out)) == 2, out
    gis = [gi for _, gi in parsers.parse_lgi(smi(lab, "nvidia-smi mig -lgi"))]
    assert sorted((gi.name, gi.profile_id, gi.start, gi.size) for gi in gis) == [
        ("3g.40gb", 9, 0, 4), ("3g.40gb", 9, 4, 4)]

    # A Triton on the MIG device at 0:4, started with the deploy's own arguments.
    gpu = next(iter(snapshot(lab, HOST).values()))
    gi = next(g for g in gpu.gpu_instances if g.start == 0)
    dev = next(d for d in gpu.mig_devices if d.gi_id == gi.gi_id)
    settings = resolve({"triton_image": f"{lab.inventory['registry']}/migfleet-lab/tritonserver:lab"})
    spec = triton.spec_for(triton.Place(gpu.index, gi.start, 0, gpu.uuid, gi.name), settings, models=("lab_classifier",))
    ports, args = spec.ports, triton.run_args_for(spec.run_args, spec.config_hash, dev.uuid, spec.models)
    args[args.index("--name") + 1] = f"{TEST_PREFIX}triton"
    assert f"NVIDIA_VISIBLE_DEVICES={dev.uuid}" in args and "--runtime=nvidia" in args
    assert f"{settings['triton_model_dir']}:{triton.CONTAINER_MODEL_DIR}:ro" in args
    lab.ssh(HOST, shlex.join(["docker", "run", *args]), timeout=120)
    wait_ready(lab, ports.http)
    for features, expected in known_pairs():
        assert infer(lab, ports.http, features) == pytest.approx(expected, abs=2e-6), features

    # The runtime recorded the container as a process on that MIG device.
    pid = int(lab.ssh(HOST, f"docker inspect -f '{{{{.State.Pid}}}}' {TEST_PREFIX}triton").stdout)
    on_gpu = next(iter(snapshot(lab, HOST).values())).processes
    assert any(p.pid == pid and p.gi_id == gi.gi_id for p in on_gpu), on_gpu

    # An unknown MIG UUID is refused by the toolkit, and no container runs.
    bad = lab.ssh(HOST, shlex.join(["docker", "run", "--rm", "--name", f"{TEST_PREFIX}unknown",
                                    "--runtime=nvidia", "-e", f"NVIDIA_VISIBLE_DEVICES={UNKNOWN_MIG}",
                                    "--network", "host", settings["triton_image"], "true"]),
                  check=False, timeout=60)
    assert bad.returncode != 0
    assert f"nvidia-container-cli: device error: {UNKNOWN_MIG}: unknown device" in bad.stderr, bad.stderr
    assert lab.ssh(HOST, f"docker ps -q --filter name=^{TEST_PREFIX}unknown").stdout.strip() == ""
