"""Generated hostile inputs through `migfleet advise`: demand files, capacity tables and flags, as a
new user (or a file from anywhere) gives them.

Each example runs `python -m migfleet advise ...` in its own process, with a memory limit (address
space) and a CPU limit of the acceptance's 10 s; the wall clock bound is wider, for a hang rather
than a speed target, on a machine whose cores are shared. Every example holds at least one bad
thing, so each must end in a clear refusal: exit 1 with one last line naming the file (exit 2 and
an argparse line naming the flag), no traceback, at most 10 kB of output, nothing on stdout. The
worst time and the largest output are printed at the end of the module (and logged to
$MIGFLEET_HOSTILE_LOG, as test_hostile_inputs.py does).
"""
from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from tests.advise.helpers import answers
from tests.cli.test_hostile_inputs import FEW, LIMIT_BYTES, LIMIT_S, REPO, answered_plainly

A100 = "NVIDIA A100-SXM4-40GB"
MEMORY_BYTES = 2 << 30      # address space of one run: far above what advise needs on these inputs
WALL_S = 60                 # a hang, on 2 shared cores; the CPU limit is the acceptance's LIMIT_S
SEEN: list[tuple[float, float, int, str]] = []      # (wall s, CPU s, bytes of output, what ran)


def _limits() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES))
    resource.setrlimit(resource.RLIMIT_CPU, (LIMIT_S, LIMIT_S))


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "MIGFLEET_LOAD_TIMEOUT": "3", "OPENBLAS_NUM_THREADS": "1"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "migfleet", "advise", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=WALL_S, env=env, preexec_fn=_limits, stdin=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall, cpu = time.monotonic() - started, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    size = len(done.stdout.encode()) + len(done.stderr.encode())
    SEEN.append((wall, cpu, size, " ".join(args)[:200]))
    if os.environ.get("MIGFLEET_HOSTILE_LOG"):
        with open(os.environ["MIGFLEET_HOSTILE_LOG"], "a") as log:
            log.write(f"advise {wall:.3f} {size}\n")
    return done


@pytest.fixture(scope="module", autouse=True)
def worst(request):
    yield
    if SEEN:
        wall = max(SEEN)
        cpu = max(SEEN, key=lambda s: s[1])
        size = max(SEEN, key=lambda s: s[2])
        with request.config.pluginmanager.get_plugin("capturemanager").global_and_fixture_disabled():
            print(f"\nhostile advise: {len(SEEN)} runs; worst wall {wall[0]:.2f} s ({wall[3]}), worst CPU "
                  f"{cpu[1]:.2f} s ({cpu[3]}), largest output {size[2]} bytes ({size[3]})")


def fleet(folder: Path) -> Path:
    """Two hosts of one A100-40GB each, two 1g.5gb per GPU, models a and b in the repository."""
    (folder / "group_data").mkdir()
    (folder / "fleet.py").write_text(f"fleet = [('h1', {{'gpu_models': [{A100!r}]}}), "
                                     f"('h2', {{'gpu_models': [{A100!r}]}})]\n")
    (folder / "group_data" / "fleet.py").write_text(
        'mig_layout = [{"gpus": "all", "instances": [{"profile": "1g.5gb", "count": 2}]}]\n')
    for model in ("a", "b"):
        (folder / "models" / model / "1").mkdir(parents=True)
        (folder / "models" / model / "config.pbtxt").write_text(f'name: "{model}"\nbackend: "python"\n')
    good = {"version": 1, "models": {"a": {"memory_mib": 1000}},
            "gpus": {A100: {p: {"rps": {"a": r, "b": r}} for p, r in (("1g.5gb", 10), ("7g.40gb", 60))}}}
    (folder / "good.json").write_text(json.dumps(good))
    (folder / "good_demand.json").write_text(json.dumps(answers({("h1", "a"): 5.0, ("h2", "b"): 5.0})))
    return folder


def refused(done: subprocess.CompletedProcess, code: int, start: str) -> None:
    answered_plainly(done)
    assert done.returncode == code, (done.returncode, done.stdout[-2000:], done.stderr[-2000:])
    assert done.stdout == "", done.stdout[:2000]
    last = done.stderr.splitlines()[-1]
    assert last.startswith(start), done.stderr[-2000:]


# ------------------------------------------------------------------------------------------ demand

BAD_VALUES = st.sampled_from(["NaN", "+Inf", "-Inf", "-1", "-5000", "1e308", "1e12", "1e400", "", "x" * 5000,
                              "0x10", True, None, [1], {"v": 1}, -1, 10 ** 400])
