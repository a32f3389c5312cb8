"""`models` per MIG instance: validate names each model missing from the repository, each model a
rule lists that none of its instances serves, and each model larger than an instance's memory."""
from __future__ import annotations

import pytest

from migfleet.inventory import validate_inventory

A40 = "NVIDIA A100-SXM4-40GB"


@pytest.fixture
def folder(tmp_path):
    """An inventory folder whose models/ holds a (4 KiB), b (1 KiB) and big (6 GiB, sparse)."""
    for name, size in (("a", 4096), ("b", 1024), ("big", 6 << 30)):
        (tmp_path / "models" / name / "1").mkdir(parents=True)
        (tmp_path / "models" / name / "config.pbtxt").write_text(f'name: "{name}"\n')
        with open(tmp_path / "models" / name / "1" / "weights.bin", "wb") as fh:
            fh.truncate(size)
    return tmp_path


def errors(folder, rule: dict) -> list[str]:
    hosts = {"h1": {"gpu_models": [A40], "triton_model_repository": "models", "mig_layout": [rule]}}
    return [str(e) for e in validate_inventory(hosts, folder=folder)]


def test_a_two_model_layout_is_valid(folder):
    assert errors(folder, {"gpus": "all", "instances": [{"profile": "3g.20gb", "count": 1, "models": ["a"]},
                                                        {"profile": "1g.5gb", "count": 4, "models": ["b"]}]}) == []


def test_a_model_not_in_the_repository_is_named_with_its_path(folder):
    found = errors(folder, {"gpus": "all", "models": ["a"],
                            "instances": [{"profile": "1g.5gb", "count": 7, "models": ["b", "c"]}]})
    assert found == [f"h1: $.mig_layout[0].instances[0].models[1]: model 'c' is not in the model repository "
                     f"{folder / 'models'} (it has: a, b, big)",
                     "h1: $.mig_layout[0].models[0]: model 'a' is listed for this rule, but no instance of it "
                     "serves it (each lists models of its own)"]


def test_a_model_larger_than_the_instance_memory_gives_both_sizes(folder):
    found = errors(folder, {"gpus": "all", "instances": [{"profile": "1g.5gb", "count": 1, "models": ["big"]}]})
    assert found == ["h1: $.mig_layout[0].instances[0].models: model 'big' has 6.0 GiB of files, more than the "
                     "4.8 GiB of memory of a 1g.5gb instance on NVIDIA A100-SXM4-40GB"]
    # a rule's default list is checked on every instance that inherits it; a large enough one passes
    found = errors(folder, {"gpus": "all", "models": ["big", "a"],
                            "instances": [{"profile": "3g.20gb", "count": 1}, {"profile": "1g.5gb", "count": 1}]})
    assert found == ["h1: $.mig_layout[0].instances[1]: model 'big' has 6.0 GiB of files, more than the "
                     "4.8 GiB of memory of a 1g.5gb instance on NVIDIA A100-SXM4-40GB"]


def test_models_that_fit_alone_but_not_together_are_named_with_their_sum(folder):
    for name in ("half", "other_half"):
        (folder / "models" / name / "1").mkdir(parents=True)
        with open(folder / "models" / name / "1" / "weights.bin", "wb") as fh:
            fh.truncate(3 << 30)
    found = errors(folder, {"gpus": "all", "instances": [
        {"profile": "1g.5gb", "count": 1, "models": ["half", "other_half"]},
        {"profile": "3g.20gb", "count": 1, "models": ["half", "other_half", "a"]},
        {"profile": "1g.5gb", "count": 1, "models": ["half", "a", "b"]}]})
    assert found == ["h1: $.mig_layout[0].instances[0].models: models 'half', 'other_half' have 6.0 GiB of files "
                     "together, more than the 4.8 GiB of memory of a 1g.5gb instance on NVIDIA A100-SXM4-40GB"]
    # a model too large alone is told alone, not again in a sum
    found = errors(folder, {"gpus": "all", "instances": [{"profile": "1g.5gb", "count": 1, "models": ["big", "half"]}]})
    assert found == ["h1: $.mig_layout[0].instances[0].models: model 'big' has 6.0 GiB of files, more than the "
                     "4.8 GiB of memory of a 1g.5gb instance on NVIDIA A100-SXM4-40GB"]


def test_validate_parses_a_hosts_rules_once_for_layout_and_models(folder, monkeypatch):
    from migfleet.mig import desired
    parsed = []
    real = desired.desired_from_rule
    monkeypatch.setattr(desired, "desired_from_rule", lambda rule, where: parsed.append(where) or real(rule, where))
    found = errors(folder, {"gpus": "all", "models": ["a"], "instances": [{"profile": "1g.5gb", "count": 7, "models": ["c"]}]})
    assert found[0].startswith("h1: $.mig_layout[0].instances[0].models[0]: model 'c' is not in the model repository")
    assert parsed == ["$.mig_layout[0]"]
