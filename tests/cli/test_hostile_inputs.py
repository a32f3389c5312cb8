"""Generated hostile inputs through `migfleet validate`, `import`, `targets` and `spec`, as a new user runs them.

Each example is a file (an inventory written as Python source, or a mig-parted YAML file) holding
large, deep, self-referring, secret-looking or look-alike values, run by the command in its own
process (at most 2 GiB of address space): it must answer with exit 0, 1 or 2, no traceback, and at
most 10 kB of output, within the acceptance's 10 s (the child's timeout, a bound for a hang rather
than a speed target; `spec` runs pytest in a second process, and has twice that). Later classes:
scrape addresses, a project run from another folder, inventory code that blocks, modules in other
encodings, and the spec suite on hostile inventories. `targets`
must write only JSON to standard output. Examples are few: each one starts a Python.
"""
from __future__ import annotations

import json
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

from hypothesis import HealthCheck, assume, given, settings, strategies as st

REPO = Path(__file__).resolve().parents[2]
LIMIT_S = 10
LIMIT_BYTES = 10_000
LIMIT_MEMORY = 2 << 30      # bytes of address space per child
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


def _memory_limit() -> None:
    # In the child, before it runs: past this much address space an allocation fails (MemoryError)
    # instead of the machine swapping.
    resource.setrlimit(resource.RLIMIT_AS, (LIMIT_MEMORY, LIMIT_MEMORY))


def run(args: list[str], cwd: Path, load_timeout: str = "3") -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "MIGFLEET_LOAD_TIMEOUT": load_timeout}
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "migfleet", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=LIMIT_S * (2 if args[0] == "spec" else 1), env=env, preexec_fn=_memory_limit,
                          stdin=subprocess.DEVNULL)
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
    assert json.loads(done.stdout) == [{"targets": ["gpu-01.invalid:8002"],
                                        "labels": {"host": "gpu-01.invalid", "groups": ",hosts,inventory,"}}]
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


# Scrape addresses: each target is one of three forms, or the host is refused naming host and field.
TARGET_FORMS = re.compile(r"(\d{1,3}(\.\d{1,3}){3}|\[[0-9a-f:.%A-Za-z]+\]|[a-z0-9]([a-z0-9.-]*[a-z0-9])?):\d{1,5}\Z")
ADDRESSES = st.sampled_from([
    "'10.1.2'", "'10.0.0.7'", "'010.0.0.7'", "'12345'", "'gpu-01.invalid:9100'", "'[::1]'", "'::1'", "'2001:DB8::7'",
    "'fe80::1%eth0'", "'localhost'", "'LOCALHOST.'", "'127.0.0.1'", "'0.0.0.0'", "'a' * 300", "'\\uff11\\uff10.0.0.1'",
    "'10.0.0.1\\n'", "'gpu-01.Example.com.'", "' gpu-02.invalid '", "'root@gpu'", "'gpu_03.invalid'", "5", "None",
])
TARGET_HOSTS = st.lists(st.tuples(st.sampled_from(["'gpu-01.invalid'", "'gpu-02.invalid'", "'@local'", "'10.1.2'",
                                                   "'gpu-03.invalid:2222'", "'localhost'"]),
                                  st.one_of(st.none(), ADDRESSES),
                                  st.sampled_from([None, "9102", "0", "'8002'", "True"])), min_size=1, max_size=3)


@FEW
@given(TARGET_HOSTS)
def test_targets_are_one_form_per_address_or_refused_by_host_and_field(tmp_path_factory, hosts):
    folder = tmp_path_factory.mktemp("targets")
    entries = []
    for name, address, port in hosts:
        data = {k: v for k, v in (("ssh_hostname", address), ("metrics_port", port)) if v is not None}
        entries.append(f"({name}, {{{', '.join(f'{k!r}: {v}' for k, v in data.items())}}})")
    (folder / "inventory.py").write_text(f"hosts = [{', '.join(entries)}]\n")
    done = run(["targets", "inventory.py"], folder)
    answered_plainly(done)
    if done.returncode == 0:
        for group in json.loads(done.stdout):
            assert all(TARGET_FORMS.match(t) for t in group["targets"]), group
    else:
        assert done.stdout == ""
        reasons = [ln for ln in done.stderr.splitlines() if not re.match(r"migfleet targets: .*(error\(s\)|load)", ln)]
        assert reasons and all(re.match(r"(migfleet targets: )?\S.*?: \$(\.\w+)?(\[\d+\])?: ", ln) for ln in reasons), \
            done.stderr


def seconds(text: str) -> str:
    return re.sub(r" in [0-9.]+s\b", " in Ns", text)


# From another folder: a project laid out several ways, run from several folders. Each run either
# gives what the same command gives from the project's root, or stops saying where to run from.
LAYOUTS = st.sampled_from(["root", "own", "none"])          # where group_data/ is: project root, inventory's folder
DEPTHS = st.sampled_from(["inventories", "a/b"])
CWDS = st.sampled_from(["root", "inventory", "elsewhere", "group_data"])


