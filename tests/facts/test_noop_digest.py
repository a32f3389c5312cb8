"""The short answer: every field of the read is in the digest, the host's answer is the deploy's own
parse, and a host that cannot answer short sends the full read."""
from __future__ import annotations

import dataclasses
import os
import shlex
import shutil
import subprocess
from collections.abc import Mapping

import pytest

from migfleet import sections
from migfleet.deploys.context import host_code
from migfleet.facts import host as host_fact
from migfleet.facts import noop_digest, read
from migfleet.facts.trees import TreeNow
from migfleet.mig import smi
from migfleet.mig.state import GpuProcess
from tests.facts.test_host import UNITS, fake_host
from tests.mig import docsamples as doc

SERVICES = ()
LOCK = "echo 'holder 4321 99 1700000000 sshd-session'; echo 'state taken'"


def full_read(tmp_path) -> str:
    """A full read of a host with every section filled: GPUs, a Triton, files, a synced tree with its
    manifest, units, packages, images, the lock."""
    managed = tmp_path / "etc" / "eds.json"
    managed.parent.mkdir()
    managed.write_text('{"endpoints": ["127.0.0.1:8100"]}\n')
    tree = tmp_path / "models"
    (tree / "m" / "1").mkdir(parents=True)
    (tree / "m" / "1" / "model.py").write_text("weights\n")
    command = host_fact.host_command(
        files=(str(managed),), trees=(str(tree),), units=UNITS, packages=("python3",), images=("reg/t:1",),
        daemon_json=str(tmp_path / "daemon.json"), services=SERVICES, lock=LOCK)
    (tmp_path / "run-systemd-system").mkdir()
    command = command.replace(read.SYSTEMD_RUNTIME, str(tmp_path / "run-systemd-system"))
    out = subprocess.run(["/bin/sh", "-c", command], capture_output=True, text=True, timeout=30,
                         env={"PATH": f"{fake_host(tmp_path)}:/usr/bin:/bin"})
    return out.stdout


def parse(text: str) -> read.HostView:
    return read.parse_host(text, UNITS, SERVICES)


# -- every field in the digest -------------------------------------------------------------------

def variants(value):
    """Copies of `value`, each with one thing changed: every leaf, every entry added or dropped."""
    if dataclasses.is_dataclass(value):
        for f in dataclasses.fields(value):
            for changed in variants(getattr(value, f.name)):
                yield dataclasses.replace(value, **{f.name: changed})
    elif isinstance(value, Mapping):
        for key, item in value.items():
            for changed in variants(item):
                yield {**value, key: changed}
            yield {k: v for k, v in value.items() if k != key}
        yield {**value, "added": next(iter(value.values()), "x")}
    elif isinstance(value, (set, frozenset)):
        yield type(value)({*value, 987654})
        for item in value:
            yield type(value)(value - {item})
    elif isinstance(value, tuple):
        for i, item in enumerate(value):
            for changed in variants(item):
                yield (*value[:i], changed, *value[i + 1:])
            yield value[:i] + value[i + 1:]
        if value:
            yield (*value, value[-1])
    elif isinstance(value, bool):
        yield not value
    elif isinstance(value, int):
        yield value + 1
    elif isinstance(value, str):
        yield value + "~"
    elif value is None:
        yield "set"


def sample_view(tmp_path) -> read.HostView:
    """The full read parsed, with what the fake host leaves empty filled in, so every field of every
    kind of value (GPU processes, docker's error, module files) is there to be changed."""
    view = parse(full_read(tmp_path))
    gpu = next(iter(view.gpus.values()))
    gpu = dataclasses.replace(gpu, processes=(GpuProcess(77, "python3", 1, 0, 512),))
    tree = next(iter(view.trees))
    return dataclasses.replace(
        view, gpus={gpu.uuid: gpu}, modules=frozenset({"nvidia", "nvidia_uvm"}), docker_error="no answer",
        module_files={"nvidia": "loaded"}, trees={tree: dataclasses.replace(
            view.trees[tree], changed={"m/1/b.bin": "0" * 64}, gone=frozenset({"m/1/old.bin"}))})


def test_the_sample_fills_every_field_of_the_read(tmp_path):
    view = sample_view(tmp_path)
    empty = [f.name for f in dataclasses.fields(view) if getattr(view, f.name) in (None, "", (), {}, frozenset())
             and f.name not in ("driver_error", "daemon_json")]
    assert empty == [] and view.containers and view.files and view.trees and view.lock.state == "taken"
    gpu = next(iter(view.gpus.values()))
    assert gpu.gpu_instances and gpu.compute_instances and gpu.mig_devices and gpu.processes


