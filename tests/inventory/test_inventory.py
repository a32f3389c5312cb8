"""Inventory validation: the bad_inventories corpus through `python -m migfleet validate`."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from migfleet import __main__ as cli
from migfleet.inventory import SCHEMA_DIR, _schemas, format_errors, validate_inventory
from migfleet.mig.desired import GpuRef

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / "tests" / "bad_inventories"
# Top-level files share CORPUS/group_data; a case with group data of its own is a folder.
BAD = sorted([p for p in CORPUS.glob("*.py") if p.name != "good.py"] + list(CORPUS.glob("*/inventory.py")))
A40 = "NVIDIA A100-SXM4-40GB"


def expected(path: Path, tag: str = "expect") -> list[str]:
    mark = f"# {tag}: "
    text = path.read_bytes().decode("utf-8", "replace")     # a case may be in another encoding on purpose
    return [ln.split(mark, 1)[1] for ln in text.splitlines() if ln.startswith(mark)]


def warned(err: str) -> tuple[list[str], list[str]]:
    """(error lines, warning lines without their `warning: ` mark) of validate's standard error."""
    lines = err.splitlines()
    return ([ln for ln in lines if not ln.startswith("warning: ")],
            [ln.removeprefix("warning: ") for ln in lines if ln.startswith("warning: ")])


def case_id(path: Path) -> str:
    return path.parent.name if path.name == "inventory.py" else path.stem


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError(f"network use during validation: {args!r}")
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


def test_corpus_covers_issue_12():
    assert len(BAD) >= 110


@pytest.mark.parametrize("path", BAD, ids=[case_id(p) for p in BAD])
def test_corpus_rejected_with_exact_messages(path, no_network, monkeypatch, capsys):
    want = expected(path)
    assert want, f"{path.name} has no '# expect:' line"
    monkeypatch.chdir(REPO)         # group_data is looked up in the working directory, as pyinfra does
    monkeypatch.setenv("MIGFLEET_LOAD_TIMEOUT", "2")    # code_never_returns pins "after 2 s"
    assert cli.main(["validate", str(path)]) == 1
    out = capsys.readouterr()
    lines, warnings = warned(out.err)
    assert out.out == ""
    assert lines[0] == f"{path}: {len(want)} error(s)"
    assert lines[1:] == want
    assert warnings == expected(path, "warn")


@pytest.mark.parametrize("name", ["code_sys_exit", "code_recursion", "code_zero_division", "group_not_hosts",
                                  "count_huge", "empty_inventory", "int_huge_drain", "list_contains_itself",
                                  "code_never_returns/inventory"])
def test_no_traceback_and_exit_1_from_the_command(name):
    path = CORPUS / f"{name}.py"
    run = subprocess.run([sys.executable, "-m", "migfleet", "validate", str(path)], cwd=REPO,
                         capture_output=True, text=True, timeout=60, env={**os.environ, "MIGFLEET_LOAD_TIMEOUT": "2"})
    assert run.returncode == 1, run.stdout + run.stderr
    assert "Traceback" not in run.stderr
    assert warned(run.stderr)[0][1:] == expected(path)


def test_good_inventory_passes(monkeypatch, capsys):
    monkeypatch.chdir(REPO)
    assert cli.main(["validate", str(CORPUS / "good.py")]) == 0, capsys.readouterr().err
    out = capsys.readouterr()
    assert "3 host(s), no errors" in out.out
    assert warned(out.err) == ([], expected(CORPUS / "good.py", "warn"))


def test_secret_looking_values_are_hidden_under_any_key(monkeypatch, capsys):
    monkeypatch.chdir(REPO)
    for name, secret in (("secret_in_docker_args", "nvapi-"), ("secret_key_material_as_path", "b3BlbnNz")):
        assert cli.main(["validate", str(CORPUS / f"{name}.py")]) == 1
        err = capsys.readouterr().err
        assert "(value hidden)" in err and secret not in err


def test_a_report_is_bounded_however_many_errors():
    hosts = {f"gpu-{n:04d}.invalid": {"mig_force": "x" * 4000, "envoy_retries": "y" * 4000} for n in range(500)}
    errors = validate_inventory(hosts)
    assert len(errors) == 1000
    text = format_errors(errors)
    assert len(text) < 10_000 and text.endswith("more error(s), not shown: fix these first")
    assert "x" * 49 not in text


def test_secrets_are_never_echoed(monkeypatch, capsys):
    monkeypatch.chdir(REPO)
    for name, secret in (("secret_ssh_password", "12345678"), ("secret_ngc_key_in_env_name", "SECRET"),
                         ("secret_sudo_password", "hunter2")):
        assert cli.main(["validate", str(CORPUS / f"{name}.py")]) == 1
        err = capsys.readouterr().err
        assert "(value hidden)" in err and secret not in err


def test_validate_inventory_api_and_format():
    errors = validate_inventory({"a": {"mig_force": 1}, "b": {"ssh_port": 22, "_private": object()}})
    assert [(e.host, e.path) for e in errors] == [("a", "$.mig_force"), ("b", "$._private")]
    assert format_errors(errors[:1]) == "a: $.mig_force: 1 is not of type 'boolean'"
    assert validate_inventory({}) and validate_inventory({})[0].path == "$"


