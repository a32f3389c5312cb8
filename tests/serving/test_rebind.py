"""The host side, on a simulated host: the boot record replayed at boot (exact places, never
re-fitted), then every Triton started again on the MIG device now at its place.

Runs `python3 -m migfleet.mig.boot` and `python3 -m migfleet.serving.rebind` as the boot units
do, with the lab's nvidia-smi (its real output formats, state in tmp) and a fake `docker` on PATH.
"""
from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from lab.nvsim import ctl
from migfleet.mig import boot, catalog, placed
from migfleet.mig import smi as parsers
from migfleet.mig.placed import ENABLED, GpuLayout, PlacedGi
from migfleet.serving import triton
from migfleet.serving.containers import LABEL_CONFIG, LABEL_MIG_UUID, Container

REPO = Path(__file__).resolve().parents[2]
A80, H100 = "NVIDIA A100-SXM4-80GB", "NVIDIA H100 80GB HBM3"
DIGEST = "0123456789abcdef"
# The H100 layout: 3 x 1g.10gb at 0, 1, 2 beside a kept 3g.40gb at 4 (fit() would put the
# 3g.40gb at 0); the A100-80GB one with a GI of two small compute instances.
RECORD = {
    A80: GpuLayout(ENABLED, (PlacedGi(0, 9, (2,)), PlacedGi(4, 14, (0, 0)), PlacedGi(6, 19, (0,)))),
    H100: GpuLayout(ENABLED, (PlacedGi(0, 19, (0,)), PlacedGi(1, 19, (0,)), PlacedGi(2, 19, (0,)),
                              PlacedGi(4, 9, (2,)))),
}

FAKE_DOCKER = r'''#!PYTHON -S
"""docker inspect --format ... NAME | rm -f NAME | run ARGS, on a JSON state."""
import json, os, sys
args = sys.argv[1:]
with open(os.environ["DOCKER_LOG"], "a") as log:
    log.write(json.dumps(args) + "\n")
path = os.environ["DOCKER_STATE"]
state = json.load(open(path)) if os.path.exists(path) else {}
if args[0] == "inspect":
    if args[-1] not in state:
        sys.exit(f"Error: No such object: {args[-1]}")
    print(json.dumps(state[args[-1]]["labels"]), "running")
elif args[0] == "ps":
    print("\n".join(sorted(state)))
elif args[0] == "rm":
    if state.pop(args[-1], None) is None:
        sys.exit(f"Error: No such container: {args[-1]}")
elif args[0] == "run":
    name = args[args.index("--name") + 1]
    if name in state:
        sys.exit(f"docker: Error response from daemon: name {name} in use")
    labels = dict(args[i + 1].split("=", 1) for i, a in enumerate(args) if a == "--label")
    state[name] = {"labels": labels, "args": args[1:]}
    print("c0ffee")
json.dump(state, open(path, "w"))
'''


class Host:
    """A host's driver (nvsim state in tmp), its Docker (fake), its boot record and run files."""

    def __init__(self, root: Path):
        self.root, self.bin, self.run_dir = root, root / "bin", root / "tritons"
        self.record = root / "mig-layout.json"
        self.bin.mkdir()
        self.run_dir.mkdir()
        (self.bin / "nvidia-smi").write_text(
            f"#!/bin/sh\nNVSIM_ROOT={root} PYTHONPATH={REPO} exec {sys.executable} -S -m lab.nvsim.smi \"$@\"\n")
        (self.bin / "docker").write_text(FAKE_DOCKER.replace("PYTHON", sys.executable))
        for tool in ("nvidia-smi", "docker"):
            (self.bin / tool).chmod(0o755)
        self.env = {"PATH": f"{self.bin}:/usr/bin:/bin", "PYTHONPATH": str(REPO),
                    "DOCKER_STATE": str(root / "docker.json"), "DOCKER_LOG": str(root / "docker.log")}

    def run(self, *argv: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, *argv], env=self.env, capture_output=True, text=True, timeout=60)

    def snapshot(self):
        out = subprocess.run(["sh", "-c", parsers.SNAPSHOT_COMMAND], env=self.env, capture_output=True, text=True)
        return parsers.parse_snapshot(out.stdout)

    def write_record(self) -> None:
        gpus = self.snapshot()
        self.record.write_text(boot.record_text({u: boot.RecordedGpu(u, g.index, g.name, RECORD[g.name])
                                                 for u, g in gpus.items()}))

    def reboot(self) -> subprocess.CompletedProcess:
        """nvsim's boot (instances gone, Hopper MIG mode lost), then the MIG boot unit."""
        assert ctl.main(["boot"]) == 0
        return self.run("-m", "migfleet.mig.boot", str(self.record))

    def deploy_tritons(self, settings) -> list[triton.Triton]:
        """What the deploy leaves: a run file per Triton, the containers bound to today's devices."""
        gpus = self.snapshot()
        specs = triton.live_specs(gpus, settings, DIGEST)
        for spec in specs:
            (self.run_dir / f"{spec.name}{triton.RUN_SUFFIX}").write_text(spec.to_json())
        state = {}
        for spec in specs:
            uuid = triton.live_devices(gpus[spec.place.gpu_uuid])[(spec.place.gi_start, spec.place.ci_start)].uuid
            args = triton.run_args_for(spec.run_args, spec.config_hash, uuid)
            state[spec.name] = {"labels": dict(args[i + 1].split("=", 1) for i, a in enumerate(args) if a == "--label"),
                                "args": args[1:]}
        (self.root / "docker.json").write_text(json.dumps(state))
        return specs

    def rebind(self) -> subprocess.CompletedProcess:
        """What migfleet-tritons.service runs at boot (readiness not awaited: no Triton runs here)."""
        (self.root / "docker.log").unlink(missing_ok=True)
        config = self.root / "rotation.json"
        config.write_text(json.dumps({"envoy_dir": str(self.root / "envoy"), "admin_port": 1, "run_dir": str(self.run_dir),
                                      "drain_seconds": 0, "ready_timeout": 0,
                                      "served_dir": str(self.root / "served")}))
        return self.run("-m", "migfleet.serving.rotation", "start", "--config", str(config))

    def docker_calls(self) -> list[list[str]]:
        path = self.root / "docker.log"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def containers(self) -> list[Container]:
        state = json.loads((self.root / "docker.json").read_text())
        return [Container(name=n, id=n, image="", status="running", labels=c["labels"]) for n, c in state.items()]


