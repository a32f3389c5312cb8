"""The proposal as mig_layout rules, and the module rewritten in place."""
import runpy

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