def test_every_change_of_any_field_changes_the_digest(tmp_path):
    view = sample_view(tmp_path)
    base = noop_digest.view_digest(view)
    seen = 0
    for changed in variants(dataclasses.replace(view, lock=None)):
        if changed.lock is not None:        # the lock is sent as read (next test)
            continue
        seen += 1
        assert noop_digest.view_digest(changed) != base, changed
    assert seen > 100        # every leaf of the GPUs, containers, files, trees, units, packages and the rest


def test_the_lock_is_left_out_and_sent_as_read(tmp_path):
    view = sample_view(tmp_path)
    other = dataclasses.replace(view, lock=dataclasses.replace(view.lock, state="took-over"))
    assert noop_digest.view_digest(other) == noop_digest.view_digest(view)


def test_values_with_no_canonical_form_are_refused():
    with pytest.raises(TypeError, match="no canonical form for object"):
        noop_digest.canonical(object())


# -- the host's answer ---------------------------------------------------------------------------

def test_a_host_that_reads_as_expected_answers_one_line_and_its_lock(tmp_path):
    text = full_read(tmp_path)
    expect = noop_digest.view_digest(parse(text))
    short = noop_digest.answer(noop_digest.HOST, text, expect, {"units": UNITS, "services": SERVICES})
    assert short.splitlines()[0] == f"unchanged {expect}"
    assert len(short) < 300 < len(text)
    fact = host_fact.HostState()
    fact.command(units=UNITS, services=SERVICES)
    got = fact.process(short.splitlines())
    assert got == noop_digest.Unchanged(expect, parse(text).lock)
    assert noop_digest.answer(noop_digest.HOST, text, "0" * 64, {"units": UNITS, "services": SERVICES}) is None


def _tamper(sec: dict, name: str, body: str) -> str:
    sec = {**sec, name: (sec[name][0], body)}
    return "".join(f"{sections.MARK} {n}\n{b}\n{sections.MARK} rc={rc}\n" for n, (rc, b) in sec.items())


def test_any_line_dropped_or_changed_is_unchanged_only_where_the_deploy_would_read_the_same(tmp_path):
    """For every section but the lock, each line dropped and each line's first digit or letter changed:
    the host answers "unchanged" only where the deploy's parse of that read equals the kept one."""
    text = full_read(tmp_path)
    kept = parse(text)
    expect = noop_digest.view_digest(kept)
    sec = sections.split(text, read.SECTION_NAMES)
    tried = unchanged = 0
    for name, (_, body) in sec.items():
        if name == "lock":
            continue
        lines = body.splitlines()
        for i, line in enumerate(lines):
            bumped = next((line[:j] + ("0" if c == "9" else "a" if c == "z" else chr(ord(c) + 1)) + line[j + 1:]
                           for j, c in enumerate(line) if c.isalnum()), None)
            for replacement in ([] if bumped is None else [bumped]) + [None]:
                new = lines[:i] + ([] if replacement is None else [replacement]) + lines[i + 1:]
                tampered = _tamper(sec, name, "\n".join(new))
                tried += 1
                try:
                    short = noop_digest.answer(noop_digest.HOST, tampered, expect, {"units": UNITS, "services": SERVICES})
                except (ValueError, smi.ParseError, sections.SectionError):
                    continue        # the host sends its full read: the deploy quotes the error
                if short is not None:
                    unchanged += 1
                    assert parse(tampered) == kept, (name, i, replacement)
    assert tried > 100 and unchanged < tried / 2


def test_the_hand_tampering_cases_change_the_digest(tmp_path):
    text = full_read(tmp_path)
    view = parse(text)
    base = noop_digest.view_digest(view)
    uuid, gpu = next(iter(view.gpus.items()))
    # a GI destroyed (nvidia-smi mig -dci / -dgi by hand)
    gone = gpu.gpu_instances[0].gi_id
    destroyed = dataclasses.replace(gpu, gpu_instances=gpu.gpu_instances[1:], compute_instances=tuple(
        c for c in gpu.compute_instances if c.gi_id != gone), mig_devices=tuple(
        d for d in gpu.mig_devices if d.gi_id != gone))
    # a Triton stopped (docker stop)
    stopped = tuple(dataclasses.replace(c, status="exited", pid=0) for c in view.containers)
    # Envoy's endpoints emptied (the EDS document rewritten by hand)
    emptied = {path: "e" * 64 for path in view.files}
    # a model file edited (size and mtime differ from the manifest: hashed again)
    tree, now = next(iter(view.trees.items()))
    path, digest = next(iter(now.digests().items()))
    edited = TreeNow(manifest=now.manifest, changed={path: "f" * 64},
                     foreign={k: v for k, v in now.foreign.items() if k != path})
    for case in (dataclasses.replace(view, gpus={uuid: destroyed}), dataclasses.replace(view, containers=stopped),
                 dataclasses.replace(view, files=emptied), dataclasses.replace(view, trees={tree: edited})):
        assert noop_digest.view_digest(case) != base


