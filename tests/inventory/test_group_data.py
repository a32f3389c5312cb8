"""The same command gives the same result from any folder: where pyinfra would miss the group_data/
beside the inventory's folder, every migfleet command and the deploy stop with one line."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from migfleet.inventory.group_data import missed_group_data

REPO = Path(__file__).resolve().parents[2]
H100 = "NVIDIA H100 80GB HBM3"


def project(root: Path, host: str = "gpu-01.invalid") -> Path:
    """inventories/production.py with group_data/ at the project root, as this repository lays it out."""
    (root / "inventories").mkdir(parents=True)
    (root / "group_data").mkdir()
    (root / "models" / "m" / "1").mkdir(parents=True)
    (root / "models" / "m" / "config.pbtxt").write_text('name: "m"\nbackend: "python"\n')
    (root / "inventories" / "production.py").write_text(f"hosts = [{host!r}]\n")
    (root / "group_data" / "all.py").write_text(f"gpu_models = [{H100!r}]\ntriton_model_repository = {str(root / 'models')!r}\n"
                                                "mig_layout = [{'gpus': 'all', 'instances': [{'profile': '3g.40gb', 'count': 2}]}]\n")
    return root / "inventories" / "production.py"


def missed_line(inventory: Path, cwd: Path, pyinfra: bool = False) -> str:
    root = inventory.parent.parent
    fix = f"run from {root}" + (f", or name the folder with pyinfra's --group-data {root / 'group_data'}" if pyinfra else "")
    return (f"{inventory}: its group data, {root / 'group_data'}, is not read from {cwd} (pyinfra reads group_data/ in "
            f"the working folder and in the inventory's folder only): {fix}")


def test_missed_only_where_pyinfra_would_not_look(tmp_path):
    inventory = project(tmp_path / "p")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert missed_group_data(str(inventory), elsewhere) == missed_line(inventory, elsewhere)
    assert missed_group_data(str(inventory), inventory.parent) == missed_line(inventory, inventory.parent)
    assert missed_group_data(str(inventory), elsewhere, pyinfra=True) == missed_line(inventory, elsewhere, pyinfra=True)
    # From the project root, or with the folder named (pyinfra's --group-data, relative to the working folder).
    assert missed_group_data("inventories/production.py", inventory.parent.parent) is None
    assert missed_group_data(str(inventory), elsewhere, ["../p/group_data"]) is None
    # A host list has no folder; an inventory folder with group_data/ of its own is read from anywhere.
    assert missed_group_data("@local", elsewhere) is None
    (inventory.parent / "group_data").mkdir()
    assert missed_group_data(str(inventory), elsewhere) is None


def test_a_group_data_folder_without_modules_is_nothing_to_miss(tmp_path):
    inventory = project(tmp_path)
    (tmp_path / "group_data" / "all.py").unlink()
    (tmp_path / "group_data" / "README").write_text("nothing here\n")
    assert missed_group_data(str(inventory), "/") is None


def migfleet(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "migfleet", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": str(REPO)})


COMMANDS = [("validate",), ("targets",), ("drift",), ("export",), ("rollout", "--state-dir", "state"), ("spec",),
            ("advise", "--demand-file", "demand.json")]


@pytest.mark.parametrize("command", COMMANDS, ids=[c[0] for c in COMMANDS])
def test_every_command_run_from_another_folder_stops_with_one_line(tmp_path, command):
    inventory = project(tmp_path / "p")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "demand.json").write_text("{}")
    done = migfleet(elsewhere, command[0], str(inventory), *command[1:])
    assert done.returncode in (1, 2), done.stdout + done.stderr       # drift, export: 2 for an inventory not read
    assert done.stdout == "" and "Traceback" not in done.stderr
    assert done.stderr.count(missed_line(inventory, elsewhere)) == 1, done.stderr
    assert len(done.stderr.splitlines()) <= 3, done.stderr         # the line, in the command's own frame
    assert sorted(p.name for p in elsewhere.iterdir()) == ["demand.json"]      # nothing written here


def test_from_the_project_root_the_group_data_is_read(tmp_path):
    inventory = project(tmp_path)
    done = migfleet(tmp_path, "validate", "inventories/production.py")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "inventories/production.py: 1 host(s), no errors\n"
    targets = migfleet(tmp_path, "targets", str(inventory))
    assert json.loads(targets.stdout)[0]["targets"] == ["gpu-01.invalid:8002"]


def test_the_deploy_stops_before_anything_runs(tmp_path):
    """pyinfra itself, from another folder (the plan runs the same deploy): the validate deploy stops."""
    inventory = project(tmp_path / "p", host="@local")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    pyinfra = str(Path(sys.executable).parent / "pyinfra")
    done = subprocess.run([pyinfra, str(inventory), "migfleet.deploys.all.deploy_all", "--dry"], cwd=elsewhere,
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode != 0
    out = done.stdout + done.stderr
    assert f"inventory rejected, nothing was run: {missed_line(inventory, elsewhere, pyinfra=True)}" in out, out
    # Named with --group-data, the group data is read: the deploy goes past this check.
    named = subprocess.run([pyinfra, str(inventory), "migfleet.deploys.all.deploy_all", "--dry", "--group-data",
                            str(tmp_path / "p" / "group_data")], cwd=elsewhere, capture_output=True, text=True,
                           timeout=120, stdin=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert "is not read from" not in named.stdout + named.stderr


def test_the_nearest_folder_above_with_group_data_is_the_project_root(tmp_path):
    (tmp_path / "group_data").mkdir()
    (tmp_path / "group_data" / "all.py").write_text("metrics_port = 9102\n")
    inventory = tmp_path / "sites" / "east" / "production.py"
    inventory.parent.mkdir(parents=True)
    inventory.write_text("hosts = ['gpu-01.invalid']\n")
    line = missed_group_data(str(inventory), tmp_path / "sites")
    assert line is not None and line.endswith(f"run from {tmp_path}")
    assert missed_group_data("sites/east/production.py", tmp_path) is None
