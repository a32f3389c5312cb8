"""Acceptance of the package: the wheel installed in a fresh virtualenv outside the checkout takes
a mig-parted config over and converges a lab host from a separate pyinfra project.

The project (tests/packaging/userproject) imports migfleet's deploys from the installed package;
its group_data is written by the installed `migfleet import mig-parted` from mig-parted's published
default config. The host is put back to the suite's layout by the repository's deploy afterwards.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from labtools import REPO, deploy

sys.path.insert(0, str(REPO))
from tests.packaging.wheeltools import build_wheel, clean_env, install  # noqa: E402

pytestmark = pytest.mark.lab
HOST = "lab-h2"
USERPROJECT = REPO / "tests" / "packaging" / "userproject"
TARBALLS = sorted((REPO.parent / "shared" / "third_party").glob("mig-parted-*.tar.gz"))


def run_in(project: Path, env: dict, *argv: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run(list(argv), cwd=project, env=env, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def converged_output(proc: subprocess.CompletedProcess) -> str:
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-8000:]
    return out


@pytest.mark.skipif(not TARBALLS, reason="no mig-parted source in shared/third_party")
def test_installed_wheel_converges_a_lab_host_from_its_own_project(deployed, tmp_path):
    model = next(h["gpu_models"][0] for h in deployed.inventory["hosts"] if h["name"] == HOST)
    installed = install(build_wheel(tmp_path), tmp_path)
    env = {**clean_env(installed), "MIGFLEET_USERPROJECT_HOST": HOST}
    project = tmp_path / "project"
    shutil.copytree(USERPROJECT, project)
    shutil.copytree(REPO / "files" / "models", project / "models",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (project / "group_data").mkdir()
    config = tmp_path / "config-default.yaml"
    config.write_text(subprocess.run(["tar", "-xOzf", str(TARBALLS[-1]),
                                      "mig-parted/deployments/systemd/config-default.yaml"],
                                     check=True, capture_output=True, text=True).stdout)
    migfleet = installed.bin("migfleet")
    converged_output(run_in(project, env, migfleet, "import", "mig-parted", str(config), "--config", "all-balanced",
                            "--gpu-model", model, "-o", "group_data/all.py"))
    assert "no errors" in converged_output(run_in(project, env, migfleet, "validate", "inventory.py"))
    try:
        converged_output(run_in(project, env, installed.bin("pyinfra"), "-y", "inventory.py", "deploy.py"))
        # Live state now matches the imported layout, and still after a second run.
        converged_output(run_in(project, env, migfleet, "drift", "inventory.py"))
        converged_output(run_in(project, env, installed.bin("pyinfra"), "-y", "inventory.py", "deploy.py"))
        converged_output(run_in(project, env, migfleet, "drift", "inventory.py"))
        listed = deployed.ssh(HOST, "nvidia-smi mig -lgi").stdout
        # all-balanced on every model: two 1g, one 2g and one 3g instance
        assert sum(" MIG 1g." in line for line in listed.splitlines()) == 2
        assert sum(" MIG 2g." in line for line in listed.splitlines()) == 1
        assert sum(" MIG 3g." in line for line in listed.splitlines()) == 1
        served = deployed.ssh(HOST, "docker ps --format '{{.Names}}'").stdout.split()
        assert sum(name.startswith("triton-") for name in served) == 4 and "envoy" in " ".join(served)
    finally:
        deploy("--limit", HOST)
