"""file_sd targets for a fleet, from host data as the inventory loader merges it."""
from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from migfleet.fleet.targets import TargetsError, render_targets
from migfleet.inventory import load_inventory_data


def test_one_target_group_per_host_at_its_ssh_address():
    text = render_targets({
        "lab-h2": {"ssh_hostname": "10.250.0.12"},
        "lab-h1": {"ssh_hostname": "10.250.0.11", "metrics_port": 9102, "groups": ["lab", "all"]},
        "gpu-a.example.com": {},
        "v6": {"ssh_hostname": "2001:db8::7"},
    })
    assert text.endswith("\n")
    assert json.loads(text) == [
        {"targets": ["gpu-a.example.com:8002"], "labels": {"host": "gpu-a.example.com"}},
        {"targets": ["10.250.0.11:9102"], "labels": {"host": "lab-h1", "groups": ",all,lab,"}},
        {"targets": ["10.250.0.12:8002"], "labels": {"host": "lab-h2"}},
        {"targets": ["[2001:db8::7]:8002"], "labels": {"host": "v6"}},
    ]


@pytest.mark.parametrize("data, reason", [
    ({"metrics_port": 0}, "metrics_port 0"),
    ({"metrics_port": "8002"}, "metrics_port '8002'"),
    ({"metrics_port": True}, "metrics_port True"),
    ({"ssh_hostname": "root@h"}, "cannot be a scrape target"),
    ({"ssh_hostname": "a b"}, "cannot be a scrape target"),
])
def test_a_host_that_cannot_be_a_target_is_named(data, reason):
    with pytest.raises(TargetsError, match=f"^bad: .*{reason}"):
        render_targets({"good": {}, "bad": data})


def test_two_hosts_on_one_target_are_refused():
    with pytest.raises(TargetsError, match="10.0.0.1:8002 is also a's"):
        render_targets({"a": {"ssh_hostname": "10.0.0.1"}, "b": {"ssh_hostname": "10.0.0.1"}})


def test_production_inventory_gives_every_host(tmp_path):
    hosts = load_inventory_data("inventories/production.py")
    groups = json.loads(render_targets(hosts))
    assert [g["labels"]["host"] for g in groups] == sorted(hosts)
    assert all(g["targets"] == [f"{g['labels']['host']}:8002"] for g in groups)
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool missing (bin/setup installs Debian's prometheus)")
    # promtool reads the file_sd file a config names, as Prometheus would.
    (tmp_path / "targets.json").write_text(render_targets(hosts))
    (tmp_path / "prometheus.yml").write_text(
        "scrape_configs:\n- job_name: migfleet\n  honor_labels: true\n"
        f"  file_sd_configs:\n  - files: ['{tmp_path}/targets.json']\n")
    result = subprocess.run([promtool, "check", "config", str(tmp_path / "prometheus.yml")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
