"""file_sd targets for a fleet, from host data as the inventory loader merges it."""
from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from migfleet.fleet import local
from migfleet.fleet.targets import TargetsError, render_targets
from migfleet.inventory import load_inventory, load_inventory_data


def test_one_target_group_per_host_at_its_ssh_address():
    text = render_targets({
        "lab-h2": {"ssh_hostname": "10.250.0.12"},
        "lab-h1": {"ssh_hostname": "10.250.0.11", "metrics_port": 9102},
        "gpu-a.example.com": {"groups": ["not", "a", "label"]},         # host data names no group
        "v6": {"ssh_hostname": "2001:db8::7"},
    }, host_groups={"lab-h1": ["lab", "all"], "lab-h2": []})
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


def test_the_groups_label_is_pyinfras_groups_of_the_host(tmp_path, capsys):
    """What `migfleet targets` writes: each host's groups as the inventory puts it in them."""
    from migfleet.cli import targets as targets_command
    loaded = load_inventory("inventories/production.py")
    assert targets_command.main(["inventories/production.py", "-o", str(tmp_path / "t.json")]) == 0
    written = {g["labels"]["host"]: g["labels"].get("groups") for g in json.loads((tmp_path / "t.json").read_text())}
    assert written == {name: "," + ",".join(loaded.groups[name]) + "," for name in loaded.hosts}
    a100_40 = [n for n, groups in loaded.groups.items() if "a100_40" in groups]
    assert a100_40 and all(written[n].startswith(",a100_40,") and ",production," in written[n] for n in a100_40)
    assert all(",a100_40," not in written[n] for n in written if n not in a100_40)


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


@pytest.mark.parametrize("address, target", [
    ("10.0.0.7", "10.0.0.7:8002"),
    ("2001:DB8:0:0::7", "[2001:db8::7]:8002"),            # compressed, lower case
    ("fe80::1%eth0", "[fe80::1%eth0]:8002"),
    ("GPU-01.Example.COM.", "gpu-01.example.com:8002"),   # lower case, without the final dot
    (" gpu-01.example.com ", "gpu-01.example.com:8002"),
])
def test_one_target_form_per_kind_of_address(address, target):
    [group] = json.loads(render_targets({"h": {"ssh_hostname": address}}))
    assert group["targets"] == [target]


SHORT_IPV4 = "looks like an IPv4 address but is not one (four numbers 0-255 separated by dots, without leading zeros)"
OWN = "which a Prometheus reads as its own machine; set ssh_hostname in its data to the name or address to scrape"


@pytest.mark.parametrize("name, data, message", [
    ("h", {"ssh_hostname": "10.1.2"}, f"h: $.ssh_hostname: cannot be a scrape target: '10.1.2' {SHORT_IPV4}"),
    ("10.1.2", {}, f"10.1.2: $: cannot be a scrape target: '10.1.2' {SHORT_IPV4}"),
    ("h", {"ssh_hostname": "010.1.2.3"}, f"h: $.ssh_hostname: cannot be a scrape target: '010.1.2.3' {SHORT_IPV4}"),
    ("h", {"ssh_hostname": "12345"}, f"h: $.ssh_hostname: cannot be a scrape target: '12345' {SHORT_IPV4}"),
    ("gpu-01.example.com:9100", {}, "gpu-01.example.com:9100: $: cannot be a scrape target: the address holds a port "
                                    "('gpu-01.example.com:9100'): give the port as ssh_port"),
    ("h", {"ssh_hostname": "gpu:9100"}, "h: $.ssh_hostname: cannot be a scrape target: the address holds a port "
                                        "('gpu:9100'): give the port as ssh_port"),
    ("h", {"ssh_hostname": "127.0.0.1"}, f"h: $.ssh_hostname: cannot be a scrape target: 127.0.0.1, {OWN}"),
    ("h", {"ssh_hostname": "::1"}, f"h: $.ssh_hostname: cannot be a scrape target: ::1, {OWN}"),
    ("h", {"ssh_hostname": "Localhost."}, f"h: $.ssh_hostname: cannot be a scrape target: localhost, {OWN}"),
    ("h", {"ssh_hostname": 7}, "h: $.ssh_hostname: cannot be a scrape target: 7 is not a string"),
    ("h", {"metrics_port": 70000}, "h: $.metrics_port: metrics_port 70000 is not a TCP port"),
])
def test_an_address_no_prometheus_can_scrape_is_refused_with_host_field_and_reason(name, data, message):
    with pytest.raises(TargetsError) as refused:
        render_targets({name: data})
    assert str(refused.value) == message


def test_at_local_is_this_machine_by_its_name_with_its_domain(monkeypatch):
    monkeypatch.setattr(local, "machine_name", lambda: "GPU-07.Example.com")
    assert json.loads(render_targets({"@local": {}}))[0]["targets"] == ["gpu-07.example.com:8002"]
    # Its data's ssh_hostname wins, whatever the machine calls itself.
    monkeypatch.setattr(local, "machine_name", lambda: "localhost")
    assert json.loads(render_targets({"@local": {"ssh_hostname": "10.0.0.9"}}))[0]["targets"] == ["10.0.0.9:8002"]


@pytest.mark.parametrize("name", ["localhost", "gpu-07", "localhost6.localdomain6"])
def test_at_local_without_a_name_others_resolve_says_what_to_set(monkeypatch, name):
    monkeypatch.setattr(local, "machine_name", lambda: name)
    with pytest.raises(TargetsError) as refused:
        render_targets({"@local": {}})
    assert str(refused.value) == (f"@local: $.ssh_hostname: not set, and this machine calls itself {name!r}, which a "
                                  "Prometheus elsewhere cannot resolve; set ssh_hostname in its data to the name or "
                                  "address to scrape")


def test_loopback_is_a_target_only_for_a_prometheus_on_the_same_machine():
    hosts = {"h1": {"ssh_hostname": "127.0.0.6", "metrics_port": 9100}}
    with pytest.raises(TargetsError, match="reads as its own machine"):
        render_targets(hosts)
    assert json.loads(render_targets(hosts, same_machine=True))[0]["targets"] == ["127.0.0.6:9100"]
