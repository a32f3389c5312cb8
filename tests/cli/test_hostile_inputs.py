"""Generated hostile inputs through `migfleet validate`, `import` and `targets`, as a new user runs them.

Each example is a file (an inventory written as Python source, or a mig-parted YAML file) holding
large, deep, self-referring, secret-looking or look-alike values, run by the command in its own
process: it must answer with exit 0, 1 or 2, no traceback, and at most 10 kB of output, within the
acceptance's 10 s (the child's timeout, a bound for a hang rather than a speed target). `targets`
must write only JSON to standard output. Examples are few: each one starts a Python.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from hypothesis import HealthCheck, given, settings, strategies as st

REPO = Path(__file__).resolve().parents[2]
LIMIT_S = 10
LIMIT_BYTES = 10_000
FEW = settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))

# Python expressions for hostile values; the file defines _loop (a list holding itself) and _wide
# (lists sharing one another: 40**4 leaves once expanded).
PRELUDE = "_loop = []\n_loop.append(_loop)\n_w = [0] * 40\n_w = [_w] * 40\n_w = [_w] * 40\n_wide = [_w] * 40\n"
VALUES = st.sampled_from([
    "10**400", "-10**400", "10**5000", "2**63", "10**19", "float('nan')", "float('inf')", "1e308", "True",
    "'x' * 10**6", "'\\u0410' * 5000", "'NGC_API_KEY=nvapi-' + 'a' * 40", "'-----BEGIN OPENSSH PRIVATE KEY-----\\nAAAA'",
    "'0.0.0.0/0'", "'fe80::1%eth0/64'", "'[::1]:8000'", "'\\uff11\\uff19'", "'GPU-' + 'E' * 36",
    "[0] * 10**5", "_loop", "_wide", "{'k' * 10**5: 1}", "{10**400: 1}", "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
    "['nvidia-persistanced.service', 'x@.service']", "[{'gpus': {'uuid': 'GPU-' + 'a' * 36}, 'mig': False}] * 500",
    "[{'gpus': 'all', 'instances': [{'profile': '1g.5gb', 'count': 10**12}]}]",
    "{'X': {'architecture': 'Hopper', 'memory_mib': 1, 'profiles': [{'id': 1, 'name': '1g.1gb', 'slices': 1, "
    "'instances': 10**18, 'placements': [[0, 10**18]]}]}}",
])
KEYS = st.sampled_from([
    "gpu_models", "gpu_uuids", "gpu_pci_bus_ids", "mig_layout", "mig_models", "mig_reset_services",
    "metrics_allow_networks", "metrics_port", "envoy_http_port", "envoy_grpc_port", "envoy_admin_port",
    "envoy_listen_address", "envoy_drain_seconds", "triton_port_base", "triton_docker_args", "ssh_hostname",
    "ssh_key", "ssh_port", "ssh_password", "rollout_canary", "rollout_max_failures", "mig_layuot",
])
NAMES = st.sampled_from(["'gpu-01.invalid'", "'gpu-02.invalid'", "'gpu 03'", "'h' * 10**5", "'\\u0430.invalid'",
                         "'@local'"])
HOST = st.tuples(NAMES, st.dictionaries(KEYS, VALUES, max_size=4))


def inventory_source(hosts: list[tuple[str, dict[str, str]]], prints: bool) -> str:
    entries = ", ".join(f"({name}, {{{', '.join(f'{k!r}: {v}' for k, v in data.items())}}})" for name, data in hosts)
    noise = "print('inventory code talking')\n" if prints else ""
    return PRELUDE + noise + f"hosts = [{entries}]\n"


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "MIGFLEET_LOAD_TIMEOUT": "3"}
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "migfleet", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=LIMIT_S, env=env)
    if os.environ.get("MIGFLEET_HOSTILE_LOG"):     # seconds and bytes per run, for the numbers (not asserted)
        with open(os.environ["MIGFLEET_HOSTILE_LOG"], "a") as log:
            log.write(f"{args[0]} {time.monotonic() - started:.3f} {len(done.stdout) + len(done.stderr)}\n")
    return done


def answered_plainly(done: subprocess.CompletedProcess) -> None:
    assert done.returncode in (0, 1, 2), done.stderr[-2000:]
    assert "Traceback" not in done.stderr, done.stderr[-4000:]
    assert len(done.stdout.encode()) + len(done.stderr.encode()) <= LIMIT_BYTES, done.stderr[:2000]


@FEW
@given(st.lists(HOST, min_size=1, max_size=3), st.booleans())
def test_validate_answers_any_inventory_plainly(tmp_path_factory, hosts, prints):
    folder = tmp_path_factory.mktemp("inv")
    (folder / "inventory.py").write_text(inventory_source(hosts, prints))
    answered_plainly(run(["validate", "inventory.py"], folder))


@FEW
@given(st.lists(HOST, min_size=1, max_size=3), st.booleans())
def test_targets_writes_only_json_or_refuses(tmp_path_factory, hosts, prints):
    folder = tmp_path_factory.mktemp("inv")
    (folder / "inventory.py").write_text(inventory_source(hosts, prints))
    done = run(["targets", "inventory.py"], folder)
    answered_plainly(done)
    if done.returncode == 0:
        assert isinstance(json.loads(done.stdout), list)
    else:
        assert done.stdout == ""


YAML_VALUES = st.sampled_from([
    "1", "0", "true", "[true]", "1000000000000", "9" * 5000, '"' + "x" * 5000 + '"', "[0, 1, 1]", "[9, 10]",
    "{}", '{"1g.10gb": 0}', '{"1g.10gb": 1000000}', '{"\uff11g.10gb": 1}', "0x233010DF", "&a [*a]", "*nope",
    '"\\xff"', "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
])
FIELDS = st.sampled_from(["devices", "mig-enabled", "mig-devices", "device-filter", "devices"])
BOMB = 'x: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x"]\n' + "".join(
    f"{n}: &{n} [{', '.join([f'*{p}'] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi"))


@FEW
@given(st.lists(st.dictionaries(FIELDS, YAML_VALUES, min_size=1, max_size=4), min_size=1, max_size=3),
       st.sampled_from(["", BOMB]), st.booleans())
def test_import_answers_any_config_plainly(tmp_path_factory, entries, prefix, latin1):
    folder = tmp_path_factory.mktemp("yaml")
    body = "".join("    - " + "\n      ".join(f"{k}: {v}" for k, v in e.items()) + "\n" for e in entries)
    text = prefix + "version: v1\nmig-configs:\n  c:\n" + body
    raw = text.encode("utf-8") + (b"# caf\xe9\n" if latin1 else b"")
    (folder / "c.yaml").write_bytes(raw)
    answered_plainly(run(["import", "mig-parted", "c.yaml", "--config", "c", "--gpu-model", "NVIDIA H100 80GB HBM3"],
                         folder))


def test_targets_output_stays_json_when_inventory_code_prints(tmp_path):
    (tmp_path / "group_data").mkdir()
    (tmp_path / "group_data" / "all.py").write_text("print('group data talking')\n")
    (tmp_path / "inventory.py").write_text("print('inventory talking')\nhosts = ['gpu-01.invalid']\n")
    done = run(["targets", "inventory.py"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [{"targets": ["gpu-01.invalid:8002"], "labels": {"host": "gpu-01.invalid"}}]
    assert done.stderr.splitlines() == ["inventory talking", "group data talking"]


def test_targets_refuses_one_machine_under_two_hosts(tmp_path):
    (tmp_path / "inventory.py").write_text("hosts = [('a.invalid', {'ssh_hostname': 'GPU-1.invalid'}), "
                                           "('b.invalid', {'ssh_hostname': 'gpu-1.invalid.'})]\n")
    done = run(["targets", "inventory.py"], tmp_path)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.splitlines()[1:] == ["b.invalid: $.ssh_hostname: reaches gpu-1.invalid port 22, as host "
                                            "a.invalid does: one machine, listed twice"]


def test_over_broad_choices_warn_and_still_pass(tmp_path):
    (tmp_path / "models" / "m" / "1").mkdir(parents=True)
    (tmp_path / "models" / "m" / "config.pbtxt").write_text('backend: "python"\n')
    (tmp_path / "inventory.py").write_text(
        "hosts = [('gpu-01.invalid', {'metrics_allow_networks': ['0.0.0.0/0'], 'gpu_models': "
        "['NVIDIA H100 80GB HBM3'], 'mig_layout': [{'gpus': {'uuid': 'GPU-5c89852c-d268-c3f3-1b07-005d5ae1dc3f'}, "
        "'mig': False}, {'gpus': 'all', 'mig': False}]})]\n")
    done = run(["validate", "inventory.py"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "inventory.py: 1 host(s), no errors\n"
    assert done.stderr.splitlines() == [
        "warning: gpu-01.invalid: $.metrics_allow_networks[0]: 0.0.0.0/0 lets every address scrape the metrics endpoint",
        "warning: gpu-01.invalid: $.mig_layout[0]: has no effect: later rule(s) 1 replace it on every GPU it selects"]


def test_a_report_of_many_errors_and_warnings_stays_under_10_kb(tmp_path):
    (tmp_path / "inventory.py").write_text(
        "hosts = [(f'gpu-{n:03d}.invalid', {'mig_force': 'yes', 'metrics_allow_networks': ['0.0.0.0/0', '::/0']})"
        " for n in range(300)]\n")
    done = run(["validate", "inventory.py"], tmp_path)
    answered_plainly(done)
    lines = done.stderr.splitlines()
    assert done.returncode == 1 and "inventory.py: 600 error(s)" in lines     # mig_force, and no models/ here
    warnings = [ln for ln in lines if ln.startswith("warning: ")]
    assert 5 < len(warnings) < 600 and warnings[-1].endswith("more error(s), not shown: fix these first")
    assert lines[-1].endswith("more error(s), not shown: fix these first")