def test_every_error_at_once_across_sections():
    """A schema error in one part does not hide the checks of the others."""
    errors = validate_inventory({"h": {"mig_force": "yes", "gpu_models": [A40], "envoy_grpc_port": 8000,
                                       "mig_layout": [{"gpus": "all", "instances": [{"profile": "1g.5gb", "count": 8}]}]}})
    assert [e.path for e in errors] == ["$.mig_force", "$.mig_layout[0].instances[0]", "$.envoy_grpc_port"]


def test_lookalike_is_escaped_and_named():
    (err,) = validate_inventory({"h": {"gpu_models": ["NVIDIA \u0410100-SXM4-40GB"],
                                       "mig_layout": [{"gpus": "all", "mig": False}]}}) or [None]
    assert err is None      # a disabled rule needs no geometry
    (err,) = validate_inventory({"h": {"mig_reboot_policy": "n\u0435ver"}})
    assert str(err).isascii() and "\\u0435" in str(err) and "U+0435 CYRILLIC SMALL LETTER IE" in str(err)


def test_live_models_replace_gpu_models_and_are_compared():
    layout = [{"gpus": {"uuid": "GPU-5c89852c-d268-c3f3-1b07-005d5ae1dc3f"},
               "instances": [{"profile": "1g.5gb", "count": 7}]}]
    live = [GpuRef(0, A40, "GPU-e77cc529-0a1f-4c3b-9d2e-1f2a3b4c5d6e"),
            GpuRef(1, "NVIDIA H100 80GB HBM3", "GPU-5c89852c-d268-c3f3-1b07-005d5ae1dc3f")]
    errors = [str(e) for e in validate_inventory({"h": {"mig_layout": layout}}, {"h": live})]
    assert errors == ["h: $.mig_layout[0].instances[0].profile: GPU 1: profile 1g.5gb does not exist on NVIDIA "
                      "H100 80GB HBM3; its profiles are 1g.10gb (ID 19), 1g.10gb+me (ID 20), 1g.20gb (ID 15), "
                      "2g.20gb (ID 14), 3g.40gb (ID 9), 4g.40gb (ID 5), 7g.80gb (ID 0)"]
    said = validate_inventory({"h": {"gpu_models": [A40, A40]}}, {"h": live})
    assert [str(e) for e in said] == ["h: $.gpu_models[1]: NVIDIA A100-SXM4-40GB here, but GPU 1 of the host is "
                                      "NVIDIA H100 80GB HBM3"]


def test_validate_live_reads_each_host_once(monkeypatch, capsys, tmp_path):
    from migfleet.fleet import drift
    from migfleet.mig.state import GpuState
    inv = tmp_path / "site.py"
    inv.write_text('hosts = [("a.invalid", {"mig_layout": [{"gpus": "all", "instances": '
                   '[{"profile": "1g.5gb", "count": 7}]}]}), ("b.invalid", {})]\n')
    (tmp_path / "models" / "example" / "1").mkdir(parents=True)     # the default repository, beside the inventory
    (tmp_path / "models" / "example" / "config.pbtxt").write_text('backend: "python"\n')
    calls = []

    def read_all(hosts, **kw):
        calls.append([h.name for h in hosts])
        return {"a.invalid": {"GPU-1": GpuState(0, "GPU-1", A40, "0:0", True, True)},
                "b.invalid": OSError("connection refused")}
    monkeypatch.setattr(drift, "read_all", read_all)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["validate", "--live", str(inv)]) == 1
    assert calls == [["a.invalid", "b.invalid"]]
    assert capsys.readouterr().err.splitlines()[1:] == ["b.invalid: $: cannot read the host's GPUs: connection refused"]


def test_schema_registry_holds_every_schema_file():
    validator, declared = _schemas()
    for f in SCHEMA_DIR.glob("*.json"):
        doc = json.loads(f.read_text())
        doc.pop("$schema")
        assert validator._resolver.lookup(doc["$id"]).contents == doc
    assert {"mig_layout", "gpu_models", "gpu_uuids", "triton_image", "rollout_canary", "ssh_user"} <= declared


def test_pyinfra_schema_lists_the_installed_pyinfra_keys():
    """Every data key the installed pyinfra reads is allowed (a pyinfra upgrade adding one fails here)."""
    from pyinfra.api.arguments import all_global_arguments
    from pyinfra.connectors.docker import DockerConnector
    from pyinfra.connectors.ssh import SSHConnector
    declared = set(json.loads((SCHEMA_DIR / "pyinfra.v1.json").read_text())["properties"])
    wanted = set(SSHConnector.data_meta) | set(DockerConnector.data_meta)
    wanted |= {name if isinstance(name, str) else name[0] for name in all_global_arguments()} - {"name"}
    assert wanted <= declared, sorted(wanted - declared)


def test_repo_inventories_validate(monkeypatch, capsys):
    """The example production inventory must pass, its group data included (the lab one needs a running lab)."""
    monkeypatch.chdir(REPO)
    assert cli.main(["validate", "inventories/production.py"]) == 0, capsys.readouterr().err
    from migfleet.inventory import load_inventory_data
    hosts = load_inventory_data("inventories/production.py")
    assert hosts["gpu-a40-01.example.com"]["gpu_models"] == [A40] * 8
