"""The boot record: the placed layout the deploy applied, replayed exactly at boot.

MIG instances never survive a reboot (Hopper also loses MIG mode). The deploy writes every
GPU's target layout to RECORD_PATH; at boot `migfleet-mig.service` runs
`python3 -m migfleet.mig.boot`, which puts every GPU instance back at its recorded place with its
compute instances (never re-fitted), as mig-parted's checkpoint/restore does. The replay is the
planner's: it plans from the live GPU to the record and runs the actions until they agree. A MIG
mode change follows the planner's rule by architecture: Ampere resets the GPU; Hopper and later
(whose mode is lost at every boot) set it, read it again and reset only if it is still pending.
"""
from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass

from migfleet import sections
from migfleet.mig import catalog, placed, smi
from migfleet.mig.desired import ComputeSpec, DesiredGpu, DesiredInstance
from migfleet.mig.geometry import default_ci
from migfleet.mig.placed import GpuLayout
from migfleet.mig.plan import Policy, plan_gpu

RECORD_PATH = "/etc/migfleet/mig-layout.json"
MAX_PASSES = 3


@dataclass(frozen=True)
class RecordedGpu:
    uuid: str
    index: int
    model: str
    layout: GpuLayout


def record_text(gpus: Mapping[str, RecordedGpu]) -> str:
    body = {"version": 1, "gpus": [{"uuid": g.uuid, "index": g.index, "model": g.model,
                                    "layout": g.layout.to_json()} for g in gpus.values()]}
    return json.dumps(body, indent=1, sort_keys=True) + "\n"


def parse_record(text: str) -> dict[str, RecordedGpu]:
    data = json.loads(text)
    if data.get("version") != 1:
        raise ValueError(f"unknown boot record version {data.get('version')!r}")
    return {g["uuid"]: RecordedGpu(g["uuid"], int(g["index"]), g["model"], GpuLayout.from_json(g["layout"]))
            for g in data["gpus"]}


def desired_of(layout: GpuLayout, geometry) -> DesiredGpu:
    """The record as inventory-style instances, every one pinned at its place."""
    if not layout.mig:
        return DesiredGpu(False)
    out = []
    for gi in layout.gis:
        prof = geometry.profile(gi.profile_id)
        full = gi.cis == (default_ci(prof),)
        compute = None if full else ComputeSpec(gi.cis[0], len(gi.cis))
        if not full and len(set(gi.cis)) != 1:
            raise ValueError(f"GPU instance at slice {gi.start} mixes compute profiles {gi.cis}")
        out.append(DesiredInstance(gi.profile_id, placements=(gi.start,), compute=compute,
                                   where=f"record slice {gi.start}"))
    return DesiredGpu(True, tuple(out))


def _sh(command: str) -> tuple[int, str]:
    proc = subprocess.run(["sh", "-c", command], capture_output=True, text=True)
    return proc.returncode, proc.stdout + proc.stderr


def read_gpus() -> dict:
    rc, out = _sh(sections.frame(dict(smi.SNAPSHOT_SECTIONS)))
    return smi.parse_snapshot(out)


def replay(record: Mapping[str, RecordedGpu], say=print, run=_sh, read=read_gpus) -> bool:
    """Bring every recorded GPU to its recorded layout; True when all of them match."""
    ok = True
    for uuid, rec in record.items():
        geometry = catalog.lookup(rec.model)
        if geometry is None and rec.layout.mig:
            say(f"GPU {uuid} ({rec.model}): no built-in MIG geometry; not restored")
            ok = False
            continue
        want = desired_of(rec.layout, geometry)
        for _ in range(MAX_PASSES):
            gpu = read().get(uuid)
            if gpu is None:
                say(f"GPU {uuid} ({rec.model}): not listed by nvidia-smi")
                ok = False
                break
            plan = plan_gpu(gpu, want, geometry, Policy())
            if plan.converged:
                say(f"GPU {gpu.index} ({uuid}): {placed.summary(plan.target, geometry)}")
                break
            if plan.blocked:
                say(plan.blocked)
                ok = False
                break
            if not _run_actions(gpu.index, plan.actions, say, run, plan.target.mig):
                ok = False
                break
        else:
            say(f"GPU {uuid}: still differs from the record after {MAX_PASSES} passes")
            ok = False
    return ok


def _mode_in_effect(idx: int, action, say, run, want: bool) -> bool | None:
    """settle_mig: the MIG mode read again. True: in effect; False: still pending; None: unreadable."""
    say(f"+ {action.command}")
    rc, out = run(action.command)
    word = "Enabled" if want else "Disabled"
    try:
        current, pending = smi.parse_mig_mode(out)
    except smi.ParseError as e:
        say(f"{action.description}: {e}")
        return None
    say(f"GPU {idx}: MIG mode {word} " + ("in effect at once; no GPU reset" if current == want
                                          else "still pending; resetting the GPU"))
    return current == want


def _run_actions(idx: int, actions, say, run, want_mig: bool = True) -> bool:
    for action in actions:
        try:
            command = action.command_now(run)
        except smi.ParseError as e:
            say(f"{action.description}: {e}")
            return False
        if action.kind == "settle_mig":
            effective = _mode_in_effect(idx, action, say, run, want_mig)
            if effective is None:
                return False
            if effective:
                continue
            command = smi.reset_gpu(idx)
        say(f"+ {command}")
        rc, out = run(command)
        if rc != 0:
            say(f"{action.description}: failed (exit {rc}): {out.strip()}")
            return False
    return True


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    path = argv[0] if argv else RECORD_PATH
    try:
        with open(path, encoding="utf-8") as fh:
            record = parse_record(fh.read())
    except FileNotFoundError:
        print(f"migfleet-boot: no boot record at {path}; nothing to restore")
        return 0
    except (ValueError, KeyError) as e:
        print(f"migfleet-boot: boot record {path} is unreadable: {e}", file=sys.stderr)
        return 1
    ok = replay(record, say=lambda m: print(f"migfleet-boot: {m}", flush=True))
    print(f"migfleet-boot: {'MIG layout restored' if ok else 'MIG layout NOT restored (see above)'}", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
