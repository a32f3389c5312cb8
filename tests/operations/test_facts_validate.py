"""MigSnapshot over a real capture; whole-inventory validation before any operation."""
from __future__ import annotations

from pathlib import Path

import pytest
from pyinfra.api.deploy import add_deploy
from pyinfra.api.exceptions import FactProcessError

from migfleet.mig import smi as parsers
from migfleet.sections import MARK
from migfleet.facts.mig import MigSnapshot
from migfleet.mig.smi import geometry_command, parse_geometry
from migfleet.deploys.validate import InvalidInventory, validate_inventory
from tests.operations.conftest import Fleet
from tests.operations.simulated_gpus import SimulatedGpus, gpu

H100 = Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures" / "nvidia-h100-80gb-hbm3"


def _section(name: str, text: str, rc: int = 0) -> list[str]:
    # captures end with their own "rc=N" line; the snapshot marks it instead
    body = [line for line in text.splitlines() if not line.startswith("rc=")]
    return [f"{MARK} {name}", *body, f"{MARK} rc={rc}"]


@pytest.mark.skipif(not H100.is_dir(), reason="shared fixtures not present")
def test_snapshot_fact_reads_a_real_capture():
    out = (_section("query", (H100 / "query.csv").read_text()) + _section("list", (H100 / "L.txt").read_text())
           + _section("lgi", (H100 / "lgi_migdisabled.txt").read_text(), 6)
           + _section("lci", (H100 / "lci_migdisabled.txt").read_text(), 6)
           + _section("xml", (H100 / "q.xml").read_text()))
    gpus = MigSnapshot().process(out)
    (uuid, state), = gpus.items()
    assert uuid.startswith("GPU-") and state.name == "NVIDIA H100 80GB HBM3"
    assert state.mig_current is False and state.gpu_instances == ()
    with pytest.raises(FactProcessError, match="nvidia-smi not found"):
        MigSnapshot().process([line for name in parsers.NAMES for line in _section(name, "sh: nvidia-smi: not found", 127)])


@pytest.mark.skipif(not H100.is_dir(), reason="shared fixtures not present")
def test_geometry_fact_output_parses_to_the_capture_geometry():
    text = "\n".join(_section("query", (H100 / "query.csv").read_text())
                     + _section("lgip", (H100 / "lgip.txt").read_text())
                     + _section("lgipp", (H100 / "lgipp.txt").read_text()))
    geo = parse_geometry(text)
    assert geo.model == "NVIDIA H100 80GB HBM3"
    assert dict(geo.profile("3g.40gb").placements) == {0: 4, 4: 4}
    assert "nvidia-smi mig -i 3 -lgipp" in geometry_command(3)


def test_invalid_inventory_stops_before_any_operation_with_every_error():
    good = {"gpu_models": ["NVIDIA A100-SXM4-40GB"],
            "mig_layout": [{"gpus": "all", "instances": [{"profile": "1g.5gb", "count": 7}]}],
            "triton_model_repository": str(Path(__file__).resolve().parents[2] / "files" / "models")}
    fleet = Fleet({
        "h1": (SimulatedGpus(gpu(0, "NVIDIA A100-SXM4-40GB", "GPU-1")), {"mig_force": "yes"}),
        "h2": (SimulatedGpus(gpu(0, "NVIDIA A100-SXM4-40GB", "GPU-2")),
               {"gpu_models": ["NVIDIA A100-SXM4-40GB"],
                "mig_layout": [{"gpus": "all", "instances": [{"profile": "1g.5gb", "count": 9}]}]}),
        "h3": (SimulatedGpus(gpu(0, "NVIDIA A100-SXM4-40GB", "GPU-3")), good),
    })
    with pytest.raises(InvalidInventory) as err:
        add_deploy(fleet.state, validate_inventory)
    text = str(err.value)
    assert "@fake/h1: $.mig_force" in text
    assert "@fake/h2: $.mig_layout[0].instances[0]" in text and "9 of 7" in text
    assert "h3" not in text
    assert not any(fleet.state.ops[h] for h in fleet.inventory)
