"""Boot-time re-bind of the Tritons: run files written by the deploy, and the script that reads them,
run under `sh` with the lab's simulated nvidia-smi (its real output formats) and a fake `docker` on PATH.

The "reboot" here is what a host does: nvsim drops every instance, the boot unit's script
(planner.boot_script) re-creates the layout (new MIG UUIDs), then the re-bind script runs.
"""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from lab.nvsim import ctl, smi
from migfleet.mig import catalog
from migfleet.mig import desired as layout
from migfleet.mig import smi as parsers
from migfleet.mig import plan as planner
from migfleet.serving import triton
from migfleet.serving.containers import LABEL_CONFIG, LABEL_MIG_UUID, Container, label_value
from migfleet.operations import serving

from .conftest import a100, commands_of, host_gpus

REPO = Path(__file__).resolve().parents[2]
A80, H100 = "NVIDIA A100-SXM4-80GB", "NVIDIA H100 80GB HBM3"
LAYOUT = [
    {"gpus": {"model": A80}, "instances": [{"profile": "3g.40gb", "count": 1}, {"profile": "2g.20gb", "count": 1},
                                           {"profile": "1g.10gb", "count": 2}]},
    {"gpus": {"model": H100}, "instances": [{"profile": "3g.40gb", "count": 1,
                                             "compute": {"profile": "1c.3g.40gb", "count": 2}},
                                            {"profile": "3g.40gb", "count": 1}]},
]
DIGEST = "0123456789abcdef"

FAKE_DOCKER = r'''#!PYTHON -S
"""docker inspect --format '{{index .Config.Labels "KEY"}}' NAME | rm -f NAME | run ARGS, on a JSON state."""
import json, os, sys
args = sys.argv[1:]
with open(os.environ["DOCKER_LOG"], "a") as log:
    log.write(json.dumps(args) + "\n")
path = os.environ["DOCKER_STATE"]
state = json.load(open(path)) if os.path.exists(path) else {}
if args[0] == "inspect":
    if args[-1] not in state:
        sys.exit(f"Error: No such object: {args[-1]}")
    print(state[args[-1]]["labels"].get(args[args.index("--format") + 1].split('"')[1], "<no value>"))
elif args[0] == "rm":
    if state.pop(args[-1], None) is None:
        sys.exit(f"Error: No such container: {args[-1]}")
elif args[0] == "run":
    name = args[args.index("--name") + 1]
    if name in state or os.environ.get("DOCKER_RUN_FAILS") == name:
        sys.exit(f"docker: Error response from daemon: cannot start {name}")
    labels = dict(args[i + 1].split("=", 1) for i, a in enumerate(args) if a == "--label")
    state[name] = {"labels": labels, "args": args[1:]}
    print("c0ffee")
json.dump(state, open(path, "w"))
'''


class Host:
    """A host's driver (nvsim state in tmp), its Docker (fake) and its run directory."""

    def __init__(self, root: Path):
        self.root, self.bin, self.run_dir = root, root / "bin", root / "etc" / "tritons"
        self.bin.mkdir()
        self.run_dir.mkdir(parents=True)
        (self.bin / "nvidia-smi").write_text(
            f"#!/bin/sh\necho \"$*\" >> {root / 'smi.log'}\n"
            f"NVSIM_ROOT={root} PYTHONPATH={REPO} exec {sys.executable} -S -m lab.nvsim.smi \"$@\"\n")
        (self.bin / "docker").write_text(FAKE_DOCKER.replace("PYTHON", sys.executable))
        for tool in ("nvidia-smi", "docker"):
            (self.bin / tool).chmod(0o755)
        self.env = {"PATH": f"{self.bin}:/usr/bin:/bin", "DOCKER_STATE": str(root / "docker.json"),
                    "DOCKER_LOG": str(root / "docker.log")}
        self.settings = None

    def sh(self, script: str, **env) -> subprocess.CompletedProcess:
        return subprocess.run(["sh", "-c", script], env={**self.env, **env}, capture_output=True, text=True,
                              timeout=60)

    def snapshot(self):
        return parsers.parse_snapshot(self.sh(parsers.SNAPSHOT_COMMAND).stdout)

    def boot(self) -> None:
        """nvsim's boot (instances dropped), then the MIG boot unit's script."""
        assert ctl.main(["boot"]) == 0
        gpus = self.snapshot()
        desired = layout.resolve(LAYOUT, gpus)
        done = self.sh(planner.boot_script(desired, {u: catalog.lookup(g.name) for u, g in gpus.items()}))
        assert done.returncode == 0, done.stdout + done.stderr

    def deploy(self, settings) -> dict[str, str]:
        """What the deploy leaves: run files for the live devices, one container per spec."""
        gpus = self.snapshot()
        files = triton.run_files(gpus, settings, DIGEST)
        for path in self.run_dir.glob("*.run"):
            path.unlink()
        for name, text in files.items():
            (self.run_dir / name).write_text(text)
        state = {s.name: {"labels": {k: label_value(s.run_args, k) for k in (LABEL_MIG_UUID, LABEL_CONFIG)},
                          "args": list(s.run_args)} for s in triton.desired_tritons(gpus, settings, DIGEST)}
        self.docker_state = state
        return files

    @property
    def docker_state(self) -> dict:
        path = self.root / "docker.json"
        return json.loads(path.read_text()) if path.exists() else {}

    @docker_state.setter
    def docker_state(self, state: dict) -> None:
        (self.root / "docker.json").write_text(json.dumps(state))

    def docker_calls(self) -> list[list[str]]:
        path = self.root / "docker.log"
        calls = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
        path.unlink(missing_ok=True)
        return calls

    def rebind(self, **env) -> subprocess.CompletedProcess:
        (self.root / "smi.log").unlink(missing_ok=True)
        return self.sh(triton.rebind_script(str(self.run_dir)), **env)

    def containers(self) -> list[Container]:
        return [Container(name=n, id=n, image="", status="running", labels={"migfleet.role": triton.ROLE, **c["labels"]})
                for n, c in self.docker_state.items()]


