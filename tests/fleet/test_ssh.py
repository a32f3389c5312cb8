import pytest

from migfleet.fleet import drift
from migfleet.fleet import ssh as fleet
from migfleet.fleet.checks import Mismatch
from migfleet.inventory import rollout_settings

from .captures import snapshot


@pytest.fixture
def inventory(tmp_path, monkeypatch):
    (tmp_path / "inventories").mkdir()
    (tmp_path / "group_data").mkdir()
    (tmp_path / "group_data" / "all.py").write_text(
        "ssh_user = 'root'\nssh_known_hosts_file = '/srv/kh'\nmig_layout = [{'gpus': 'all', 'mig': False}]\n")
    (tmp_path / "group_data" / "gpu_a.py").write_text("rollout_canary = 2\n")
    inv = tmp_path / "inventories" / "site.py"
    inv.write_text("gpu_a = [('h1', {'ssh_hostname': '10.0.0.1', 'ssh_port': 2222}), 'h2']\n"
                   "gpu_b = [('h3', {'mig_layout': []})]\n")
    monkeypatch.chdir(tmp_path)
    return str(inv)


def test_load_inventory_merges_group_data(inventory):
    hosts = fleet.load_inventory(inventory)
    assert [h.name for h in hosts] == ["h1", "h2", "h3"]
    h1, h2, h3 = hosts
    assert h1.data["ssh_hostname"] == "10.0.0.1" and h1.data["rollout_canary"] == 2
    assert h2.data["ssh_user"] == "root"
    assert h3.data["mig_layout"] == [] and h2.data["mig_layout"] == [{"gpus": "all", "mig": False}]


def test_select_and_unknown_hosts(inventory):
    hosts = fleet.load_inventory(inventory)
    assert [h.name for h in fleet.select(hosts, ["h3", "h1"])] == ["h1", "h3"]
    with pytest.raises(fleet.FleetError, match="not in the inventory: nope"):
        fleet.select(hosts, ["nope"])
    with pytest.raises(fleet.FleetError, match="no such inventory file"):
        fleet.load_inventory("inventories/none.py")


def test_ssh_config_round_trip_keeps_host_key_checking(inventory, tmp_path):
    targets = [fleet.ssh_target(h) for h in fleet.load_inventory(inventory)]
    assert targets[0] == fleet.SshTarget("h1", "10.0.0.1", 2222, "root", None, "/srv/kh")
    assert targets[1].hostname == "h2" and targets[1].port == 22
    cfg = tmp_path / "ssh_config"
    cfg.write_text(fleet.ssh_config_text(targets))
    assert "StrictHostKeyChecking yes" in cfg.read_text()
    assert fleet.target_from_ssh_config("h1", str(cfg)) == targets[0]
    cfg.write_text("Host x\n  StrictHostKeyChecking no\n")
    with pytest.raises(fleet.FleetError, match="always checked"):
        fleet.target_from_ssh_config("x", str(cfg))


def test_no_known_hosts_no_connection(tmp_path):
    t = fleet.SshTarget("h1", "127.0.0.1", 9, "root", None, str(tmp_path / "missing"))
    with pytest.raises(fleet.FleetError, match="known_hosts file .* missing"):
        fleet.connect(t)


def test_strict_host_key_checking_cannot_be_turned_off():
    with pytest.raises(fleet.FleetError, match="always checked"):
        fleet.ssh_target(fleet.FleetHost("h1", {"ssh_strict_host_key_checking": "no"}))


def test_drift_over_read_snapshots(inventory):
    hosts = fleet.load_inventory(inventory)
    live = snapshot("h100-mixed")

    def read(target):
        if target.name == "h2":
            raise fleet.FleetError("h2: cannot connect to h2:22: timeout")
        return live
    got = drift.read_all(hosts, read)
    assert isinstance(got["h2"], fleet.FleetError) and got["h1"] is live
    found = drift.host_drift(hosts[0], got["h1"], geometry_for=lambda g: None)
    # MIG off for all GPUs: only GPU 0 differs (the geometry is not needed to compare modes)
    assert [(m.gpu_index, m.field) for m in found] == [(0, "MIG mode")]
    assert drift.host_drift(hosts[2], live, geometry_for=lambda g: None) == []
    text = drift.table(found)
    assert text.splitlines()[0].split() == ["HOST", "GPU", "UUID", "FIELD", "EXPECTED", "FOUND"]
    assert "h1    0    GPU-a0d11e01" in text


def test_lab_inventory_loads_from_a_handoff_file(tmp_path, monkeypatch):
    """inventories/lab.py + group_data, as the rollout and spec suite load them (no lab needed)."""
    import json
    from pathlib import Path

    from migfleet.fleet import rollout
    repo = Path(__file__).resolve().parents[2]
    if not (repo / "inventories" / "lab.py").exists():
        pytest.skip("no inventories/lab.py")
    (tmp_path / "inventory.json").write_text(json.dumps({
        "hosts": [{"name": f"lab-h{i}", "address": f"10.250.0.{10 + i}", "gpu_models": ["NVIDIA H100 80GB HBM3"]}
                  for i in range(1, 7)],
        "ssh_user": "root", "ssh_key": str(tmp_path / "id"), "known_hosts": str(tmp_path / "kh"),
        "apt_repo": "http://10.250.0.1:8081", "registry": "10.250.0.1:5000"}))
    monkeypatch.setenv("MIGFLEET_LAB_DIR", str(tmp_path))
    monkeypatch.chdir(repo)
    hosts = fleet.load_inventory("inventories/lab.py")
    assert [h.name for h in hosts] == [f"lab-h{i}" for i in range(1, 7)]
    assert fleet.ssh_target(hosts[2]) == fleet.SshTarget("lab-h3", "10.250.0.13", 22, "root",
                                                         str(tmp_path / "id"), str(tmp_path / "kh"))
    assert hosts[0].data["mig_layout"], "group_data/lab.py layouts reach the hosts"
    settings = rollout_settings.settings_from_data({h.name: h.data for h in hosts})
    assert rollout.plan_batches([h.name for h in hosts], settings)[0] == ["lab-h1"]
