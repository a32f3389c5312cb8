"""`migfleet measure`: --dry prints the grid from the inventory alone; bad arguments are usage errors
naming what is wrong."""
from pathlib import Path

import pytest

from migfleet.cli import COMMANDS
from migfleet.cli import measure as cli

MODELS = Path(__file__).resolve().parents[2] / "files" / "models"


@pytest.fixture
def inventory(tmp_path) -> str:
    path = tmp_path / "inventory.py"
    path.write_text(f'hosts = [("gpu1", {{"gpu_models": ["NVIDIA A100-SXM4-40GB", "NVIDIA H100 80GB HBM3"], '
                    f'"triton_model_repository": "{MODELS}"}})]\n')
    return str(path)


def test_measure_is_a_migfleet_command():
    assert COMMANDS["measure"][0] == "migfleet.cli.measure"


def test_dry_prints_the_grid_and_contacts_no_host(inventory, capsys):
    assert cli.main([inventory, "--host", "gpu1", "--gpu", "1", "--profiles", "1g.10gb", "3g.40gb",
                     "--p99-ms", "lab_adder=20", "--dry"]) == 0
    out = capsys.readouterr().out
    # both lab models have max_batch_size 0 in their config.pbtxt: their batching settings are skipped
    assert out.startswith("measure gpu1 NVIDIA H100 80GB HBM3: 2 profile(s), 8 setting(s), concurrency 1, 2, 4, 8, "
                          "16, 32, 64, 128, 5000 ms windows x 3; 8 setting(s) skipped: their model cannot take them")
    assert "  1g.10gb lab_adder, no batching, 1 instance(s); until p99 > 20 ms" in out
    assert ("  skipped: 3g.40gb lab_classifier, dynamic batching up to 8, 2 instance(s): model 'lab_classifier' does "
            "not batch (its config.pbtxt has max_batch_size 0)") in out
    assert "  3g.40gb lab_classifier, dynamic batching up to 8, 2 instance(s); until" not in out
    assert "at most 64 point(s)" in out


@pytest.mark.parametrize("args, message", [
    (["--host", "nope"], "measure: host(s) not in the inventory: nope"),
    (["--host", "gpu1", "--gpu", "2"], "measure: gpu1: --gpu 2: its gpu_models list 2 GPU(s)"),
    (["--host", "gpu1", "--profiles", "9g.1gb"], "measure: --profiles: 9g.1gb not profile(s) of NVIDIA A100-SXM4-40GB"),
    (["--host", "gpu1", "--models", "resnet"], "measure: --models: resnet not in the model repository"),
    (["--host", "gpu1", "--p99-ms", "x=5"], "measure: --p99-ms: 'x' is not a model measured here"),
    (["--host", "gpu1", "--p99-ms", "0"], "measure: --p99-ms: wants MS or MODEL=MS with MS a number"),
    (["--host", "gpu1", "--batch", "a"], "measure: --batch: wants whole numbers separated by commas, not 'a'"),
    (["--host", "gpu1", "--instances", "0"], "measure: --instances: wants whole numbers of at least 1, not '0'"),
])
def test_bad_arguments_are_usage_errors(inventory, capsys, args, message):
    assert cli.main([inventory, *args, "--dry"]) == 2
    assert capsys.readouterr().err.startswith(message)
