"""`advise --size` given an inventory: points whose Triton settings a model of the inventory's model
repository cannot take (its config.pbtxt's max_batch_size) are left out, so what it writes validates."""
import json
import runpy

import pytest
import pyinfra_cli.util as pyinfra_util

from migfleet.advise.size_run import own_batch
from migfleet.cli import advise, validate
from migfleet.mig import catalog

A100 = catalog.lookup("NVIDIA A100-SXM4-40GB")


def pts(rate: float, batch: int) -> list[dict]:
    """A batching point four times faster than the defaults' point, both within the target."""
    return [{"max_batch_size": batch, "instance_count": 1, "concurrency": 4, "rate": rate * 4, "p50_ms": 5,
             "p95_ms": 8, "p99_ms": 10, "memory_mib": 1000},
            {"max_batch_size": 0, "instance_count": 1, "concurrency": 1, "rate": rate, "p50_ms": 2,
             "p95_ms": 3, "p99_ms": 4, "memory_mib": 1000}]


@pytest.fixture
def folder(tmp_path, monkeypatch):
    table = {"version": 2, "models": {"a": {"p99_ms": 50}, "b": {"p99_ms": 50}},
             "gpus": {A100.model: {p: {"points": {"a": pts(rate, 8), "b": pts(rate, 4)}}
                                   for p, rate in (("1g.5gb", 30), ("3g.20gb", 80), ("7g.40gb", 170))}}}
    (tmp_path / "capacity.json").write_text(json.dumps(table))
    (tmp_path / "rates.json").write_text(json.dumps({"models": {"a": {"rate": 200}, "b": {"rate": 200}}}))
    for model, own in (("a", 16), ("b", 0)):        # a batches up to 16; b does not batch at all
        (tmp_path / "models" / model / "1").mkdir(parents=True)
        (tmp_path / "models" / model / "config.pbtxt").write_text(
            f'name: "{model}"\nbackend: "python"\nmax_batch_size: {own}\n')
    (tmp_path / "group_data").mkdir()
    (tmp_path / "group_data" / "all.py").write_text('triton_model_repository = "models"\n')
    (tmp_path / "fleet.py").write_text('sized = ["h1"]\n')
    monkeypatch.chdir(tmp_path)
    return tmp_path


def settings_written(capsys, folder, *inventory) -> dict[str, set[int]]:
    pyinfra_util.PYTHON_CODES.clear()
    code = advise.main([*inventory, "--size", A100.model, "--rates", "rates.json", "--capacity", "capacity.json",
                        "--gpus-per-host", "1", "--write", "group_data/sized.py", "--write-settings"])
    assert code == 0, capsys.readouterr().err
    layout = runpy.run_path(str(folder / "group_data" / "sized.py"))["mig_layout"]
    out: dict[str, set[int]] = {}
    for m in (m for r in layout for inst in r["instances"] for m in inst["models"]):
        out.setdefault(m["name"], set()).add(m["max_batch_size"])
    return out


def test_the_inventory_s_model_configs_are_read(folder):
    pyinfra_util.PYTHON_CODES.clear()
    assert own_batch("fleet.py") == {"a": 16, "b": 0}


def test_with_the_inventory_only_settings_its_models_take_are_picked_and_they_validate(folder, capsys):
    assert settings_written(capsys, folder, "fleet.py") == {"a": {8}, "b": {0}}
    (folder / "group_data" / "sized.py").rename(folder / "group_data" / "all_sized.py")
    (folder / "fleet.py").write_text('all_sized = ["h1"]\n')
    pyinfra_util.PYTHON_CODES.clear()
    assert validate.main(["fleet.py"]) == 0, capsys.readouterr()


def test_without_an_inventory_the_table_s_best_points_are_picked_batching_or_not(folder, capsys):
    # the check's counterpart: without the model repository, b's faster batching point wins
    assert settings_written(capsys, folder) == {"a": {8}, "b": {4}}