@pytest.fixture
def host(tmp_path, monkeypatch) -> Host:
    monkeypatch.setenv("NVSIM_ROOT", str(tmp_path))
    assert ctl.main(["init", "--model", f"{A80},{H100}", "--hostname", "lab-h9"]) == 0
    h = Host(tmp_path)
    h.write_record()
    done = h.reboot()           # the first boot builds the recorded layout from nothing
    assert done.returncode == 0, done.stdout + done.stderr
    return h


def live_layouts(gpus) -> dict[str, GpuLayout]:
    return {g.name: placed.live(g) for g in gpus.values()}


def test_boot_replays_the_record_at_the_exact_places(host):
    assert live_layouts(host.snapshot()) == RECORD
    done = host.reboot()
    assert done.returncode == 0, done.stdout + done.stderr
    assert live_layouts(host.snapshot()) == RECORD         # not re-fitted: the 3g.40gb stays at 4
    assert "-cgi 9:4" in done.stdout                     # placed where recorded, by explicit start
    again = host.run("-m", "migfleet.mig.boot", str(host.record))
    assert again.returncode == 0 and "+ nvidia-smi" not in again.stdout     # nothing to do when it matches


def test_boot_without_a_record_does_nothing_and_a_broken_one_fails(host, tmp_path):
    assert host.run("-m", "migfleet.mig.boot", str(tmp_path / "none.json")).returncode == 0
    (tmp_path / "bad.json").write_text("{not json")
    done = host.run("-m", "migfleet.mig.boot", str(tmp_path / "bad.json"))
    assert done.returncode == 1 and "unreadable" in done.stderr


def test_after_a_reboot_every_triton_is_bound_to_the_new_device_at_its_place(host, settings):
    specs = host.deploy_tritons(settings)
    before = {d.uuid for g in host.snapshot().values() for d in g.mig_devices}
    assert host.reboot().returncode == 0
    gpus = host.snapshot()
    after = {d.uuid for g in gpus.values() for d in g.mig_devices}
    assert after and not after & before
    done = host.rebind()
    assert done.returncode == 0, done.stdout + done.stderr
    for c in host.containers():
        spec = next(s for s in specs if s.name == c.name)
        uuid = triton.live_devices(gpus[spec.place.gpu_uuid])[(spec.place.gi_start, spec.place.ci_start)].uuid
        assert c.labels[LABEL_MIG_UUID] == uuid and c.labels[LABEL_CONFIG] == spec.config_hash
    assert len(specs) == 8 and sum(c[0] == "run" for c in host.docker_calls()) == 8
    # and every one of them is in Envoy's rotation (its endpoint files, renamed into place)
    eds = json.loads((host.root / "envoy" / "eds-triton_http.json").read_text())
    assert sorted(e["endpoint"]["hostname"] for e in eds["resources"][0]["endpoints"][0]["lb_endpoints"]) == \
        sorted(s.name for s in specs)
    # The deploy's own plan, from the live state, then finds nothing to do.
    bound = {k: v for g in gpus.values() for k, v in triton.stable_devices(g, placed.live(g)).items()}
    assert triton.plan_tritons(triton.live_specs(gpus, settings, DIGEST), host.containers(), bound).converged
    again = host.rebind()
    assert again.returncode == 0 and all(c[0] in ("inspect", "ps") for c in host.docker_calls())


def test_a_place_with_no_device_is_named_and_the_others_are_bound(host, settings):
    spec = host.deploy_tritons(settings)[0]
    nowhere = dataclasses.replace(spec, name="triton-gpu1-s5", place=dataclasses.replace(spec.place, gi_start=5))
    (host.run_dir / "triton-gpu1-s5.json").write_text(nowhere.to_json())
    assert host.reboot().returncode == 0
    done = host.rebind()
    assert done.returncode == 1
    assert "triton-gpu1-s5: no MIG device at its place" in done.stdout
    assert sum(c[0] == "run" for c in host.docker_calls()) == 8


def test_record_round_trips_and_refuses_other_versions():
    text = boot.record_text({"GPU-1": boot.RecordedGpu("GPU-1", 0, H100, RECORD[H100])})
    assert boot.parse_record(text)["GPU-1"].layout == RECORD[H100]
    with pytest.raises(ValueError, match="version"):
        boot.parse_record(json.dumps({"version": 2, "gpus": []}))


def test_a_broken_run_file_is_named_in_one_line(host, settings):
    host.deploy_tritons(settings)
    (host.run_dir / "triton-gpu9-s0.json").write_text('{"name": "triton-gpu9-s0"}')
    done = host.rebind()
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "triton-gpu9-s0.json: run file is not a Triton's (KeyError: 'gi_start')" in done.stdout
