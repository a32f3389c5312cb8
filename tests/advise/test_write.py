"""The proposal as mig_layout rules, and the module rewritten in place."""
import runpy
from pathlib import Path

import pytest

from migfleet.advise.problem import Assignment
from migfleet.advise.today import Other
from migfleet.advise.write import WriteError, rules, target, write
from migfleet.mig import catalog
from migfleet.mig.desired import DesiredInstance
from migfleet.mig.fit import fit

A100 = catalog.lookup("NVIDIA A100-SXM4-40GB")
H100 = catalog.lookup("NVIDIA H100 80GB HBM3")


def a(geo, layout, models):
    placed = fit(geo, [DesiredInstance(p, n) for p, n in layout])
    return Assignment(placed, tuple(models))


def test_one_rule_per_model_when_the_fleet_agrees():
    x = a(A100, [("3g.20gb", 2)], [frozenset({"a"}), None])
    got = rules({("h1", 0): (A100, x, None), ("h2", 0): (A100, x, None)}, {})
    assert got == [{"gpus": {"model": A100.model},
                    "instances": [{"profile": "3g.20gb", "placements": [0], "models": ["a"]},
                                  {"profile": "3g.20gb", "placements": [4]}]}]


def test_index_rules_then_uuid_rules_then_refusal():
    x = a(A100, [("7g.40gb", 1)], [frozenset({"a"})])
    y = a(A100, [("3g.20gb", 2)], [frozenset({"a"}), frozenset({"b"})])
    gpus = {("h1", 0): (A100, x, None), ("h1", 1): (A100, y, None),
            ("h2", 0): (A100, x, None), ("h2", 1): (A100, y, None)}
    got = rules(gpus, {})
    assert [r["gpus"] for r in got] == [[0], [1]]
    gpus[("h2", 1)] = (A100, x, "GPU-00000000-0000-0000-0000-000000000002")
    gpus[("h1", 1)] = (A100, y, None)
    with pytest.raises(WriteError, match="gpu_uuids"):
        rules(gpus, {})
    gpus[("h1", 1)] = (A100, y, "GPU-00000000-0000-0000-0000-000000000001")
    assert [r["gpus"] for r in rules(gpus, {})][-2:] == [{"uuid": "GPU-00000000-0000-0000-0000-000000000001"},
                                                         {"uuid": "GPU-00000000-0000-0000-0000-000000000002"}]


def test_gpus_left_alone_keep_their_state():
    x = a(H100, [("7g.80gb", 1)], [frozenset({"a"})])
    got = rules({("h1", 0): (H100, x, None)}, {("h1", 1): Other(1, A100.model, None, "mig disabled")})
    assert {"gpus": {"model": A100.model}, "mig": False} in got
    none = rules({("h1", 0): (H100, x, None)}, {("h1", 1): Other(1, A100.model, None, "no rule")})
    assert all(r["gpus"] != {"model": A100.model} for r in none)


def test_module_keeps_everything_but_mig_layout(tmp_path):
    old = '"""Mine."""\nimport os\n\nmig_layout = [\n    {"gpus": "all", "mig": False},\n]\nmig_force = True\n'
    path = tmp_path / "m.py"
    path.write_text(old)
    assert write(path, [{"gpus": "all", "mig": False}], "migfleet advise: test") == "replaced"
    new = path.read_text()
    data = runpy.run_path(str(path))
    assert data["mig_force"] is True and data["mig_layout"] == [{"gpus": "all", "mig": False}]
    assert new == old.replace('mig_layout = [\n    {"gpus": "all", "mig": False},',
                              "# migfleet advise: test\nmig_layout = [\n    {'gpus': 'all', 'mig': False},")
    write(path, [{"gpus": "all", "mig": False}], "migfleet advise: test")
    assert path.read_text() == new                  # the earlier note goes with the rules it described
    path.write_text(old + "mig_layout = []\n")
    with pytest.raises(WriteError, match="more than once"):
        write(path, [], "x")
    assert path.read_text() == old + "mig_layout = []\n"


def test_a_rule_for_a_gpu_outside_the_catalog_is_never_dropped():
    x = a(H100, [("7g.80gb", 1)], [frozenset({"a"})])
    other = Other(1, "NVIDIA X1000", None, "model not in the catalog, laid out by a rule")
    with pytest.raises(WriteError, match="not in the catalog"):
        rules({("h1", 0): (H100, x, None)}, {("h1", 1): other})


