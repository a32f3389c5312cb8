"""What `advise --write`, `import -o` and `targets -o` do to the user's files: the one assignment
they own, or the file they own whole, or nothing and one line naming the file and why."""
import json
import os
import runpy
import stat

import pytest
import pyinfra_cli.util as pyinfra_util

from migfleet.cli import advise, importer, targets
from tests.advise.helpers import answers

A100 = "NVIDIA A100-SXM4-40GB"
H100 = "NVIDIA H100 80GB HBM3"
CAPACITY = {"version": 1, "p99_ms": 50, "models": {"a": {"memory_mib": 1000}, "b": {"memory_mib": 1000}},
            "gpus": {A100: {"1g.5gb": {"rps": {"a": 10, "b": 10}}, "2g.10gb": {"rps": {"a": 19, "b": 19}},
                            "3g.20gb": {"rps": {"a": 28, "b": 28}}, "7g.40gb": {"rps": {"a": 60, "b": 60}}}}}
INVENTORY = (f"fleet = [('gpu1.example.com', {{'gpu_models': [{A100!r}]}}), "
             f"('gpu2.example.com', {{'gpu_models': [{A100!r}]}})]\n")
GROUP_DATA = ('"""Layouts."""\n\nmig_reboot_policy = "never"\n\nmig_layout = [\n'
              '    {"gpus": "all", "instances": [{"profile": "1g.5gb", "count": 2}]},\n]\n\n'
              'triton_model_repository = "../models"\n')


@pytest.fixture
def site(tmp_path, monkeypatch):
    """An inventory with its group_data beside it, a demand that changes the layout, and a working
    folder elsewhere."""
    (tmp_path / "site" / "group_data").mkdir(parents=True)
    (tmp_path / "site" / "fleet.py").write_text(INVENTORY)
    (tmp_path / "site" / "group_data" / "fleet.py").write_text(GROUP_DATA)
    (tmp_path / "site" / "capacity.json").write_text(json.dumps(CAPACITY))
    for model in ("a", "b"):
        (tmp_path / "models" / model / "1").mkdir(parents=True)
        (tmp_path / "models" / model / "config.pbtxt").write_text(f'name: "{model}"\nbackend: "python"\n')
    rates = {(h, m): r for h in ("gpu1.example.com", "gpu2.example.com") for m, r in (("a", 40.0), ("b", 8.0))}
    (tmp_path / "site" / "demand.json").write_text(json.dumps(answers(rates)))
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    monkeypatch.setenv("MIGFLEET_LOAD_TIMEOUT", "2")
    return tmp_path / "site"


def run(capsys, main, *argv):
    pyinfra_util.PYTHON_CODES.clear()       # a command is a new process: no compiled file kept
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def advise_write(capsys, site, *write):
    return run(capsys, advise.main, str(site / "fleet.py"), "--demand-file", str(site / "demand.json"),
               "--capacity", str(site / "capacity.json"), "--write", *write)


def test_advise_writes_the_inventorys_group_data_from_any_folder(site, capsys):
    code, _, err = advise_write(capsys, site)
    assert code == 0, err
    assert os.listdir(".") == []                    # no stray ./group_data
    module = runpy.run_path(str(site / "group_data" / "fleet.py"))
    assert module["mig_layout"] != runpy.run_path(str(site / "group_data" / "fleet.py"))["__doc__"]
    assert module["mig_layout"][0]["gpus"] == {"model": A100}
    text = (site / "group_data" / "fleet.py").read_text()
    assert text.startswith('"""Layouts."""\n\nmig_reboot_policy = "never"\n\n# migfleet advise: demand from ')
    assert text.endswith(']\n\ntriton_model_repository = "../models"\n')


@pytest.mark.parametrize("name, reason", [
    ("fleet.py", "is the inventory file; mig_layout goes in a group data module (--write with no FILE: {site}/"
                 "group_data/fleet.py)"),
    ("demand.json", "is not a Python module (the name does not end in .py); mig_layout is written only into a "
                    "group data module, e.g. group_data/GROUP.py; advise wrote nothing"),
])
def test_advise_refuses_to_write_into_its_own_inputs(site, capsys, name, reason):
    before = (site / name).read_bytes()
    code, _, err = advise_write(capsys, site, str(site / name))
    assert code == 1
    assert f"migfleet advise: {site / name}: {reason.format(site=site)}\n" in err
    assert (site / name).read_bytes() == before


def test_advise_refuses_a_layout_built_in_two_statements(site, capsys):
    module = site / "group_data" / "fleet.py"
    text = GROUP_DATA.replace("mig_layout = [", "mig_layout = []\nmig_layout += [")
    module.write_text(text)
    code, _, err = advise_write(capsys, site)
    assert code == 1 and "mig_layout is assigned more than once (line 5: `=`, line 6: changed by `+=`)" in err
    assert module.read_text() == text


MIG_PARTED = """version: v1
mig-configs:
  balanced:
    - devices: all
      mig-enabled: true
      mig-devices: {"1g.10gb": 2, "2g.20gb": 1, "3g.40gb": 1}
"""
LAYOUT = [{"gpus": "all", "instances": [{"profile": "3g.40gb", "count": 1}, {"profile": "2g.20gb", "count": 1},
                                        {"profile": "1g.10gb", "count": 2}]}]


