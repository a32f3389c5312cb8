"""The built wheel, installed into a fresh virtualenv outside the checkout: its command, its
package data, `migfleet validate` on an inventory of its own, and a separate pyinfra project
importing its deploys."""
from __future__ import annotations

import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

import migfleet
from tests.packaging.wheeltools import REPO, build_wheel, clean_env, install, run

pytestmark = pytest.mark.slow
USERPROJECT = Path(__file__).resolve().parent / "userproject"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("wheel")
    wheel = build_wheel(workdir)
    installed = install(wheel, workdir)
    print(f"wheel {wheel.name}: {wheel.stat().st_size} bytes; installed with dependencies in "
          f"{installed.seconds:.1f} s")
    return wheel, installed, workdir


def test_wheel_carries_package_data_and_the_console_command(built):
    wheel, _, _ = built
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        entry_points = zf.read(f"migfleet-{migfleet.__version__}.dist-info/entry_points.txt").decode()
    schemas = {p.name for p in (REPO / "migfleet" / "schemas").glob("*.json")}
    units = {p.name for p in (REPO / "migfleet" / "files" / "systemd").iterdir()}
    assert "migfleet/mig/catalog.json" in names
    assert {f"migfleet/schemas/{s}" for s in schemas} <= names and schemas
    assert {f"migfleet/files/systemd/{u}" for u in units} <= names and units
    assert {"migfleet/deploys/all.py", "migfleet/spec/conftest.py", "migfleet/cli/__init__.py"} <= names
    assert not any("__pycache__" in n or n.startswith(("tests/", "lab/")) for n in names)
    assert "migfleet = migfleet.cli:main" in entry_points


def test_installed_command_runs_from_the_virtualenv_not_the_checkout(built, tmp_path):
    _, installed, _ = built
    env = clean_env(installed)
    version = run([installed.bin("migfleet"), "--version"], cwd=tmp_path, env=env)
    assert version.stdout == f"migfleet {migfleet.__version__}\n"
    where = run([installed.bin("python"), "-c", "import migfleet; print(migfleet.__file__)"], cwd=tmp_path, env=env)
    assert where.stdout.startswith(str(installed.venv)) and str(REPO) not in where.stdout


def test_validate_an_inventory_with_its_own_group_data(built, tmp_path):
    _, installed, _ = built
    env = clean_env(installed)
    (tmp_path / "group_data").mkdir()
    (tmp_path / "inventory.py").write_text(
        'gpus = [("gpu1", {"gpu_models": ["NVIDIA A100-SXM4-40GB", "NVIDIA A100-SXM4-40GB"]}),\n'
        '        ("gpu2", {"gpu_models": ["NVIDIA H100 80GB HBM3"]})]\n')
    layout = tmp_path / "group_data" / "all.py"
    layout.write_text('mig_layout = [{"gpus": {"model": "NVIDIA A100-SXM4-40GB"}, '
                      '"instances": [{"profile": "1g.5gb", "count": 7}]},\n'
                      '              {"gpus": {"model": "NVIDIA H100 80GB HBM3"}, '
                      '"instances": [{"profile": "3g.40gb", "count": 2}]}]\n')
    # The default model repository is models/ beside the inventory, not a path inside the package.
    missing = run_fails([installed.bin("migfleet"), "validate", "inventory.py"], tmp_path, env)
    assert f"gpu1: $.triton_model_repository: model repository 'models' (resolved against {tmp_path}" in missing.stderr
    (tmp_path / "models" / "example" / "1").mkdir(parents=True)
    (tmp_path / "models" / "example" / "config.pbtxt").write_text('backend: "python"\n')
    good = run([installed.bin("migfleet"), "validate", "inventory.py"], cwd=tmp_path, env=env)
    assert "2 host(s), no errors" in good.stdout
    layout.write_text(layout.read_text().replace('"count": 7', '"count": 8'))
    bad = run_fails([installed.bin("migfleet"), "validate", "inventory.py"], tmp_path, env)
    assert "too many 1g.5gb instances: 8 of 7" in bad.stderr


def run_fails(argv: list[str], cwd: Path, env: dict) -> subprocess.CompletedProcess:
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert proc.returncode != 0, proc.stdout
    return proc


def test_separate_pyinfra_project_loads_migfleet_deploys(built, tmp_path):
    _, installed, _ = built
    env = clean_env(installed)
    project = tmp_path / "project"
    shutil.copytree(USERPROJECT, project)
    (project / "empty.py").write_text("hosts = []\n")
    dry = run([installed.bin("pyinfra"), "empty.py", "deploy.py", "--dry"], cwd=project, env=env)
    assert "Loading: deploy.py" in dry.stdout + dry.stderr
    planned = run([installed.bin("migfleet"), "plan", "empty.py"], cwd=project, env=env)
    assert "Detected changes" in planned.stdout + planned.stderr
    # With a host, the deploy file runs on the installed package: the inventory check refuses an
    # impossible layout while operations are prepared, before anything is run on the host.
    (project / "bad.py").write_text(
        'hosts = [("@local", {"gpu_models": ["NVIDIA H200"], '
        '"mig_layout": [{"gpus": "all", "instances": [{"profile": "7g.141gb", "count": 2}]}]})]\n')
    refused = run_fails([installed.bin("pyinfra"), "-y", "bad.py", "deploy.py"], project, env)
    out = refused.stdout + refused.stderr
    assert "inventory rejected" in out and "7g.141gb" in out
    assert "Configure MIG" not in out


def test_spec_runs_the_packaged_suite_with_the_checkouts_node_ids(built, tmp_path):
    _, installed, _ = built
    env = clean_env(installed)
    (tmp_path / "inventory.py").write_text('hosts = [("gpu1", {"gpu_models": ["NVIDIA H100 80GB HBM3"]})]\n')
    done = run([installed.bin("migfleet"), "spec", "inventory.py", "--collect-only", "-q", "-k", "mig_layout"],
               cwd=tmp_path, env=env)
    assert done.stdout.splitlines()[0] == "migfleet/spec/test_mig.py::test_mig_layout[gpu1]", done.stdout
    assert "1/" in done.stdout.splitlines()[-1] and "tests collected" in done.stdout.splitlines()[-1]
    # Nothing written here or into the installed package (no pytest cache).
    assert sorted(p.name for p in tmp_path.iterdir()) == ["inventory.py"]
    assert not list(installed.venv.rglob(".pytest_cache"))
