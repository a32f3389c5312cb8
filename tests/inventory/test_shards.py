"""docs/SCALE.md's shard recipe: three shard inventories read one shared hosts module and keep their
slice by a hash of the host name. Each shard loads and validates as exactly its own hosts, also under
the `migfleet` command (the loader puts the folder it runs from on sys.path, as pyinfra's CLI does);
a shard that keeps no host is refused. The module's list is imported under a private name: imported
as `HOSTS`, pyinfra reads it as a group, and every shard, the empty one too, is the whole fleet."""
from __future__ import annotations

import re
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from migfleet.cli import validate
from migfleet.inventory import load_inventory_data

REPO = Path(__file__).resolve().parents[2]
HOSTS = [f"gpu-{i:02}.invalid" for i in range(1, 13)]
SHARDS = 3


def _recipe_lines() -> list[str]:
    """The recipe's Python block in docs/SCALE.md, its 8 shards and shard 3 made 3 shards and shard N."""
    text = (REPO / "docs" / "SCALE.md").read_text()
    block = next(b for b in re.findall(r"```python\n(.*?)```", text, re.S) if "fleet_hosts" in b)
    return [line.strip() for line in block.splitlines() if line.strip() and not line.strip().startswith("#")]


def _shard(lines: list[str], n: int) -> str:
    return "\n".join(re.sub(r"shard_3\b", f"shard_{n}", line).replace("% 8 == 3", f"% {SHARDS} == {n}")
                     for line in lines) + "\n"


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A project root: group_data/all.py, fleet_hosts.py, inventories/shard_{0,1,2,7}.py (7: no host)."""
    (tmp_path / "inventories").mkdir()
    (tmp_path / "group_data").mkdir()
    (tmp_path / "models" / "m" / "1").mkdir(parents=True)
    (tmp_path / "models" / "m" / "config.pbtxt").write_text('name: "m"\nbackend: "python"\n')
    (tmp_path / "group_data" / "all.py").write_text(
        'gpu_models = ["NVIDIA H100 80GB HBM3"]\n'
        f"triton_model_repository = {str(tmp_path / 'models')!r}\n"
        "mig_layout = [{'gpus': 'all', 'instances': [{'profile': '3g.40gb', 'count': 2}]}]\n")
    (tmp_path / "fleet_hosts.py").write_text(f"HOSTS = {[(h, {}) for h in HOSTS]!r}\n")
    lines = _recipe_lines()
    for n in (0, 1, 2, 7):
        (tmp_path / "inventories" / f"shard_{n}.py").write_text(_shard(lines, n))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", ".", str(tmp_path))])
    monkeypatch.delitem(sys.modules, "fleet_hosts", raising=False)
    yield tmp_path
    sys.modules.pop("fleet_hosts", None)


def _expected(n: int) -> list[str]:
    return [h for h in HOSTS if zlib.crc32(h.encode()) % SHARDS == n]


def test_recipe_imports_the_host_list_under_a_private_name():
    assert any(re.search(r"from fleet_hosts import HOSTS as _\w+", line) for line in _recipe_lines())


def test_three_shards_each_validate_to_exactly_their_hosts(project, capsys):
    assert all(_expected(n) for n in range(SHARDS))         # the 12 names fill all three shards
    seen = []
    for n in range(SHARDS):
        inventory = f"inventories/shard_{n}.py"
        assert sorted(load_inventory_data(inventory)) == _expected(n)
        assert validate.main([inventory]) == 0
        assert capsys.readouterr().out == f"{inventory}: {len(_expected(n))} host(s), no errors\n"
        seen += _expected(n)
    assert sorted(seen) == HOSTS                            # together, the fleet, each host once


def test_a_shard_with_no_host_is_refused(project, capsys):
    assert load_inventory_data("inventories/shard_7.py") == {}
    assert validate.main(["inventories/shard_7.py"]) == 1
    assert "$: no hosts" in capsys.readouterr().err


def test_imported_as_a_group_the_empty_shard_is_the_whole_fleet(project):
    """Why the name is private: pyinfra makes a group of every list the inventory module holds."""
    public = (project / "inventories" / "shard_7.py").read_text().replace("HOSTS as _HOSTS", "HOSTS") \
        .replace("in _HOSTS", "in HOSTS")
    (project / "inventories" / "public_7.py").write_text(public)
    assert sorted(load_inventory_data("inventories/public_7.py")) == HOSTS


def test_the_migfleet_command_finds_the_hosts_module(project):
    done = subprocess.run([str(Path(sys.executable).parent / "migfleet"), "validate", "inventories/shard_1.py"],
                          cwd=project, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    if done.returncode == 127 or not (Path(sys.executable).parent / "migfleet").exists():
        pytest.skip("no migfleet command in this environment")
    assert (done.returncode, done.stdout) == (0, f"inventories/shard_1.py: {len(_expected(1))} host(s), no errors\n"), \
        done.stderr
