"""The deploy on a host that lacks a prerequisite: failed at prepare time with one line per lack,
its MIG plan still shown, nothing queued or run for it; other hosts go on."""
from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import pytest
from pyinfra.api.deploy import add_deploy
from pyinfra.api.exceptions import PyinfraError

from migfleet.deploys.all import deploy_all
from migfleet.facts import host as host_fact
from tests.operations.conftest import Fleet, sim_host_read  # noqa: F401  (the fixture, used below)
from tests.operations.simulated_gpus import SimulatedGpus, gpu

H200 = "NVIDIA H200"
U0 = "GPU-00000000-0000-4000-8000-000000000001"
U1 = "GPU-00000000-0000-4000-8000-000000000002"
MODELS = Path(__file__).resolve().parents[2] / "files" / "models"
DATA = {"gpu_models": [H200], "mig_layout": [{"gpus": "all", "instances": [{"profile": "1g.18gb", "count": 7}]}],
        "triton_model_repository": str(MODELS), "metrics_allow_networks": ["10.0.0.0/8"]}


@pytest.fixture
def prerequisites(monkeypatch, sim_host_read):  # noqa: F811
    """Each host's read as the simulator gives it, with that host's prerequisites (name -> fields)."""
    from pyinfra import context
    fields: dict[str, dict] = {}
    simulated = host_fact.parse_host

    def parse_host(text, *args):
        view = simulated(text, *args)
        return replace(view, **fields.get(context.host.name.removeprefix("@fake/"), {}))

    monkeypatch.setattr(host_fact, "parse_host", parse_host)
    return fields


def prepare(hosts: dict) -> Fleet:
    fleet = Fleet(hosts)
    try:
        add_deploy(fleet.state, deploy_all)
    except PyinfraError as e:          # every host failed
        assert str(e) == "No hosts remaining!"
    return fleet


def errors(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


def test_a_host_without_systemd_fails_with_one_line_and_its_plan_shown(prerequisites, caplog):
    prerequisites["h1"] = {"systemd": False, "pid1": "sshd", "docker": "/usr/bin/docker",
                           "docker_error": "Cannot connect to the Docker daemon", "tools": frozenset({"apt-get"})}
    with caplog.at_level(logging.INFO):
        fleet = prepare({"h1": (SimulatedGpus(gpu(0, H200, U0)), DATA), "h2": (SimulatedGpus(gpu(0, H200, U1)), DATA)})
    assert fleet.failed == {"h1"}
    [line] = errors(caplog)
    assert "no systemd: PID 1 here is 'sshd'" in line and "[@fake/h1]" in line
    assert "MIG plan, not applied" in caplog.text and "GPU 0 (NVIDIA H200" in caplog.text   # still shown
    assert fleet.ops("h1") == []            # nothing queued: no apt, no docker, no nvidia-smi
    assert fleet.ops("h2")                  # the other host goes on
    fleet.execute()
    assert fleet.host("h1").connector.sim.executed == []


def test_every_lack_and_a_host_without_the_driver_each_get_a_line(prerequisites, caplog):
    prerequisites["h1"] = {"systemd": False, "pid1": "process_api", "docker": None, "tools": frozenset(),
                           "gpus": {}, "driver_error": "nvidia-smi not found on the host"}
    with caplog.at_level(logging.INFO):
        fleet = prepare({"h1": (SimulatedGpus(gpu(0, H200, U0)), DATA)})
    assert fleet.failed == {"h1"}
    lines = errors(caplog)
    assert [line.split("] ", 1)[1].split(":")[0] for line in lines[:3]] == [
        "no systemd", "no Docker, and no apt-get to install it", "no apt-get to install python3, curl, gnupg, "
        "ca-certificates, nvidia-container-toolkit"]
    assert len(lines) == 4 and lines[3].endswith("MIG: nvidia-smi not found on the host")   # no plan to show
    assert "MIG plan" not in caplog.text and fleet.ops("h1") == []
