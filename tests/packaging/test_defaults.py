"""Data defaults live in the schemas only, so the deploys behave the same in any pyinfra project."""
from __future__ import annotations

import json
import runpy
from pathlib import Path

from migfleet.inventory import load_inventory_data, validate_inventory

REPO = Path(__file__).resolve().parents[2]
SCHEMAS = REPO / "migfleet" / "schemas"


def schema_defaults() -> dict:
    out = {}
    for path in SCHEMAS.glob("*.json"):
        for key, spec in json.loads(path.read_text()).get("properties", {}).items():
            if isinstance(spec, dict) and "default" in spec:
                out[key] = spec["default"]
    return out


def test_repository_group_data_restates_no_schema_default():
    defaults = schema_defaults()
    assert {"mig_reboot_policy", "mig_force", "mig_layout"} <= set(defaults)
    restated = {k for k in runpy.run_path(str(REPO / "group_data" / "all.py")) if k in defaults}
    assert not restated, f"group_data/all.py sets {sorted(restated)}, whose defaults are in the schemas"


def test_inventory_without_mig_settings_validates(tmp_path, monkeypatch):
    # No group_data at all: the MIG policy keys are absent (the schema defaults apply), and that is valid.
    (tmp_path / "inventory.py").write_text('hosts = [("gpu1", {"gpu_models": ["NVIDIA H200"]})]\n')
    monkeypatch.chdir(tmp_path)
    hosts = load_inventory_data(str(tmp_path / "inventory.py"))   # absolute: pyinfra caches files by path
    assert "mig_force" not in hosts["gpu1"] and "mig_reboot_policy" not in hosts["gpu1"]
    assert validate_inventory(hosts) == []