# -- the shell: the host's python answers, or the full read goes ---------------------------------

def _lib(tmp_path):
    lib = tmp_path / "lib"
    for name, data in host_code().items():
        (lib / name).parent.mkdir(parents=True, exist_ok=True)
        (lib / name).write_bytes(data)
    return lib


def _run_asked(tmp_path, text: str, expect: str, lib, path: str = "/usr/bin:/bin") -> str:
    saved = tmp_path / "read.txt"
    saved.write_text(text)
    command = noop_digest.ask(f"cat {shlex.quote(str(saved))}", noop_digest.HOST, expect, str(lib),
                              {"units": UNITS, "services": SERVICES})
    return subprocess.run(["/bin/sh", "-c", command], capture_output=True, text=True, timeout=60,
                          env={"PATH": path}).stdout


@pytest.mark.skipif(shutil.which("python3", path="/usr/bin:/bin") is None, reason="no python3 in /usr/bin")
def test_the_host_code_answers_short_with_the_deploys_own_digest(tmp_path):
    text = full_read(tmp_path)
    expect = noop_digest.view_digest(parse(text))
    lib = _lib(tmp_path)
    short = _run_asked(tmp_path, text, expect, lib)
    assert short.startswith(f"unchanged {expect}\n{sections.MARK} lock\n")
    assert _run_asked(tmp_path, text, "1" * 64, lib) == text + ("" if text.endswith("\n") else "\n")


@pytest.mark.skipif(shutil.which("python3", path="/usr/bin:/bin") is None, reason="no python3 in /usr/bin")
def test_the_hosts_answer_imports_the_parser_and_no_planning_code(tmp_path):
    # Every host of a no-op starts this Python: its imports are most of the short answer's host CPU
    # (the parse and digest take about 2 ms), so the Triton and MIG planning code stays out.
    lib = _lib(tmp_path)
    probe = ("import sys, migfleet.facts.noop_digest, migfleet.facts.read; "
             "print(' '.join(sorted(m for m in sys.modules if m.startswith('migfleet'))))")
    out = subprocess.run(["python3", "-E", "-s", "-S", "-c", probe], cwd=lib, capture_output=True, text=True,
                         timeout=60, env={"PATH": "/usr/bin:/bin"}, check=True).stdout.split()
    assert "migfleet.facts.read" in out and "migfleet.mig.smi" in out
    for planning in ("migfleet.serving.triton", "migfleet.mig.plan", "migfleet.mig.desired", "migfleet.serving.models"):
        assert planning not in out, f"the host's read imports {planning}"


def test_without_the_host_code_or_python3_the_full_read_goes(tmp_path):
    text = full_read(tmp_path)
    expect = noop_digest.view_digest(parse(text))
    whole = text + ("" if text.endswith("\n") else "\n")
    assert _run_asked(tmp_path, text, expect, tmp_path / "no-lib") == whole
    empty_bin = tmp_path / "empty-bin"
    empty_bin.mkdir()
    for tool in ("cat", "mktemp", "rm"):
        found = shutil.which(tool)
        os.symlink(found, empty_bin / tool)
    assert _run_asked(tmp_path, text, expect, _lib(tmp_path), path=str(empty_bin)) == whole


def test_a_host_code_that_fails_sends_the_full_read(tmp_path):
    text = full_read(tmp_path)
    lib = _lib(tmp_path)
    (lib / "migfleet" / "facts" / "read.py").write_text("raise ImportError('an older host code')\n")
    whole = text + ("" if text.endswith("\n") else "\n")
    assert _run_asked(tmp_path, text, noop_digest.view_digest(parse(text)), lib) == whole


def test_a_short_answer_with_a_bad_first_line_is_an_error():
    with pytest.raises(ValueError, match="unexpected short answer 'unchanged xyz'"):
        noop_digest.split_unchanged("unchanged xyz\n")


def test_the_snapshot_mode_sends_the_other_sections(tmp_path):
    snap = "".join(f"{sections.MARK} {n}\n{b.rstrip()}\n{sections.MARK} rc=0\n" for n, b in (
        ("query", doc.QUERY_TWO_3G), ("list", doc.L_TWO_3G), ("lgi", doc.LGI_TWO_3G), ("lci", doc.LCI_TWO_3G),
        ("xml", doc.XML_TWO_3G), ("containers", "[]")))
    names = (*smi.NAMES, "containers")
    gpus = smi.parse_sections(sections.split(snap, names))
    short = noop_digest.answer(noop_digest.SNAPSHOT, snap, noop_digest.gpus_digest(gpus), {"sections": names})
    digest, rest = noop_digest.split_unchanged(short)
    assert digest == noop_digest.gpus_digest(gpus) and sections.split(rest, ("containers",)) == {"containers": (0, "[]")}
