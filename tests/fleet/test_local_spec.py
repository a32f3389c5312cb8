"""The spec suite and the rollout on `@local`: testinfra's local backend, commands run here (the lab's
simulated nvidia-smi first on PATH), no SSH, no known_hosts."""
import os
import subprocess
import sys

import pytest

from migfleet.fleet import rollout
from migfleet.inventory.rollout_settings import RolloutSettings

from .fake_smi import H100, install_smi

MIG_TESTS = ("test_mig_mode", "test_mig_layout")


@pytest.fixture
def local_inventory(tmp_path, monkeypatch):
    env = install_smi(tmp_path / "root", [H100])
    monkeypatch.setenv("PATH", f"{env['PATH']}:{os.environ['PATH']}")
    monkeypatch.setenv("NVSIM_ROOT", env["NVSIM_ROOT"])
    monkeypatch.chdir(tmp_path)
    inventory = tmp_path / "inventory.py"
    inventory.write_text("hosts = [('@local', {'mig_layout': [{'gpus': 'all', 'instances': "
                         "[{'profile': '3g.40gb', 'count': 2}]}], 'ssh_known_hosts_file': '/nonexistent'})]\n")
    return str(inventory)


def run_spec_only(deploys: list):
    """pyinfra left out (it would change this machine), the spec suite run for real."""
    def runner(argv):
        if any(a.startswith("--hosts-limit=") for a in argv):
            return rollout.subprocess_runner(argv)
        deploys.append(argv)
        hosts = [argv[i + 1] for i, a in enumerate(argv) if a == "--limit"]
        return rollout.CommandResult(0, "".join(f"[{h}] Success\n" for h in hosts))
    return runner


def test_rollout_runs_the_spec_suite_on_this_machine(local_inventory, tmp_path):
    deploys = []
    run = rollout.Rollout(inventory=local_inventory, hosts=["@local"], settings=RolloutSettings(),
                          state_file=tmp_path / "state.json", runner=run_spec_only(deploys),
                          pytest=(sys.executable, "-m", "pytest"), report_dir=tmp_path, out=lambda s: None)
    spec = run.verify(["@local"], "first")
    passed, failures = spec["@local"]
    mig = [f for f in failures if f.startswith(MIG_TESTS)]
    # MIG is off on the simulated H100: the layout tests ran here and say so, naming the host
    assert any(f.startswith("test_mig_mode") and "@local GPU 0" in f for f in mig), failures
    assert not any("known_hosts" in f or "ssh" in f.lower() for f in failures), failures
    # the deploy step is pyinfra on the same inventory, limited to @local
    run.run()
    assert deploys and deploys[0][-2:] == ["--limit", "@local"]


def test_spec_passes_the_layout_tests_once_the_gpu_matches(local_inventory, tmp_path):
    subprocess.run("nvidia-smi -i 0 -mig 1 && nvidia-smi mig -i 0 -cgi 9:0,9:4 -C", shell=True, check=True,
                   capture_output=True, timeout=60)
    run = rollout.Rollout(inventory=local_inventory, hosts=["@local"], settings=RolloutSettings(),
                          state_file=tmp_path / "state.json", runner=run_spec_only([]), report_dir=tmp_path,
                          out=lambda s: None)
    passed, failures = run.verify(["@local"], "second")["@local"]
    assert not [f for f in failures if f.startswith(MIG_TESTS)], failures
    assert passed >= len(MIG_TESTS)
