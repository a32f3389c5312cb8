"""Inventory validation: the bad_inventories corpus through `python -m migfleet validate`."""
from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from migfleet import __main__ as cli
from migfleet.inventory import format_errors, validate_inventory

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / "tests" / "bad_inventories"
BAD = sorted(p for p in CORPUS.glob("*.py") if p.name != "good.py")


def expected(path: Path) -> list[str]:
    return [ln.split("# expect: ", 1)[1] for ln in path.read_text().splitlines() if ln.startswith("# expect: ")]


@pytest.mark.parametrize("path", BAD, ids=[p.stem for p in BAD])
def test_corpus_rejected_with_exact_messages(path):
    want = expected(path)
    assert want, f"{path.name} has no '# expect:' line"
    start = time.monotonic()
    run = subprocess.run([sys.executable, "-m", "migfleet", "validate", str(path)], cwd=REPO,
                         capture_output=True, text=True, timeout=60)
    assert time.monotonic() - start < 20     # nothing waits on a connection
    assert run.returncode == 1, run.stdout + run.stderr
    lines = run.stderr.splitlines()
    assert lines[0] == f"{path}: {len(want)} error(s)"
    assert lines[1:] == want


def test_good_inventory_passes():
    run = subprocess.run([sys.executable, "-m", "migfleet", "validate", str(CORPUS / "good.py")], cwd=REPO,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert "2 host(s), no errors" in run.stdout


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError(f"network use during validation: {args!r}")
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


@pytest.mark.parametrize("path", BAD[:3] + [CORPUS / "good.py"], ids=lambda p: p.stem)
def test_validate_never_touches_the_network(path, no_network, capsys):
    rc = cli.main(["validate", str(path)])
    assert rc == (0 if path.name == "good.py" else 1)
    assert capsys.readouterr().err.count("\n") == (len(expected(path)) + 1 if rc else 0)


def test_broken_inventory_file_is_reported(tmp_path, capsys):
    bad = tmp_path / "broken.py"
    bad.write_text("hosts = [\n")
    assert cli.main(["validate", str(bad)]) == 1
    assert "cannot load inventory" in capsys.readouterr().err


def test_validate_inventory_api_and_format():
    errors = validate_inventory({"a": {"mig_force": 1}, "b": {"ssh_port": 22, "_private": object()}})
    assert [(e.host, e.path) for e in errors] == [("a", "$.mig_force")]
    assert format_errors(errors) == "a: $.mig_force: 1 is not of type 'boolean'"


def test_schema_registry_holds_every_schema_file():
    from migfleet.inventory import SCHEMA_DIR, _schemas
    import json
    validator, declared = _schemas()
    for f in SCHEMA_DIR.glob("*.json"):
        doc = json.loads(f.read_text())
        assert validator._resolver.lookup(doc["$id"]).contents == doc
    assert {"mig_layout", "gpu_models", "triton_image", "rollout_canary"} <= declared


def test_repo_inventories_validate():
    """The example production inventory must pass (the lab one needs a running lab)."""
    run = subprocess.run([sys.executable, "-m", "migfleet", "validate", "inventories/production.py"], cwd=REPO,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
