"""A run where every host failed ends with migfleet's summary, one line per host and why, not with
pyinfra's "No hosts remaining!" pinned on a line of migfleet's code."""
from __future__ import annotations

import resource
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from pyinfra import context
from pyinfra.api import Config, Inventory, State
from pyinfra.api.connect import connect_all
from pyinfra.api.deploy import add_deploy
from pyinfra.api.exceptions import PyinfraError
from pyinfra.api.state import StateStage

from migfleet.deploys import failures
from migfleet.deploys.all import deploy_all
from migfleet.facts import host as host_fact
from tests.operations.conftest import Fleet, sim_host_read  # noqa: F401  (the fixture, used below)
from tests.operations.simulated_gpus import SimulatedGpus, gpu

REPO = Path(__file__).resolve().parents[2]
DATA = {"fake_delay": 0, "fake_delay_jitter": 0, "gpu_models": ["NVIDIA H200"], "mig_only": True,
        "mig_layout": [{"gpus": "all", "mig": False}]}
H200 = "NVIDIA H200"
SERVING = {"gpu_models": [H200], "mig_layout": [{"gpus": "all", "instances": [{"profile": "1g.18gb", "count": 7}]}],
           "triton_model_repository": str(REPO / "files" / "models"), "metrics_allow_networks": ["10.0.0.0/8"]}


def fake_state(names, fail_percent=None) -> State:
    inventory = Inventory(([(f"@fake/{n}", {"fake_delay": 0, "fake_delay_jitter": 0}) for n in names], {}))
    state = State(inventory, Config(FAIL_PERCENT=fail_percent))
    connect_all(state)
    state.set_stage(StateStage.Prepare)
    return state


def host(state, name):
    return state.inventory.get_host(f"@fake/{name}")


def test_the_last_host_to_fail_stops_the_run_with_every_host_and_why():
    state = fake_state(["h1", "h2", "h3"])
    failures.fail(state, host(state, "h2"), "MIG: nvidia-smi not found on the host")
    failures.watch(state)                       # twice: still one wrapper
    state.fail_hosts({host(state, "h3")})       # as pyinfra fails a host whose fact it could not read
    with pytest.raises(failures.RunStopped) as stopped:
        failures.fail(state, host(state, "h1"), "no systemd: PID 1 here is 'sshd'\n(a container?)")
    assert isinstance(stopped.value, PyinfraError)
    assert str(stopped.value) == "No hosts remaining!"         # pyinfra's API sees what it always saw
    assert stopped.value.summary.splitlines() == [
        "--> Every host failed, no operation was run (No hosts remaining!):",
        "    @fake/h1: no systemd: PID 1 here is 'sshd' (a container?)",
        "    @fake/h2: MIG: nvidia-smi not found on the host",
        f"    @fake/h3: {failures.BY_PYINFRA}"]
    assert failures.reasons(state) == {"@fake/h1": "no systemd: PID 1 here is 'sshd'\n(a container?)",
                                       "@fake/h2": "MIG: nvidia-smi not found on the host"}


def test_hosts_failing_while_others_go_on_do_not_stop_the_run():
    state = fake_state(["h1", "h2"])
    failures.fail(state, host(state, "h1"), "first reason")
    failures.fail(state, host(state, "h1"), "a later line about the same host")
    assert {h.name for h in state.active_hosts} == {"@fake/h2"}
    assert failures.reasons(state) == {"@fake/h1": "first reason"}


def test_over_the_fail_percent_names_the_failed_hosts_only():
    state = fake_state(["h1", "h2", "h3"], fail_percent=10)
    with pytest.raises(failures.RunStopped) as stopped:
        failures.fail(state, host(state, "h3"), "MIG: GPU 0 is busy")
    assert str(stopped.value) == "Over 10% of hosts failed (33%)"
    assert stopped.value.summary.splitlines() == [
        "--> 1 host(s) failed, no operation was run (Over 10% of hosts failed (33%)):",
        "    @fake/h3: MIG: GPU 0 is busy"]


