"""Capacity tables as they may come from anywhere: read within the mig-parted reader's limits, every
number checked against what it stands for, each error naming the file and the path."""
import json
import time

import pytest

from migfleet.advise import capacity, capacity_values
from migfleet.advise.capacity import CapacityError, load, parse, read

H100 = "NVIDIA H100 80GB HBM3"
BOUND = "wants a finite number >= 0 and at most 1000000 requests/s, not "
GPU_MIB = "wants a finite number >= 0 and at most 189471 MiB (the most memory of any GPU migfleet knows), not "


def table(**extra) -> dict:
    return {"version": 1, "gpus": {H100: {"7g.80gb": {"rps": {"a": 100.0}}}}, **extra}


def with_rate(value) -> dict:
    return {"version": 1, "gpus": {H100: {"7g.80gb": {"rps": {"a": value}}}}}


def test_the_shipped_tables_load():
    cap = load()
    assert cap.rps(H100, "7g.80gb", "resnet50") == pytest.approx(150.8)
    assert capacity_values.max_mib() >= cap.profiles(H100)["7g.80gb"].memory_mib


@pytest.mark.parametrize("data, message", [
    (with_rate(1e308), f"t.json: $.gpus.{H100}.7g.80gb.rps.a: {BOUND}1e+308"),
    (with_rate(float("inf")), f"t.json: $.gpus.{H100}.7g.80gb.rps.a: {BOUND}inf"),
    (with_rate(float("nan")), f"t.json: $.gpus.{H100}.7g.80gb.rps.a: {BOUND}nan"),
    (with_rate(-1), f"t.json: $.gpus.{H100}.7g.80gb.rps.a: {BOUND}-1"),
    (with_rate(10 ** 400), f"t.json: $.gpus.{H100}.7g.80gb.rps.a: {BOUND}<an integer of about 401 digits>"),
    (with_rate("5"), f"t.json: $.gpus.{H100}.7g.80gb.rps.a: {BOUND}'5'"),
    (with_rate(True), f"t.json: $.gpus.{H100}.7g.80gb.rps.a: {BOUND}True"),
    ({"version": 1, "gpus": {H100: {"7g.80gb": {"rps": {"../../etc/passwd": 1}}}}},
     f"t.json: $.gpus.{H100}.7g.80gb.rps: '../../etc/passwd' is not a model folder name (letters, digits, _ . -, "
     "not starting with . or -)"),
    ({"version": 1, "gpus": {H100: {"1g.10gb": {"rps": {"a": 1}, "memory_mib": 999999}}}},
     f"t.json: $.gpus.{H100}.1g.10gb.memory_mib: wants a finite number above 0 and at most 9984 MiB (the memory of "
     f"a 1g.10gb of {H100}), not 999999"),
    ({"version": 1, "gpus": {H100: {"1g.10gb": {"rps": {"a": 1}, "memory_mib": 0}}}},
     f"t.json: $.gpus.{H100}.1g.10gb.memory_mib: wants a finite number above 0 and at most 9984 MiB (the memory of "
     f"a 1g.10gb of {H100}), not 0"),
    (table(models=["a"]), "t.json: $.models: wants a mapping of model -> {memory_mib: N}, not ['a']"),
    (table(models={"a": {"memory_mib": 1e12}}), f"t.json: $.models.a.memory_mib: {GPU_MIB}1000000000000.0"),
    (table(models={"a": {"memory_mib": -5000}}), f"t.json: $.models.a.memory_mib: {GPU_MIB}-5000"),
    (table(models={".a": {"memory_mib": 5}}),
     "t.json: $.models: '.a' is not a model folder name (letters, digits, _ . -, not starting with . or -)"),
    (table(models={"a": [5]}), "t.json: $.models.a: wants {memory_mib: N}, not [5]"),
    ({"version": 1, "gpus": [H100]}, f"t.json: $.gpus: wants a mapping of GPU model -> profiles, not ['{H100}']"),
    ({"version": 1, "gpus": {H100: ["7g.80gb"]}},
     f"t.json: $.gpus.{H100}: wants a mapping of profile -> {{rps, memory_mib}}, not ['7g.80gb']"),
    ({"version": 1, "gpus": {H100: {"7g.80gb": {"rps": [1]}}}},
     f"t.json: $.gpus.{H100}.7g.80gb: wants {{rps: {{MODEL: requests/s}}, memory_mib: N}}, not {{'rps': [1]}}"),
    ({"version": 1, "gpus": {H100: {}, "H100 80GB HBM3": {}}},
     f"t.json: $.gpus: 'H100 80GB HBM3' and '{H100}' name the same GPU model ({H100}); give its profiles once"),
    ({"version": 1, "gpus": {H100: {"7g.80gb": {"rps": {}}, "0": {"rps": {}}}}},
     f"t.json: $.gpus.{H100}.0: the same profile as 7g.80gb; give it once"),
    ({"version": True, "gpus": {}}, "t.json: not a capacity table (wants `version: 1` or `version: 2` and a `gpus` mapping)"),
    (table(p99_ms=0), "t.json: $.p99_ms: wants a finite number above 0 and at most 3600000 ms, not 0"),
    (table(p99_ms=float("nan")), "t.json: $.p99_ms: wants a finite number above 0 and at most 3600000 ms, not nan"),
])
def test_bad_tables_name_file_path_and_reason(data, message):
    with pytest.raises(CapacityError) as e:
        parse(data, "t.json")
    assert str(e.value) == message


