"""drift and export select hosts through one block (migfleet.cli.hosts_arg): the same hosts, the same
one-line errors, exit 2, no host read."""
from __future__ import annotations

import argparse

import pytest

from migfleet.cli import drift, export, hosts_arg


def _inventory(tmp_path):
    path = tmp_path / "inventory.py"
    path.write_text('hosts = [("h1", {"ssh_user": "root"}), ("h2", {"ssh_user": "root"}), ("h3", {})]\n')
    return str(path)


def test_limit_selects_in_inventory_order(tmp_path):
    ap = argparse.ArgumentParser()
    hosts_arg.add_arguments(ap)
    args = ap.parse_args([_inventory(tmp_path), "--limit", "h3", "--limit", "h1"])
    assert [h.name for h in hosts_arg.selected_hosts("x", args)] == ["h1", "h3"]
    assert [h.name for h in hosts_arg.selected_hosts("x", ap.parse_args([args.inventory]))] == ["h1", "h2", "h3"]


@pytest.mark.parametrize("command", [drift, export], ids=["drift", "export"])
def test_unknown_host_and_missing_inventory_are_one_line_and_exit_2(command, tmp_path, capsys):
    name = command.__name__.rsplit(".", 1)[1]
    assert command.main([_inventory(tmp_path), "--limit", "h9"]) == 2
    assert capsys.readouterr().err == f"{name}: host(s) not in the inventory: h9\n"
    assert command.main([str(tmp_path / "nowhere.py")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"{name}: ") and "nowhere.py" in err and err.count("\n") == 1, err