@pytest.fixture
def host(tmp_path, monkeypatch, settings) -> Host:
    monkeypatch.setenv("NVSIM_ROOT", str(tmp_path))
    assert ctl.main(["init", "--model", f"{A80},{H100}", "--hostname", "lab-h9"]) == 0
    h = Host(tmp_path)
    h.boot()                    # MIG enabled (H100: again at every boot) and the layout built
    return h


def mig_uuids(gpus) -> set[str]:
    return {d.uuid for g in gpus.values() for d in g.mig_devices}


# ---------------------------------------------------------------- run files (pure)

def test_run_file_rebuilds_the_deploys_arguments_and_hash_for_any_mig_uuid(settings):
    gpus = host_gpus(a100(0, [(1, "3g.20gb", 4), (2, "3g.20gb", 0)]), a100(1, [(7, "1g.5gb", 0)]))
    files = triton.run_files(gpus, settings, DIGEST)
    for spec in triton.desired_tritons(gpus, settings, DIGEST):
        lines = files[spec.name + ".run"].splitlines()
        gpu = gpus[spec.gpu_uuid]
        gi = next(g for g in gpu.gpu_instances if g.gi_id == spec.gi_id)
        assert [ln for ln in lines if ln.split()[0] in ("gpu", "gi", "ci", "models")] == [
            f"gpu {gpu.uuid}", f"gi {gi.profile_id} {gi.start}", "ci 0 0", f"models {DIGEST}"]
        assert not any(spec.mig_uuid in ln for ln in lines)
        # What the script does, in Python: fill the placeholder, hash, put the label where "config" is.
        other = "MIG-ffffffff-0000-1111-2222-333333333333"
        args = [ln[4:].replace(triton.MIG_UUID_PLACEHOLDER, other) for ln in lines if ln.startswith("arg ")]
        digest = hashlib.sha256("\0".join([*args, f"models={DIGEST}"]).encode()).hexdigest()[:16]
        at = lines.index("config") - lines.index(next(ln for ln in lines if ln.startswith("arg ")))
        rebuilt = [*args[:at], "--label", f"{LABEL_CONFIG}={digest}", *args[at:]]
        moved = triton.docker_run_args(spec.name, gpu, other, spec.ports, settings, DIGEST)
        assert rebuilt == list(moved)


def test_run_files_refuse_what_they_cannot_write(settings):
    gpus = host_gpus(a100(0, [(1, "3g.20gb", 4)]))
    with pytest.raises(triton.TritonPlanError, match="cannot be written"):
        triton.run_files(gpus, dict(settings, triton_server_args=["--log-info=a\nb"]))
    no_ci = host_gpus(replace(a100(0, [(1, "3g.20gb", 4)]), compute_instances=()))
    with pytest.raises(triton.TritonPlanError, match="no GPU instance 1 with compute instance 0"):
        triton.run_files(no_ci, settings)


STALE = {"triton-gpu0-gi9.run": "1" * 40, "triton-gpu3-gi1.run": "2" * 40}


@pytest.mark.parametrize("present, uploads, removed", [
    (lambda sums: {}, ["triton-gpu0-gi1.run", "triton-gpu0-gi2.run"], None),
    (lambda sums: sums, [], None),
    (lambda sums: {**sums, **STALE}, [],
     "rm -f /etc/migfleet/tritons/triton-gpu0-gi9.run /etc/migfleet/tritons/triton-gpu3-gi1.run"),
    (lambda sums: {**sums, "triton-gpu0-gi1.run": "0" * 40}, ["triton-gpu0-gi1.run"], None),
], ids=["fresh", "same", "stale", "changed"])
def test_run_files_operation(settings, present, uploads, removed):
    gpus = host_gpus(a100(0, [(1, "3g.20gb", 4), (2, "3g.20gb", 0)]))
    sums = {n: hashlib.sha1(t.encode()).hexdigest() for n, t in triton.run_files(gpus, settings, DIGEST).items()}
    commands, noops = commands_of(serving.triton_run_files, settings, DIGEST,
                                  facts={"MigSnapshot": gpus, "TritonRunFiles": present(sums)})
    assert [c.dest for c in commands if hasattr(c, "dest")] == [f"{triton.RUN_DIR}/{n}" for n in uploads]
    assert [c for c in commands if isinstance(c, str) and c.startswith("rm ")] == ([removed] if removed else [])
    assert (noops != []) == (commands == [])