def test_a_host_failing_during_the_operations_is_summed_up_without_claiming_nothing_ran():
    state = fake_state(["h1"])
    failures.watch(state)
    state.set_stage(StateStage.Execute)
    with pytest.raises(failures.RunStopped) as stopped:
        state.fail_hosts({host(state, "h1")})       # as pyinfra does when an operation fails
    assert stopped.value.summary.splitlines() == [
        "--> Every host failed (No hosts remaining!):", f"    @fake/h1: {failures.BY_PYINFRA}"]


def _memory_limit():
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))


def test_a_pyinfra_run_where_every_host_fails_ends_with_the_summary(tmp_path):
    """`pyinfra INVENTORY deploy.py` in a child process, over @fake hosts that each fail at prepare
    time: one whose read answers nothing, one whose read is garbage (pyinfra fails it), one whose
    read fails."""
    inventory = tmp_path / "inventory.py"
    inventory.write_text(
        f"_d = {DATA!r}\n"
        "hosts = [('@fake/empty', _d),\n"
        "         ('@fake/garbage', {**_d, 'fake_responses': {'@@migfleet': ['garbage line']}}),\n"
        "         ('@fake/refused', {**_d, 'fake_responses': {'@@migfleet': {'success': False, "
        "'stderr': ['sh: permission denied']}}})]\n")
    done = subprocess.run([sys.executable, "-m", "pyinfra", str(inventory), "deploy.py", "--dry", "-y"],
                          cwd=REPO, capture_output=True, text=True, timeout=120, preexec_fn=_memory_limit)
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert "Traceback" not in out and "pyinfra error" not in out, out
    tail = out.rstrip("\n").splitlines()[-4:]
    assert tail[0] == "--> Every host failed, no operation was run (No hosts remaining!):", out
    assert [line.split(": ", 1)[0] for line in tail[1:]] == ["    @fake/empty", "    @fake/garbage",
                                                              "    @fake/refused"], out
    reasons = [line.split(": ", 1)[1] for line in tail[1:]]
    # Which host pyinfra fails itself depends on the order the reads come back in: the last to come
    # back stops the run inside pyinfra's fact code; every other one is failed by migfleet, saying so.
    assert all(r in (failures.BY_PYINFRA, "MIG: the host could not be read (see the error above)")
               for r in reasons), out
    assert reasons[0] != failures.BY_PYINFRA and reasons.count(failures.BY_PYINFRA) <= 1, out


def test_every_host_failing_preflight_under_pyinfras_api_raises_its_error_with_the_summary(
        monkeypatch, sim_host_read):  # noqa: F811
    """The real deploy over simulated hosts, each failed by migfleet's preflight for its own reason."""
    lacks = {"h1": {"systemd": False, "pid1": "sshd"}, "h2": {"gpus": {}, "driver_error": "nvidia-smi not found"}}
    simulated = host_fact.parse_host
    monkeypatch.setattr(host_fact, "parse_host", lambda text, *args: replace(
        simulated(text, *args), **lacks[context.host.name.removeprefix("@fake/")]))
    fleet = Fleet({"h1": (SimulatedGpus(gpu(0, H200, "GPU-00000000-0000-4000-8000-000000000001")), SERVING),
                   "h2": (SimulatedGpus(gpu(0, H200, "GPU-00000000-0000-4000-8000-000000000002")), SERVING)})
    with pytest.raises(failures.RunStopped) as stopped:
        add_deploy(fleet.state, deploy_all)
    assert str(stopped.value) == "No hosts remaining!"
    header, h1, h2 = stopped.value.summary.splitlines()
    assert header == "--> Every host failed, no operation was run (No hosts remaining!):"
    assert h1.startswith("    @fake/h1: ") and h2 == "    @fake/h2: MIG: nvidia-smi not found"
    assert h1.removeprefix("    @fake/h1: ") == failures.reasons(fleet.state)["@fake/h1"]
    assert fleet.ops("h1") == fleet.ops("h2") == []
