"""What each Triton serves now (its served file, read by its container's start script) and which
Triton lends a model that would otherwise lose its last Triton."""
from __future__ import annotations

import subprocess

from migfleet.serving import models
from migfleet.serving.models import instance_mib, plan_lends


def test_lend_goes_to_the_triton_that_stays_with_the_most_memory_free():
    serving = {"x": ("a",), "y": ("b",), "z": ("b",)}
    room = {"x": 20480, "y": 40960, "z": 10240}
    assert plan_lends(serving, room, ["x"], {"a": 1000, "b": 5000}) == ({"a": "y"}, [])


def test_a_model_another_triton_still_serves_is_not_lent():
    serving = {"x": ("a", "b"), "y": ("b",)}
    assert plan_lends(serving, {"x": 10240, "y": 10240}, ["x"], {"a": 10, "b": 10}) == ({"a": "y"}, [])
    assert plan_lends({"x": ("a",), "y": ("a",)}, {"x": 1, "y": 1}, ["x"], {"a": 10}) == ({}, [])


def test_no_memory_or_no_triton_left_drains_the_model():
    serving = {"x": ("a",), "y": ("b",)}
    assert plan_lends(serving, {"x": 10240, "y": 10240}, ["x"], {"a": 6000, "b": 5000}) == ({}, ["a"])
    assert plan_lends(serving, {"x": 10240, "y": 10240}, ["x", "y"], {"a": 1, "b": 1}) == ({}, ["a", "b"])


def test_memory_is_spent_by_each_lend_largest_model_first():
    serving = {"x": ("a", "c"), "y": ("b",)}
    lends, drained = plan_lends(serving, {"x": 10240, "y": 10240}, ["x"], {"a": 6000, "b": 1000, "c": 4000})
    assert lends == {"a": "y"} and drained == ["c"]


def test_a_model_the_host_no_longer_serves_is_neither_lent_nor_drained():
    assert plan_lends({"x": ("old",), "y": ("b",)}, {"x": 1, "y": 99999}, ["x"], {"b": 1}) == ({}, [])


def test_instance_memory_from_the_profile_name():
    assert instance_mib("3g.40gb") == 40960 and instance_mib("1g.10gb+me") == 0 and instance_mib("") == 0
    assert instance_mib("1g.18gb") == 18432


def test_served_file_round_trips():
    assert models.parse_served(models.served_text(["a", "b c"])) == ("a", "b c")
    assert models.parse_served("\n a\n\n") == ("a",)


def _start_argv(tmp_path, name: str, served: str | None) -> list[str]:
    """What the container's start script execs, run by sh with its served folder at tmp_path."""
    script = models.load_script(name).replace(models.CONTAINER_SERVED_DIR, str(tmp_path))
    if served is not None:
        (tmp_path / name).write_text(served)
    out = subprocess.run(["sh", "-c", script, name, "sh", "-c", 'printf "%s\\n" "$@"', "argv", "--x=1"],
                         capture_output=True, text=True, check=True)
    return out.stdout.splitlines()


def test_the_start_script_loads_each_model_of_the_served_file(tmp_path):
    assert _start_argv(tmp_path, "triton-gpu0-s0", "a\nb c\n") == ["--x=1", "--load-model=a", "--load-model=b c"]


def test_the_start_script_without_a_served_file_loads_none(tmp_path):
    assert _start_argv(tmp_path, "triton-gpu0-s4", None) == ["--x=1"]
