"""The newcomer's path: the wheel installed in a fresh virtualenv outside the checkout, a project whose
inventory sets only what a user must (how to log in, `gpu_models`, `mig_layout`), every other key at its
schema default (the model repository is `models/` beside the inventory; images and the toolkit come
from their public names, which the lab answers for), converging a lab host: once from the controller,
once as `@local` on the host itself. The spec suite passes and the host serves, each time.
"""
from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from labtools import REPO, deploy

sys.path.insert(0, str(REPO))
from tests.packaging.wheeltools import build_wheel, clean_env, install, run  # noqa: E402

pytestmark = pytest.mark.lab
FROM_CONTROLLER = "lab-h5"      # A100-SXM4-80GB
AS_LOCAL = "lab-h6"             # H100 80GB HBM3
LAYOUTS = {"NVIDIA A100-SXM4-80GB": [{"gpus": "all", "instances": [{"profile": "3g.40gb", "count": 2}]}],
           "NVIDIA H100 80GB HBM3": [{"gpus": "all", "instances": [{"profile": "2g.20gb", "count": 3}]}]}
DEPLOY = "from migfleet.deploys.all import deploy_all\n\ndeploy_all()\n"
REMOTE_DIR = "/opt/newcomer"
PAIR = ([0.0, 0.0, 0.0, 0.0], "PROBABILITIES")


def project(folder: Path, hosts: list[tuple[str, dict]]) -> Path:
    """A user's own project: inventory.py, deploy.py and models/ (the default repository)."""
    folder.mkdir(parents=True)
    (folder / "inventory.py").write_text(f"gpu_servers = {hosts!r}\n")
    (folder / "deploy.py").write_text(DEPLOY)
    shutil.copytree(REPO / "files" / "models", folder / "models", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return folder


def lab_host(lab, name: str) -> dict:
    return next(h for h in lab.inventory["hosts"] if h["name"] == name)


def ok(proc: subprocess.CompletedProcess) -> str:
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    assert "Traceback" not in out, out[-6000:]
    return out


def serves(lab, name: str) -> None:
    """One inference through the host's Envoy, from outside the host."""
    body = json.dumps({"inputs": [{"name": "INPUT", "datatype": "FP32", "shape": [4], "data": PAIR[0]}]})
    url = f"http://{lab_host(lab, name)['address']}:8000/v2/models/lab_classifier/infer"
    proc = subprocess.run(["curl", "-sf", "-m", "20", "-H", "Content-Type: application/json", "--data-binary", body, url],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, f"{name} does not serve: {proc.stderr}"
    assert [o["name"] for o in json.loads(proc.stdout)["outputs"]] == [PAIR[1]]


def spec_dir(python: str, env: dict | None = None, ssh=None) -> str:
    code = "import migfleet.spec, os; print(os.path.dirname(migfleet.spec.__file__))"
    if ssh is not None:
        return ssh(f"{python} -c {shlex.quote(code)}").stdout.strip()
    return subprocess.run([python, "-c", code], capture_output=True, text=True, env=env, check=True).stdout.strip()


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    work = tmp_path_factory.mktemp("wheel")
    wheel = build_wheel(work)
    return wheel, install(wheel, work)


def test_newcomer_from_the_controller(deployed, installed, tmp_path):
    lab, (_, venv) = deployed, installed
    h = lab_host(lab, FROM_CONTROLLER)
    data = {"ssh_hostname": h["address"], "ssh_user": lab.inventory["ssh_user"], "ssh_key": lab.inventory["ssh_key"],
            "ssh_known_hosts_file": lab.inventory["known_hosts"], "gpu_models": list(h["gpu_models"]),
            "mig_layout": LAYOUTS[h["gpu_models"][0]]}
    folder = project(tmp_path / "project", [(FROM_CONTROLLER, data)])
    env = clean_env(venv)

    def user(*argv: str, timeout: float = 900) -> str:
        return ok(subprocess.run(list(argv), cwd=folder, env=env, capture_output=True, text=True, timeout=timeout,
                                 stdin=subprocess.DEVNULL))
    try:
        assert "no errors" in user(venv.bin("migfleet"), "validate", "inventory.py")
        user(venv.bin("pyinfra"), "-y", "inventory.py", "deploy.py")
        user(venv.bin("python"), "-m", "pytest", "-q", "-p", "no:cacheprovider", spec_dir(venv.bin("python"), env),
             "--inventory", "inventory.py", timeout=600)
        serves(lab, FROM_CONTROLLER)
        user(venv.bin("migfleet"), "drift", "inventory.py")
        again = json.loads(subprocess.run([venv.bin("pyinfra"), "-y", "--json", "inventory.py", "deploy.py"], cwd=folder,
                                          env=env, capture_output=True, text=True, timeout=600).stdout)
        assert [op["name"] for op in again["results"]["operations"] if op["success"]] == []    # a re-run changes nothing
    finally:
        deploy("--limit", FROM_CONTROLLER)


def test_newcomer_as_local_on_the_host(deployed, installed, tmp_path):
    lab, (wheel, venv) = deployed, installed
    h = lab_host(lab, AS_LOCAL)

    def ssh(command: str, timeout: float = 900) -> subprocess.CompletedProcess:
        proc = lab.ssh(AS_LOCAL, command, timeout=timeout, check=False)
        ok(proc)
        return proc
    # The host has no package index: the wheel and its dependencies travel as a wheelhouse.
    wheels = tmp_path / "newcomer" / "wheels"
    run([venv.bin("pip"), "wheel", "-q", "-w", str(wheels), "-c", str(REPO / "requirements.txt"), str(wheel)],
        cwd=tmp_path, timeout=900)
    project(tmp_path / "newcomer" / "project",
            [("@local", {"gpu_models": list(h["gpu_models"]), "mig_layout": LAYOUTS[h["gpu_models"][0]]})])
    tar = subprocess.run(["tar", "-C", str(tmp_path / "newcomer"), "-cf", "-", "."], capture_output=True, check=True).stdout
    subprocess.run(["ssh", "-F", lab.inventory["ssh_config"], "-o", "BatchMode=yes", AS_LOCAL,
                    f"rm -rf {REMOTE_DIR} && mkdir -p {REMOTE_DIR} && tar -C {REMOTE_DIR} -xf -"],
                   input=tar, check=True, timeout=300)
    py = f"{REMOTE_DIR}/venv/bin/python"
    try:
        ssh(f"python3 -m venv {REMOTE_DIR}/venv && {REMOTE_DIR}/venv/bin/pip install -q --no-index "
            f"--find-links {REMOTE_DIR}/wheels migfleet")
        in_project = f"cd {REMOTE_DIR}/project && "
        assert "no errors" in ssh(in_project + f"{REMOTE_DIR}/venv/bin/migfleet validate --live inventory.py").stdout
        ssh(in_project + f"{REMOTE_DIR}/venv/bin/pyinfra -y inventory.py deploy.py")
        ssh(in_project + f"{py} -m pytest -q -p no:cacheprovider {spec_dir(py, ssh=ssh)} --inventory inventory.py",
            timeout=600)
        serves(lab, AS_LOCAL)
        ssh(in_project + f"{REMOTE_DIR}/venv/bin/migfleet drift inventory.py")
        ssh(in_project + f"{REMOTE_DIR}/venv/bin/migfleet export inventory.py")
    finally:
        lab.ssh(AS_LOCAL, f"rm -rf {REMOTE_DIR}", check=False)
        deploy("--limit", AS_LOCAL)
