"""`@local`: the fleet tools read this machine without SSH, commands really run here (with the lab's
simulated nvidia-smi first on PATH), behind the same session the SSH path offers."""
import os
import socket

import pytest

from migfleet.fleet import drift, local, targets
from migfleet.fleet import ssh as fleet

from .fake_smi import A100, H100, install_smi


@pytest.fixture
def smi(tmp_path, monkeypatch):
    """nvidia-smi (the simulator, 2 GPUs) first on this process's PATH; the driver's state in tmp_path."""
    env = install_smi(tmp_path / "root", [H100, A100])
    monkeypatch.setenv("PATH", f"{env['PATH']}:{os.environ['PATH']}")
    monkeypatch.setenv("NVSIM_ROOT", env["NVSIM_ROOT"])
    return env


@pytest.fixture
def no_smi(tmp_path, monkeypatch):
    """A PATH with the shell's tools but no nvidia-smi."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for tool in ("sh", "echo", "cat"):
        path = next(f"{d}/{tool}" for d in ("/usr/bin", "/bin") if os.access(f"{d}/{tool}", os.X_OK))
        os.symlink(path, bindir / tool)
    monkeypatch.setenv("PATH", str(bindir))


def test_run_answers_as_a_command_over_ssh():
    assert local.run("echo out; echo err >&2; exit 3") == (3, "out\n", "err\n")
    assert local.run("printf '%s' \"$0\"") == (0, "sh", "")         # through `sh -c`, as over SSH
    rc, out, err = local.run("sleep 5", timeout=0.2)
    assert (rc, out) == (124, "") and "timed out" in err


def test_local_host_is_read_here_other_hosts_over_ssh():
    assert fleet.target_of(fleet.FleetHost("@local", {"ssh_known_hosts_file": "/nonexistent"})) == local.LocalTarget()
    remote = fleet.target_of(fleet.FleetHost("gpu1", {"ssh_known_hosts_file": "/nonexistent"}))
    assert isinstance(remote, fleet.SshTarget) and remote.known_hosts == "/nonexistent"
    with pytest.raises(fleet.FleetError, match="known_hosts file /nonexistent missing"):
        fleet.read_snapshot(remote)


def test_session_runs_commands_on_this_machine(tmp_path):
    marker = tmp_path / "marker"
    with fleet.session(local.LocalTarget()) as run:
        assert run(f"echo here > {marker}; cat {marker}") == (0, "here\n", "")
    assert marker.read_text() == "here\n"


def test_snapshot_of_local_gpus(smi):
    live = fleet.read_snapshot(local.LocalTarget())
    assert [(g.index, g.name, g.mig_current) for g in sorted(live.values(), key=lambda g: g.index)] == [
        (0, H100, False), (1, A100, False)]


def test_without_nvidia_smi_one_clear_line(no_smi):
    with pytest.raises(fleet.FleetError) as err:
        fleet.read_snapshot(local.LocalTarget())
    assert str(err.value) == ("@local: NVIDIA driver unavailable: nvidia-smi not found on the host "
                              "(is the NVIDIA driver installed?)")


def test_drift_reads_local_and_remote_hosts_each_their_way(smi, tmp_path):
    hosts = [fleet.FleetHost("@local", {"mig_layout": [{"gpus": "all", "mig": False}]}),
             fleet.FleetHost("gpu1", {"ssh_known_hosts_file": str(tmp_path / "none")})]
    read = drift.read_all(hosts)
    assert len(read["@local"]) == 2
    assert isinstance(read["gpu1"], fleet.FleetError) and "known_hosts" in str(read["gpu1"])
    assert drift.host_drift(hosts[0], read["@local"]) == []
    found = drift.host_drift(fleet.FleetHost("@local", {"mig_layout": [{"gpus": "all", "instances": [
        {"profile": "7g.80gb", "count": 1}]}]}), read["@local"])
    assert [(m.host, m.gpu_index, m.field) for m in found if m.gpu_index == 0] == [("@local", 0, "MIG mode")]


def test_local_target_is_this_machines_name(monkeypatch):
    monkeypatch.setattr(socket, "getfqdn", lambda: "gpu7.example.net")
    monkeypatch.setattr(socket, "gethostname", lambda: "gpu7")
    assert local.machine_name() == "gpu7.example.net"
    groups = targets.target_groups({"@local": {"metrics_port": 9102}, "gpu8": {}})
    assert groups[0] == {"targets": ["gpu7.example.net:9102"], "labels": {"host": "@local"}}
    assert groups[1]["targets"] == ["gpu8:8002"]
    # its data can name the address to scrape instead
    assert targets.target_groups({"@local": {"ssh_hostname": "10.0.0.7"}})[0]["targets"] == ["10.0.0.7:8002"]


def test_local_target_falls_back_to_the_hostname_and_refuses_localhost(monkeypatch):
    monkeypatch.setattr(socket, "getfqdn", lambda: "localhost")
    monkeypatch.setattr(socket, "gethostname", lambda: "gpu7.example.com")
    assert targets.target_groups({"@local": {}})[0]["targets"] == ["gpu7.example.com:8002"]
    # A name without its domain resolves elsewhere only through a search domain, if at all.
    for name in ("gpu7", "localhost"):
        monkeypatch.setattr(socket, "gethostname", lambda: name)
        with pytest.raises(targets.TargetsError, match=f"@local: .*this machine calls itself '{name}'.*set ssh_hostname"):
            targets.target_groups({"@local": {}})