def test_the_bounds_themselves_are_accepted():
    cap = parse({"version": 1, "models": {"a": {"memory_mib": 9984}},
                 "gpus": {H100: {"1g.10gb": {"rps": {"a": 1e6}, "memory_mib": 9984}}}}, "t.json")
    assert cap.rps(H100, "1g.10gb", "a") == 1e6 and cap.model_memory == {"a": 9984}


BOMB = 'x: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x"]\n' + "".join(
    f"{n}: &{n} [{', '.join([f'*{p}'] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi"))


@pytest.mark.parametrize("name, raw, message", [
    ("bomb.yaml", (BOMB + "version: 1\n").encode(),
     "bomb.yaml: line 6: f: more than 100000 values once its aliases are expanded (an alias bomb?)"),
    ("deep.yaml", ("a:\n" + "".join("  " * i + f"  b{i}:\n" for i in range(70)) + "  " * 71 + "1\n").encode(),
     "deep.yaml: line 65: a.b0.b1.b2.b3.b4.b5.b6.b7.b8.b9.b10.b11.b12.b13.b14.b15.b16.b17.b18.b19.b20.b21.b22.b23."
     "b24.b25.b26.b27.b28.b29.b30.b31.b32.b33.b34.b35.b36.b37.b38.b39.b40.b41.b42.b43.b44.b45.b46.b47.b48.b49.b50."
     "b51.b52.b53.b54.b55.b56.b57.b58.b59.b60.b61.b62: nests more than 64 levels deep"),
    ("deeper.yaml", b"[" * 10_000 + b"]" * 10_000, "deeper.yaml: not YAML migfleet can read: it nests too deeply"),
    ("deep.json", b"[" * 100_000 + b"]" * 100_000, "deep.json: not JSON migfleet can read: it nests too deeply"),
    ("twice.yaml", b"version: 1\nversion: 1\n",
     "twice.yaml: line 2: (top): key 'version' is also on line 1; YAML would keep only the last"),
    ("twice.json", b'{"version": 1, "version": 1}',
     "twice.json: key 'version' is given twice in one object; JSON would keep only the last"),
    ("big.yaml", b"#" * (1024 * 1024 + 1), "big.yaml: larger than 1024 KiB"),
    ("latin1.yaml", b"version: 1\n# caf\xe9\n", "latin1.yaml: line 2: byte 0xe9 is not UTF-8; a capacity table is "
                                                 "UTF-8 text"),
    ("long.yaml", b"source: " + b"x" * 1001 + b"\n", "long.yaml: line 1: source: a value of 1001 characters is too long"),
], ids=lambda v: v if isinstance(v, str) and len(v) < 20 else "")
def test_a_file_past_the_readers_limits_is_refused_fast(tmp_path, name, raw, message):
    (tmp_path / name).write_bytes(raw)
    started = time.monotonic()
    with pytest.raises(CapacityError) as e:
        read(tmp_path / name)
    assert str(e.value) == f"{tmp_path}/{message}"
    assert time.monotonic() - started < 5       # a bound for a hang, not a speed target


def test_yaml_and_json_tables_read_alike(tmp_path):
    data = table(models={"a": {"memory_mib": 1000}})
    (tmp_path / "t.json").write_text(json.dumps(data))
    (tmp_path / "t.yaml").write_text(f"version: 1\nmodels:\n  a: {{memory_mib: 1000}}\ngpus:\n  {H100}:\n"
                                     "    7g.80gb: {rps: {a: 100.0}}\n")
    assert read(tmp_path / "t.json") == read(tmp_path / "t.yaml") == data


def test_a_missing_file_is_one_line(tmp_path):
    with pytest.raises(CapacityError) as e:
        load([tmp_path / "none.yaml"])
    assert str(e.value) == f"{tmp_path}/none.yaml: cannot read: No such file or directory"
