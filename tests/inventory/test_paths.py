"""Local paths in inventory data resolve against the inventory's folder; the model repository is checked
by validate (missing, or holding no model), naming host and field."""
from __future__ import annotations

import shutil
from pathlib import Path

from migfleet import cli
from migfleet.inventory import inventory_folder, load_inventory_data, validate_inventory
from migfleet.inventory.paths import models_in

REPO = Path(__file__).resolve().parents[2]
LAB_MODELS = REPO / "files" / "models"
MINIMAL = ('hosts = [("gpu1", {"gpu_models": ["NVIDIA H200"],\n'
           '                   "mig_layout": [{"gpus": "all", "instances": [{"profile": "1g.18gb", "count": 7}]}]})]\n')


def project(tmp_path: Path, inventory: str = MINIMAL, models: str | None = "models") -> Path:
    """A user's project folder elsewhere: an inventory, and the lab model copied as its repository."""
    folder = tmp_path / "project"
    (folder / "inventories").mkdir(parents=True)
    (folder / "inventories" / "fleet.py").write_text(inventory)
    if models:
        shutil.copytree(LAB_MODELS, folder / "inventories" / models, ignore=shutil.ignore_patterns("__pycache__"))
    return folder / "inventories" / "fleet.py"


def test_default_repository_is_models_beside_the_inventory(tmp_path, monkeypatch, capsys):
    inventory = project(tmp_path)
    monkeypatch.chdir(tmp_path)         # not the inventory's folder: the default still resolves there
    assert cli.main(["validate", str(inventory)]) == 0, capsys.readouterr().err


def test_missing_default_repository_is_a_validate_error(tmp_path, monkeypatch, capsys):
    inventory = project(tmp_path, models=None)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["validate", str(inventory)]) == 1
    err = capsys.readouterr().err
    assert "gpu1: $.triton_model_repository: model repository 'models' (resolved against " in err
    assert f"{inventory.parent / 'models'}) does not exist" in err
    assert "Traceback" not in err


def test_relative_repository_resolves_against_the_inventory_folder(tmp_path, monkeypatch):
    inventory = project(tmp_path, MINIMAL.replace('"gpu_models"', '"triton_model_repository": "../repo", "gpu_models"'),
                        models=None)
    shutil.copytree(LAB_MODELS, inventory.parent.parent / "repo", ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.chdir(REPO)         # the checkout has files/models, but nothing resolves against it
    hosts = load_inventory_data(str(inventory))
    assert validate_inventory(hosts, folder=inventory_folder(str(inventory))) == []
    assert [e.path for e in validate_inventory(hosts, folder=REPO)] == ["$.triton_model_repository"]


def test_repository_without_a_model_is_refused(tmp_path):
    empty = tmp_path / "empty"
    (empty / "notes").mkdir(parents=True)
    (empty / "README.md").write_text("no model here\n")
    hosts = {"gpu1": {"gpu_models": ["NVIDIA H200"], "triton_model_repository": str(empty)},
             "gpu2": {"gpu_models": ["NVIDIA H200"], "triton_model_repository": str(empty / "README.md")}}
    errors = {e.host: e.reason for e in validate_inventory(hosts, folder=tmp_path)}
    assert errors["gpu1"].endswith("holds no model: Triton wants one folder per model, each with a config.pbtxt "
                                   "or a numbered version folder")
    assert errors["gpu2"].endswith("is not a directory")


def test_models_are_folders_with_a_config_or_a_version(tmp_path):
    (tmp_path / "a" / "1").mkdir(parents=True)
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "config.pbtxt").write_text("")
    (tmp_path / "c" / "docs").mkdir(parents=True)
    (tmp_path / ".git" / "1").mkdir(parents=True)
    assert models_in(tmp_path) == ["a", "b"]
    assert models_in(LAB_MODELS) == ["lab_adder", "lab_classifier"]


def test_a_host_list_resolves_against_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert inventory_folder("@local") == tmp_path
    assert inventory_folder(None) == tmp_path


def test_the_deploy_resolves_against_the_inventory_given_to_pyinfra(tmp_path, monkeypatch):
    """Deploy code runs in pyinfra's greenlets, without click's context: the command line is parsed."""
    from migfleet.deploys import context
    inventory = project(tmp_path)
    monkeypatch.chdir(tmp_path)
    try:
        monkeypatch.setattr("sys.argv", ["/venv/bin/pyinfra", "-y", str(inventory), "deploy.py", "--limit", "gpu1"])
        context.pyinfra_arguments.cache_clear()
        assert context.inventory_folder() == inventory.parent
        monkeypatch.setattr("sys.argv", ["/venv/bin/pyinfra", "@local", "deploy.py"])
        context.pyinfra_arguments.cache_clear()
        assert context.inventory_folder() == tmp_path
    finally:
        context.pyinfra_arguments.cache_clear()


def test_a_mig_only_host_needs_no_model_repository(tmp_path, monkeypatch, capsys):
    inventory = project(tmp_path, MINIMAL.replace('"gpu_models"', '"mig_only": True, "gpu_models"'), models=None)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["validate", str(inventory)]) == 0, capsys.readouterr().err
    serving = inventory.with_name("serving.py")
    serving.write_text(MINIMAL.replace('"gpu_models"', '"mig_only": False, "gpu_models"'))
    assert cli.main(["validate", str(serving)]) == 1
    assert "$.triton_model_repository" in capsys.readouterr().err