BAD_MODELS = st.sampled_from(["../../etc/passwd", ".hidden", "-rf", "a b", "a/b", "\u0430", "m" * 200, "",
                              "a\nb", "a\x00"])
BAD_HOSTS = st.sampled_from(["h9", "", "h" * 5000, "\u0445" + "1", "../h1"])


def _row(labels, value):
    return {"metric": labels, "value": [1700000000.0, value]}


@st.composite
def bad_demand(draw) -> bytes:
    """A demand file with one thing wrong: a value, a label, a duplicate, a shape, or its bytes."""
    doc = answers({("h1", "a"): 5.0, ("h2", "b"): 5.0},
                  memory=[({"host": "h1", "gpu_uuid": "GPU-1", "gi": "1", "profile": "1g.5gb", "model": "a"}, 900)])
    query = draw(st.sampled_from(["request_rate", "requests", "queue_us", "compute_us", "instance_memory_mib"]))
    rows = doc[query]["data"]["result"]
    kind = draw(st.sampled_from(["value", "model", "host", "duplicate", "shape", "bytes", "empty"]))
    if kind == "value":         # 1e12 us of queue time is a busy hour, not a bad value
        rows[0]["value"][1] = draw(BAD_VALUES.filter(lambda v: v != "1e12" or query not in ("queue_us", "compute_us")))
    elif kind == "model":
        rows[0]["metric"]["model"] = draw(BAD_MODELS)
    elif kind == "host":        # demand only for hosts the inventory does not have
        for name in ("request_rate", "requests", "queue_us", "compute_us"):
            for row in doc[name]["data"]["result"]:
                row["metric"]["host"] = draw(BAD_HOSTS)
    elif kind == "duplicate":
        rows.append(_row(dict(rows[0]["metric"]), rows[0]["value"][1]))
    elif kind == "empty":
        doc["request_rate"]["data"]["result"] = []
    elif kind == "shape":
        where = draw(st.sampled_from(["top", "answer", "data", "result", "row", "metric", "value"]))
        broken = draw(st.sampled_from([[], [1, 2], "x", 1, None, {"a": 1}]))
        if where == "top":
            doc = broken if not isinstance(broken, dict) else [doc]
        elif where == "answer":
            doc[query] = broken
        elif where == "data":
            doc[query]["data"] = broken
        elif where == "result":
            doc[query]["data"]["result"] = broken if not isinstance(broken, list) or broken == [1, 2] else {"r": []}
        elif where == "row":
            rows[0] = broken
        elif where == "metric":
            rows[0]["metric"] = broken if broken != {"a": 1} else {"host": ["h1"], "model": "a"}
        else:
            rows[0]["value"] = broken if broken != [] else [1.0]
    else:
        return draw(st.sampled_from([b"[" * 200_000 + b"]" * 200_000, b'{"request_rate": 1, "request_rate": 2}',
                                     b"\xff\xfe\x00", b"", b"{" + b"\n" * 10_000, b"null"]))
    return json.dumps(doc).encode()


@FEW
@given(bad_demand(), st.booleans())
def test_advise_refuses_any_bad_demand_file_plainly(tmp_path_factory, raw, as_json):
    folder = fleet(tmp_path_factory.mktemp("advise"))
    (folder / "d.json").write_bytes(raw)
    done = run(["fleet.py", "--demand-file", "d.json", "--capacity", "good.json", *(["--json"] if as_json else [])],
               folder)
    refused(done, 1, "migfleet advise: d.json")


# ---------------------------------------------------------------------------------------- capacity

BOMB = 'x: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x"]\n' + "".join(
    f"{n}: &{n} [{', '.join([f'*{p}'] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi"))
CAP_NUMBERS = st.sampled_from([".nan", ".inf", "-.inf", "-1", "1e308", "1.0e+308", "1000001", "'5'", "true", "null",
                               "[1]", "{a: 1}", "9" * 400, "0x1p5"])