def test_run_files_fact_parses_sha1sum():
    fact = serving.TritonRunFiles()
    assert fact.process([f"{'a' * 40}  triton-gpu0-gi1.run"]) == {"triton-gpu0-gi1.run": "a" * 40}
    with pytest.raises(ValueError, match="unexpected sha1sum output"):
        fact.process(["sha1sum: x.run: Permission denied"])


# ---------------------------------------------------------------- the script on a host

def test_after_a_reboot_every_triton_is_bound_to_the_new_device_at_its_place(host, settings):
    host.deploy(settings)
    before = host.snapshot()
    host.boot()
    after = host.snapshot()
    assert mig_uuids(after) and not mig_uuids(after) & mig_uuids(before)

    done = host.rebind()
    assert done.returncode == 0, done.stderr
    calls = host.docker_calls()
    specs = {s.name: s for s in triton.desired_tritons(after, settings, DIGEST)}
    assert len(specs) == 7
    # Each container: looked at, removed, started with exactly what the deploy would run now.
    for name, spec in specs.items():
        assert ["rm", "-f", name] in calls
        assert ["run", *spec.run_args] in calls
        assert f"{name}: started on {spec.mig_uuid}" in done.stdout
    assert len(calls) == 3 * len(specs)
    # So the next deploy finds nothing to do, and the run files do not change.
    assert triton.plan_tritons(after, host.containers(), settings, DIGEST).converged
    assert triton.run_files(after, settings, DIGEST) == {p.name: p.read_text() for p in host.run_dir.glob("*.run")}

    again = host.rebind()
    assert again.returncode == 0 and all(c[0] == "inspect" for c in host.docker_calls())
    assert again.stdout.count("bound to MIG-") == len(specs)


def test_missing_container_is_started_and_bound_one_is_left(host, settings):
    host.deploy(settings)
    state = host.docker_state
    gone = sorted(state)[0]
    del state[gone]
    host.docker_state = state
    done = host.rebind()
    assert done.returncode == 0, done.stderr
    calls = host.docker_calls()
    assert [c[:3] for c in calls if c[0] != "inspect"] == [["run", "-d", "--name"]]
    assert f"{gone}: started on" in done.stdout and "removed" not in done.stdout


def test_layout_drift_names_the_container_and_rebinds_the_others(host, settings):
    host.deploy(settings)
    host.boot()
    # The 2g.20gb of the A100 (GI 3) is gone: its Triton cannot be re-bound.
    assert smi.run(["mig", "-i", "0", "-dci", "-gi", "3"])[1] == 0
    assert smi.run(["mig", "-i", "0", "-dgi", "-gi", "3"])[1] == 0
    done = host.rebind(DOCKER_RUN_FAILS="triton-gpu1-gi1")
    assert done.returncode == 1
    assert "triton-gpu0-gi3: no MIG device at its place" in done.stderr
    assert "14 0 1 0" in done.stderr                       # GI profile 14 at 0, CI profile 1 at 0
    assert done.stderr.strip().endswith("not re-bound: triton-gpu0-gi3 triton-gpu1-gi1")
    started = {c[c.index("--name") + 1] for c in host.docker_calls() if c[0] == "run"}
    assert started == {"triton-gpu0-gi1", "triton-gpu0-gi9", "triton-gpu0-gi10", "triton-gpu1-gi1",
                       "triton-gpu1-gi2", "triton-gpu1-gi2-ci1"}


def test_no_run_files_touches_nothing(host):
    done = host.rebind()
    assert done.returncode == 0 and "no Triton to re-bind" in done.stdout
    assert not (host.root / "smi.log").exists() and host.docker_calls() == []


def test_device_table_matches_the_snapshot_parser(host):
    """The script's awk reading of -L/-lgi/-lci/-q agrees with migfleet.parsers on every device."""
    gpus = host.snapshot()
    sections = {name: host.sh(cmd).stdout for name, cmd in
                (("L", "nvidia-smi -L"), ("lgi", "nvidia-smi mig -lgi"), ("lci", "nvidia-smi mig -lci"),
                 ("q", "nvidia-smi -q"))}
    text = "".join(f"@@ {name}\n{out}" for name, out in sections.items())
    table = subprocess.run(["awk", triton._DEVICES_AWK], input=text, capture_output=True, text=True, timeout=10)
    got = sorted(tuple(line.split()) for line in table.stdout.splitlines())
    want = sorted((p.gpu_uuid, *map(str, (p.gi_profile_id, p.gi_start, p.ci_profile_id, p.ci_start)), d.uuid)
                  for g in gpus.values() for d in g.mig_devices for p in [triton.mig_place(g, d.gi_id, d.ci_id)])
    assert got == want and len(got) == 7