@FEW
@given(LAYOUTS, DEPTHS, CWDS, st.sampled_from(["validate", "targets", "spec"]))
def test_a_command_from_another_folder_gives_the_same_result_or_stops(tmp_path_factory, layout, depth, cwd, command):
    root = tmp_path_factory.mktemp("project")
    inventory = root / depth / "production.py"
    inventory.parent.mkdir(parents=True)
    inventory.write_text("hosts = [('gpu-01.invalid', {'mig_only': True})]\n")
    data_folder = {"root": root, "own": inventory.parent, "none": root / "unused"}[layout] / "group_data"
    data_folder.mkdir(parents=True)
    (data_folder / "all.py").write_text("gpu_models = ['NVIDIA H100 80GB HBM3']\nmetrics_port = 9102\n"
                                        "mig_layout = [{'gpus': 'all', 'instances': [{'profile': '3g.40gb', 'count': 9}]}]\n")
    (root / "elsewhere").mkdir()
    where = {"root": root, "inventory": inventory.parent, "elsewhere": root / "elsewhere", "group_data": data_folder}[cwd]
    args = [command, str(inventory)] + (["--collect-only", "-q"] if command == "spec" else [])
    here, there = run(args, root), run(args, where)
    answered_plainly(there)
    stops = f"is not read from {where.resolve()}"
    if stops in there.stderr:
        assert layout == "root" and where != root and there.returncode in (1, 2) and there.stdout == ""
        assert f"run from {root}" in there.stderr
    else:
        assert (there.returncode, seconds(there.stdout)) == (here.returncode, seconds(here.stdout))
        assert there.stderr == here.stderr


# Inventory or group data code that blocks: stopped at the load limit, named by the user's file and
# the blocking line, never by gevent's source.
BLOCKERS = st.sampled_from([
    "time.sleep(100)", "(lambda pair: pair[0].recv(1))(socket.socketpair())", "select.select([], [], [], 100)",
    "(lambda pipe: os.read(pipe[0], 1))(os.pipe())", "subprocess.run(['sleep', '100'])", "threading.Event().wait()",
    "signal.pause()", "socket.create_server(('127.0.0.1', 0)).accept()",
])
WRAPS = st.sampled_from(["{}", "try:\n    {}\nexcept Exception:\n    pass", "while True:\n    try:\n        {}\n"
                         "    except BaseException:\n        pass", "for _ in range(3):\n    {}"])


@FEW
@given(BLOCKERS, WRAPS, st.booleans(), st.sampled_from(["validate", "targets", "spec"]))
def test_code_that_blocks_is_named_by_its_file_and_line(tmp_path_factory, blocker, wrap, in_group_data, command):
    # gevent refuses a wait nothing can end at once (LoopExit, an Exception): caught, the code goes on.
    assume(not (blocker == "threading.Event().wait()" and "except Exception" in wrap))
    folder = tmp_path_factory.mktemp("blocks")
    code = "import os, select, signal, socket, subprocess, threading, time\n" + wrap.format(blocker) + "\n"
    line = 2 + next(i for i, ln in enumerate(wrap.format(blocker).splitlines()) if blocker in ln)
    inventory = "hosts = ['gpu-01.invalid']\n"
    if in_group_data:
        (folder / "group_data").mkdir()
        (folder / "group_data" / "all.py").write_text(code)
        where = "group_data/all.py"
    else:
        inventory, where = inventory + code, "inventory.py"
        line += 1
    (folder / "inventory.py").write_text(inventory)
    done = run([command, "inventory.py"] + (["--collect-only", "-q"] if command == "spec" else []), folder,
               load_timeout="1")
    answered_plainly(done)
    assert done.returncode in (1, 2) and done.stdout == "", done.stdout
    assert f"{where}:{line}: " in done.stderr and "gevent" not in done.stderr, done.stderr


# Modules in other encodings: refused naming the file and the line of the first byte that is not UTF-8.
ENCODINGS = st.sampled_from(["latin-1", "cp1252", "utf-16", "utf-8-sig", "utf-8", "shift_jis"])
TEXTS = st.sampled_from(["Montr\u00e9al", "caf\u00e9 \u20ac", "\u65e5\u672c", "plain"])


@FEW
@given(ENCODINGS, TEXTS, st.integers(0, 3), st.booleans(), st.sampled_from(["validate", "targets", "spec"]))
def test_a_module_in_another_encoding_is_named_by_its_line(tmp_path_factory, encoding, text, at, in_group_data,
                                                            command):
    folder = tmp_path_factory.mktemp("encoding")
    lines = ["# site settings"] * at + [f"site = {text!r}", "gpu_models = ['NVIDIA H100 80GB HBM3']"]
    module = "\n".join(lines) + "\n"
    if in_group_data:
        (folder / "group_data").mkdir()
        (folder / "group_data" / "all.py").write_bytes(module.encode(encoding, "replace"))
        (folder / "inventory.py").write_text("hosts = ['gpu-01.invalid']\n")
        where = "group_data/all.py"
    else:
        (folder / "inventory.py").write_bytes(("hosts = ['gpu-01.invalid']\n" + module).encode(encoding, "replace"))
        where, at = "inventory.py", at + 1
    done = run([command, "inventory.py"] + (["--collect-only", "-q"] if command == "spec" else []), folder)
    answered_plainly(done)
    raw = (folder / where).read_bytes()
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as e:
        bad_line = raw[:e.start].count(b"\n") + 1
        assert done.returncode in (1, 2) and f"{where}:{bad_line}: not UTF-8" in done.stderr, done.stderr
    else:
        if raw.startswith(b"\xef\xbb\xbf"):
            assert f"{where}:1: starts with a byte order mark" in done.stderr, done.stderr


# The spec suite on hostile inventories: collected plainly or refused in migfleet's words.
@FEW
@given(st.lists(HOST, min_size=1, max_size=3), st.booleans())
def test_spec_collects_or_refuses_any_inventory_plainly(tmp_path_factory, hosts, prints):
    folder = tmp_path_factory.mktemp("spec")
    (folder / "inventory.py").write_text(inventory_source(hosts, prints))
    done = run(["spec", "inventory.py", "--collect-only", "-q"], folder)
    answered_plainly(done)
    assert "Traceback" not in done.stdout and "INTERNALERROR" not in done.stdout + done.stderr
    if done.returncode == 0:
        assert re.search(r"^\d+ tests? collected", done.stdout, re.M), done.stdout[-2000:]