# --write: where it writes, and what it refuses.

INVENTORY = "fleet = [('h1', {}), ('h2', {})]\n"
RULE = [{"gpus": "all", "mig": False}]


@pytest.fixture
def checkout(tmp_path, monkeypatch):
    """An inventory in a folder of its own with group_data beside it, and a working folder elsewhere."""
    (tmp_path / "site" / "group_data").mkdir(parents=True)
    (tmp_path / "site" / "fleet.py").write_text(INVENTORY)
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    monkeypatch.setenv("MIGFLEET_LOAD_TIMEOUT", "1")
    return tmp_path


@pytest.mark.parametrize("given, module", [
    ("", "site/group_data/fleet.py"),                   # the default: the inventory's own group
    ("a100_40", "site/group_data/a100_40.py"),          # a group name
    ("group_data/a100_40.py", "site/group_data/a100_40.py"),   # the documented form, next to the inventory
])
def test_write_goes_next_to_the_inventory_never_into_the_working_folder(checkout, given, module):
    path = target(str(checkout / "site" / "fleet.py"), given)
    assert path == checkout / module
    write(path, RULE, "migfleet advise: test")
    assert runpy.run_path(str(checkout / module))["mig_layout"] == RULE
    assert list((checkout / "elsewhere").iterdir()) == []


def test_the_checkouts_layout_writes_into_group_data_beside_the_inventories_folder(tmp_path, monkeypatch):
    (tmp_path / "inventories" / "eu").mkdir(parents=True)
    (tmp_path / "group_data").mkdir()
    (tmp_path / "group_data" / "all.py").write_text("mig_reboot_policy = 'never'\n")
    (tmp_path / "inventories" / "production.py").write_text(INVENTORY)
    (tmp_path / "inventories" / "eu" / "fleet.py").write_text(INVENTORY)
    monkeypatch.chdir(tmp_path)
    assert target("inventories/production.py", "") == Path("group_data/production.py")
    assert target("inventories/production.py", "a100_40") == Path("group_data/a100_40.py")
    assert target("inventories/eu/fleet.py", "") == Path("group_data/fleet.py")     # the nearest above


def test_any_other_path_is_taken_as_given(checkout):
    assert target(str(checkout / "site" / "fleet.py"), "mine/a.py") == Path("mine/a.py")
    assert target(str(checkout / "site" / "fleet.py"), str(checkout / "x.py")) == checkout / "x.py"


def test_the_inventory_itself_is_refused(checkout):
    inventory = checkout / "site" / "fleet.py"
    with pytest.raises(WriteError) as exc:
        target(str(inventory), str(inventory))
    assert str(exc.value) == (f"{inventory}: is the inventory file; mig_layout goes in a group data module (--write "
                              f"with no FILE: {checkout / 'site' / 'group_data' / 'fleet.py'})")


def test_a_host_list_inventory_needs_a_named_module(checkout):
    with pytest.raises(WriteError, match=r"^@local is not an inventory file, so it has no group_data module of its "
                                         r"own: name the module \(--write group_data/GROUP.py\)$"):
        target("@local", "")


@pytest.mark.parametrize("name, text, reason", [
    ("other.py", INVENTORY, "holds hosts (host group fleet: 2 host(s)): it is an inventory file, not group data; "
     "mig_layout goes in the group data module of a group, e.g. group_data/fleet.py"),
    ("demand.json", '{"request_rate": {}}\n', "is not a Python module (the name does not end in .py); mig_layout is "
     "written only into a group data module, e.g. group_data/GROUP.py"),
    ("grown.py", "mig_layout = []\nmig_layout += [{'gpus': 'all', 'mig': False}]\n", "mig_layout is assigned more "
     "than once (line 1: `=`, line 2: changed by `+=`); only a module with one plain `mig_layout = [...]` can be "
     "rewritten exactly"),
    ("built.py", "def _layout():\n    return []\n\nmig_layout = _layout()\n", "line 4: mig_layout is computed (a call: "
     "`_layout()`), not written as a literal; rewriting it would drop that code"),
])
def test_a_module_advise_cannot_edit_exactly_is_left_as_it_was(checkout, name, text, reason):
    path = checkout / "site" / name
    path.write_text(text)
    with pytest.raises(WriteError) as exc:
        write(path, RULE, "migfleet advise: test")
    assert str(exc.value) == f"{path}: {reason}; advise wrote nothing"
    assert path.read_text() == text