@st.composite
def bad_capacity(draw) -> tuple[str, bytes]:
    """A capacity table (YAML, or JSON) with one thing wrong."""
    kind = draw(st.sampled_from(["rate", "profile_memory", "model_memory", "model", "shape", "bytes"]))
    rate, pmem, mmem, model = "10", "", "1000", "a"
    if kind == "rate":
        rate = draw(CAP_NUMBERS)
    elif kind == "profile_memory":
        pmem = ", memory_mib: " + draw(st.sampled_from(["4865", "999999", "0", "-5000", "1e12", ".nan"]))
    elif kind == "model_memory":
        mmem = draw(st.sampled_from(["-5000", "1e12", "1.0e+12", ".inf", "189472", "'x'"]))
    elif kind == "model":
        model = json.dumps(draw(BAD_MODELS))
    text = (f"version: 1\nmodels:\n  {model}: {{memory_mib: {mmem}}}\ngpus:\n  {A100}:\n"
            f"    1g.5gb: {{rps: {{{model}: {rate}}}{pmem}}}\n")
    if kind == "shape":
        text = draw(st.sampled_from([
            "version: 1\nmodels: [a, b]\ngpus: {}\n", "version: 1\ngpus: [a]\n", f"version: 1\ngpus:\n  {A100}: [1]\n",
            f"version: 1\ngpus:\n  {A100}:\n    1g.5gb: {{rps: [1]}}\n", "version: 1\ngpus:\n  NVIDIA A999: {}\n",
            f"version: 1\ngpus:\n  {A100}:\n    9g.99gb: {{rps: {{a: 1}}}}\n", "version: true\ngpus: {}\n",
            "- 1\n- 2\n", "version: 1\nversion: 1\ngpus: {}\n", "version: 1\ngpus: {}\nextra: 1\n",
            f"version: 1\ngpus:\n  {A100}: {{}}\n  A100-SXM4-40GB: {{}}\n"]))
    elif kind == "bytes":
        name, raw = draw(st.sampled_from([
            ("cap.yaml", (BOMB + "version: 1\ngpus: {}\n").encode()), ("cap.yaml", b"[" * 100_000 + b"]" * 100_000),
            ("cap.json", b"[" * 100_000 + b"]" * 100_000), ("cap.yaml", b"version: 1\n# caf\xe9\ngpus: {}\n"),
            ("cap.yaml", b"#" * (1 << 20) + b"\n"), ("cap.json", b'{"version": 1, "version": 1}'),
            ("cap.yaml", b"a: " + b"x" * 5000 + b"\n"), ("cap.yaml", b"a: !!python/object:os.system {}\n"),
            ("cap.yaml", b"{"), ("cap.json", b"")]))
        return name, raw
    return "cap.yaml", text.encode()


@FEW
@given(bad_capacity(), st.booleans())
def test_advise_refuses_any_bad_capacity_table_plainly(tmp_path_factory, table, as_json):
    name, raw = table
    folder = fleet(tmp_path_factory.mktemp("advise"))
    (folder / name).write_bytes(raw)
    started = time.monotonic()
    done = run(["fleet.py", "--demand-file", "good_demand.json", "--capacity", "good.json", "--capacity", name,
                *(["--json"] if as_json else [])], folder)
    refused(done, 1, f"migfleet advise: {name}")
    assert time.monotonic() - started < WALL_S


# ------------------------------------------------------------------------------------------- flags

FLAG_VALUES = {
    "--time-limit": ["-5", "0", "nan", "inf", "-inf", "1e9", "86401", "x", "", "1e400"],
    "--window": ["garbage", "0s", "1h1h", "30m1h", "-1h", "1.5h", "", "99999999999999y", "11y", "1 hour"],
    "--headroom": ["0.5", "0", "nan", "inf", "101", "-1", "x"],
    "--keep-headroom": ["0", "-1", "nan", "inf", "2", "x"],
    "--timeout": ["0", "-1", "nan", "inf", "601", "x"],
}


@FEW
@given(st.sampled_from(sorted(FLAG_VALUES)).flatmap(lambda f: st.tuples(st.just(f), st.sampled_from(FLAG_VALUES[f]))))
def test_advise_refuses_any_flag_out_of_range_as_usage(tmp_path_factory, flag):
    name, value = flag
    folder = fleet(tmp_path_factory.mktemp("advise"))
    done = run(["fleet.py", "--demand-file", "good_demand.json", f"{name}={value}"], folder)
    refused(done, 2, f"migfleet advise: error: argument {name}: ")


# ------------------------------------------------------------------------------------------ control

def test_good_inputs_answer_one_json_document(tmp_path):
    """The same fleet and tables without anything wrong: one JSON document on stdout, exit 0."""
    folder = fleet(tmp_path)
    done = run(["fleet.py", "--demand-file", "good_demand.json", "--capacity", "good.json", "--json"], folder)
    answered_plainly(done)
    assert done.returncode == 0, done.stderr[-2000:]
    assert {h["host"] for h in json.loads(done.stdout)["hosts"]} == {"h1", "h2"}