def import_to(capsys, tmp_path, out):
    (tmp_path / "mig-parted.yaml").write_text(MIG_PARTED)
    return run(capsys, importer.main, "mig-parted", str(tmp_path / "mig-parted.yaml"), "--config", "balanced",
               "--gpu-model", H100, "-o", str(out))


def test_import_into_an_existing_module_replaces_only_its_mig_layout(tmp_path, capsys):
    module = tmp_path / "group_data" / "h100.py"
    module.parent.mkdir()
    head = '"""H100 hosts."""\n\n# the GPUs of every host\ngpu_models = ["NVIDIA H100 80GB HBM3"] * 8\n\n'
    tail = '\nmig_reboot_policy = "never"  # no reboots\n'
    module.write_text(head + 'mig_layout = [{"gpus": "all", "mig": False}]\n' + tail)
    code, _, err = import_to(capsys, tmp_path, module)
    assert code == 0 and err == f"import: 1 rule(s) replacing mig_layout in {module}\n"
    text = module.read_text()
    assert text.startswith(head + f"# migfleet import: mig-parted config 'balanced' of {tmp_path}/mig-parted.yaml\n"
                                  "mig_layout = [\n    # fits: NVIDIA H100 80GB HBM3\n")
    assert text.endswith("},\n]\n" + tail)
    data = runpy.run_path(str(module))
    assert data["gpu_models"] == [H100] * 8 and data["mig_reboot_policy"] == "never" and data["mig_layout"] == LAYOUT


def test_import_into_a_missing_folder_creates_it(tmp_path, capsys):
    module = tmp_path / "new" / "group_data" / "h100.py"
    code, _, err = import_to(capsys, tmp_path, module)
    assert code == 0 and err == f"import: 1 rule(s) written to new module {module}\n"
    assert runpy.run_path(str(module))["mig_layout"] == LAYOUT


def test_import_onto_a_folder_or_an_inventory_is_refused(tmp_path, capsys):
    (tmp_path / "group_data").mkdir()
    code, out, err = import_to(capsys, tmp_path, tmp_path / "group_data")
    assert code == 1 and out == ""
    assert err == (f"import: {tmp_path}/group_data: is a folder; name the module file to write in it, e.g. "
                   f"{tmp_path}/group_data/GROUP.py; nothing was written\n")
    inventory = tmp_path / "inventory.py"
    inventory.write_text(INVENTORY)
    code, _, err = import_to(capsys, tmp_path, inventory)
    assert code == 1 and "holds hosts (host group fleet: 2 host(s)): it is an inventory file" in err
    assert inventory.read_text() == INVENTORY


def targets_to(capsys, site, out):
    return run(capsys, targets.main, str(site / "fleet.py"), "-o", str(out))


def test_targets_into_a_missing_folder_creates_it(site, capsys):
    out = site / "prometheus" / "file_sd" / "migfleet.json"
    code, _, err = targets_to(capsys, site, out)
    assert code == 0, err
    assert [g["targets"] for g in json.loads(out.read_text())] == [["gpu1.example.com:8002"], ["gpu2.example.com:8002"]]


def test_targets_onto_a_folder_is_refused(site, capsys):
    code, out, err = targets_to(capsys, site, site / "group_data")
    assert code == 1 and out == ""
    assert err == (f"migfleet targets: {site}/group_data: is a folder; name the file to write, e.g. "
                   f"{site}/group_data/FILE\n")


def test_targets_replaces_its_file_whole_keeping_its_mode(site, capsys):
    out = site / "targets.json"
    out.write_text("[]\n")
    os.chmod(out, 0o640)
    code, _, err = targets_to(capsys, site, out)
    assert code == 0, err
    assert json.loads(out.read_text())[0]["targets"] == ["gpu1.example.com:8002"]
    assert stat.S_IMODE(out.stat().st_mode) == 0o640
    assert sorted(p.name for p in site.iterdir()) == ["capacity.json", "demand.json", "fleet.py", "group_data",
                                                     "targets.json"]


def test_export_onto_a_folder_is_refused_and_into_a_missing_one_creates_it(tmp_path, monkeypatch, capsys):
    from migfleet.cli import export
    from migfleet.fleet import drift
    from tests.fleet.captures import snapshot
    (tmp_path / "inventory.py").write_text("hosts = ['lab-h1']\n")
    monkeypatch.setattr(drift, "read_all", lambda hosts: {h.name: snapshot("h100-mixed") for h in hosts})
    monkeypatch.chdir(tmp_path)
    inventory = str(tmp_path / "inventory.py")
    (tmp_path / "out").mkdir()
    code, out, err = run(capsys, export.main, inventory, "--format", "mig-parted", "-o", "out")
    assert code == 2 and out == "" and err == "export: out: is a folder; name the file to write, e.g. out/FILE\n"
    code, _, err = run(capsys, export.main, inventory, "--format", "mig-parted", "-o", "new/mig-parted.yaml")
    assert code == 0, err
    assert (tmp_path / "new" / "mig-parted.yaml").read_text().startswith("version: v1")
