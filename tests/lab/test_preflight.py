"""A host without systemd (`python -m lab bare up`: a network namespace on the lab bridge running
only sshd, with the simulated nvidia-smi) fails the deploy with one line naming what it lacks,
its MIG plan still shown, no traceback, and nothing written on it.

The bare host's root is an overlay whose upper directory holds everything written there; the
simulator's own bytecode caches (written the first time its nvidia-smi runs) are there after the
`--dry` run, so the real run is compared against the state after `--dry`.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from labtools import pyinfra

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[2]
H100 = "NVIDIA H100 80GB HBM3"


@pytest.fixture
def bare(lab, lab_cli_run):
    info = json.loads(lab_cli_run("bare", "up", "--gpus", "H100", timeout=120).stdout)
    try:
        yield info
    finally:
        lab_cli_run("bare", "down", timeout=120)
    assert not Path(info["upper"]).exists()


def inventory(tmp_path: Path, info: dict) -> Path:
    """What a newcomer writes: the host, how to reach it, its GPUs, a layout and the models."""
    data = {"ssh_hostname": info["address"], "ssh_user": info["ssh_user"], "ssh_key": info["ssh_key"],
            "ssh_known_hosts_file": info["known_hosts"], "ssh_strict_host_key_checking": "yes",
            "gpu_models": [H100], "mig_layout": [{"gpus": "all", "instances": [{"profile": "3g.40gb", "count": 2}]}],
            "triton_model_repository": str(REPO / "files" / "models")}
    path = tmp_path / "bare_inventory.py"
    path.write_text(f"bare = [({info['name']!r}, {data!r})]\n")
    return path


def written(upper: str) -> dict[str, tuple]:
    """Every entry of the host's upper directory: its type, size and modification time."""
    out = {}
    for root, dirs, files in os.walk(upper):
        for name in dirs + files:
            st = os.lstat(os.path.join(root, name))
            out[os.path.relpath(os.path.join(root, name), upper)] = (st.st_mode, st.st_size, st.st_mtime_ns)
    return out


def host_lines(output: str, name: str) -> list[str]:
    return [line.strip() for line in output.splitlines() if line.strip().startswith(f"[{name}]")]


def test_a_host_without_systemd_fails_with_one_line_and_nothing_written(bare, tmp_path):
    inv = inventory(tmp_path, bare)
    dry = pyinfra("-y", str(inv), "deploy.py", "--dry", timeout=300)
    text = dry.stdout + dry.stderr
    assert dry.returncode != 0 and "Traceback" not in text, text[-3000:]
    lines = host_lines(text, bare["name"])
    plan = [line for line in lines if "MIG GPU 0" in line]
    assert len(plan) == 1 and "create 2 x 3g.40gb" in plan[0], lines      # the plan is still shown
    [lack] = [line for line in lines if line.split("] ", 1)[1].startswith("no ")]
    assert lack.startswith(f"[{bare['name']}] no systemd: PID 1 here is 'sshd'"), lines
    assert "could not process fact" not in text and "ValueError" not in text

    before = written(bare["upper"])
    run = pyinfra("-y", str(inv), "deploy.py", timeout=300)
    text = run.stdout + run.stderr
    assert run.returncode != 0 and "Traceback" not in text, text[-3000:]
    assert [line for line in host_lines(text, bare["name"]) if "no systemd" in line] == [lack]
    assert written(bare["upper"]) == before       # no package, file, unit, container or GPU change
