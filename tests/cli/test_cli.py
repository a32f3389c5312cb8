"""The `migfleet` command: dispatch, --help and --version, import and export of mig-parted configs,
and plan's pyinfra run."""
from __future__ import annotations

import runpy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import migfleet
from migfleet import cli
from migfleet.cli import plan
from migfleet.fleet import drift
from tests.fleet.captures import snapshot

REPO = Path(__file__).resolve().parents[2]


def run_cli(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    """The dispatcher in a child process, as the console script runs it."""
    code = "import sys; from migfleet.cli import main; sys.exit(main())"
    return subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, env={"PYTHONPATH": str(REPO), "PATH": str(Path(sys.executable).parent)})


def test_version_comes_from_the_package(capsys):
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out == f"migfleet {migfleet.__version__}\n"


@pytest.mark.parametrize("command", list(cli.COMMANDS))
def test_every_command_has_help(command):
    run = run_cli(command, "--help")
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("usage:") and "--help" in run.stdout


def test_usage_lists_every_command_and_unknown_ones_fail(capsys):
    assert cli.main([]) == 2
    usage = capsys.readouterr().err
    assert all(f"  {name}" in usage for name in cli.COMMANDS)
    assert cli.main(["frobnicate"]) == 2
    assert "unknown command 'frobnicate'" in capsys.readouterr().err


def test_validate_runs_through_the_dispatcher():
    good = run_cli("validate", "tests/bad_inventories/good.py")
    assert good.returncode == 0 and "no errors" in good.stdout
    bad = run_cli("validate", "tests/bad_inventories/no_fit.py")
    assert bad.returncode == 1 and "error(s)" in bad.stderr


def test_validate_reads_group_data_of_the_working_directory(tmp_path):
    (tmp_path / "group_data").mkdir()
    (tmp_path / "group_data" / "all.py").write_text(
        'mig_layout = [{"gpus": "all", "instances": [{"profile": "7g.80gb", "count": 2}]}]\n')
    (tmp_path / "inventory.py").write_text('hosts = [("gpu1", {"gpu_models": ["NVIDIA H100 80GB HBM3"]})]\n')
    run = run_cli("validate", "inventory.py", cwd=tmp_path)
    assert run.returncode == 1 and "7g.80gb" in run.stderr


MIG_PARTED = """version: v1
mig-configs:
  balanced:
    - device-filter: ["0x233010DE"]
      devices: all
      mig-enabled: true
      mig-devices: {"1g.10gb": 2, "2g.20gb": 1, "3g.40gb": 1}
  wrong:
    - devices: all
      mig-enabled: true
      mig-devices: {"3g.40gb": 2}
"""


def test_import_writes_a_group_data_module(tmp_path):
    source = tmp_path / "mig-parted.yaml"
    source.write_text(MIG_PARTED)
    out = tmp_path / "group_data" / "h100.py"
    out.parent.mkdir()
    run = run_cli("import", "mig-parted", str(source), "--config", "balanced", "-o", str(out))
    assert run.returncode == 0, run.stderr
    module = runpy.run_path(str(out))
    assert module["mig_layout"] == [{"gpus": {"model": "NVIDIA H100 80GB HBM3"}, "instances": [
        {"profile": "3g.40gb", "count": 1}, {"profile": "2g.20gb", "count": 1}, {"profile": "1g.10gb", "count": 2}]}]
    # the module is group_data an inventory can use: it validates with the hosts' models
    (tmp_path / "inventory.py").write_text(
        "import runpy\n"
        f"_layout = runpy.run_path({str(out)!r})['mig_layout']\n"
        "hosts = [('gpu1', {'gpu_models': ['NVIDIA H100 80GB HBM3'], 'mig_layout': _layout})]\n")
    (tmp_path / "models" / "example" / "1").mkdir(parents=True)     # the default repository, beside the inventory
    (tmp_path / "models" / "example" / "config.pbtxt").write_text('backend: "python"\n')
    assert run_cli("validate", str(tmp_path / "inventory.py")).returncode == 0


def test_import_refusal_names_file_and_config(tmp_path):
    source = tmp_path / "mig-parted.yaml"
    source.write_text(MIG_PARTED)
    run = run_cli("import", "mig-parted", str(source), "--config", "wrong", "--gpu-model", "A100-SXM4-40GB")
    assert run.returncode == 1 and run.stdout == ""
    assert f"{source}: config 'wrong', entry 0: profile 3g.40gb does not exist on NVIDIA A100-SXM4-40GB" in run.stderr
    missing = run_cli("import", "mig-parted", str(source), "--config", "nope")
    assert missing.returncode == 1 and "no config 'nope'; it has balanced, wrong" in missing.stderr
    unreadable = run_cli("import", "mig-parted", str(tmp_path / "absent.yaml"), "--config", "x")
    assert unreadable.returncode == 2


def test_export_mig_parted_format_one_config_per_host(tmp_path, monkeypatch, capsys):
    (tmp_path / "inventory.py").write_text("hosts = ['lab-h1', 'lab-h2']\n")
    live = snapshot("h100-mixed")
    monkeypatch.setattr(drift, "read_all", lambda hosts: {h.name: live for h in hosts})
    monkeypatch.chdir(tmp_path)
    inventory = str(tmp_path / "inventory.py")      # absolute: pyinfra caches files by path
    assert cli.main(["export", inventory, "--format", "mig-parted", "-o", "out.yaml"]) == 0
    spec = yaml.safe_load((tmp_path / "out.yaml").read_text())
    assert spec["version"] == "v1" and list(spec["mig-configs"]) == ["lab-h1", "lab-h2"]
    assert spec["mig-configs"]["lab-h1"] == [
        {"devices": [0], "mig-enabled": True, "mig-devices": {"1c.2g.20gb": 2, "1g.10gb": 2, "3g.40gb": 1}},
        {"devices": [1], "mig-enabled": False}]
    # and `migfleet import` takes it back for the same host
    assert cli.main(["import", "mig-parted", "out.yaml", "--config", "lab-h2", "--gpu-model", "H100 80GB HBM3"]) == 0
    assert "'gpus': [1], 'mig': False" in capsys.readouterr().out


def test_plan_runs_pyinfra_dry_with_the_bundled_composition(tmp_path):
    argv = plan.command("inv.py", None, ["h1", "h2"], ["-v"])
    assert argv[1:] == ["inv.py", "migfleet.deploys.all.deploy_all", "--dry", "--limit", "h1", "--limit", "h2", "-v"]
    (tmp_path / "inventory.py").write_text("hosts = []\n")
    run = run_cli("plan", str(tmp_path / "inventory.py"))
    assert run.returncode == 0, run.stdout + run.stderr
    assert "No such module" not in run.stdout + run.stderr
    absent = run_cli("plan", str(tmp_path / "absent.py"))
    assert absent.returncode == 2 and "not found" in absent.stderr
