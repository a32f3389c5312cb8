"""Read-only: migfleet's snapshot of this machine's GPUs, its parse, the plan for 7 x 1g.10gb, and
pynvml's view of the same GPUs as a cross-check. Sends only query commands (parsers.SNAPSHOT_COMMAND,
nvidia-smi mig -lgip/-lgipp) and NVML getters; nothing here changes the GPU.

    python3 bench/h100/facts_plan.py OUT_DIR
"""
from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from migfleet.mig import catalog
from migfleet.mig import desired as layout
from migfleet.mig import smi as parsers
from migfleet.mig import plan as planner  # noqa: E402
from migfleet.mig.smi import geometry_command, parse_geometry  # noqa: E402

LAYOUT = [{"gpus": "all", "instances": [{"profile": "1g.10gb", "count": 7}]}]


def shell(command: str) -> str:
    return subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=60, check=True).stdout


def as_data(obj):
    if dataclasses.is_dataclass(obj):
        return {f.name: as_data(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple, frozenset, set)):
        return [as_data(x) for x in obj]
    if isinstance(obj, dict):
        return {str(k): as_data(v) for k, v in obj.items()}
    return obj


def catalog_differences(built_in, read) -> list[str]:
    """Fields where the catalog geometry differs from the one read off the GPU (-lgip/-lgipp)."""
    if built_in is None:
        return ["model not in the catalog"]
    ours = {p.id: p for p in built_in.profiles}
    diffs = []
    for p in read.profiles:
        c = ours.pop(p.id, None)
        if c is None:
            diffs.append(f"profile {p.name} (id {p.id}) read off the GPU, not in the catalog")
            continue
        for field in ("name", "slices", "instances", "memory_mib", "sm", "placements"):
            if getattr(c, field) != getattr(p, field):
                diffs.append(f"{p.name} {field}: catalog {getattr(c, field)}, read {getattr(p, field)}")
    diffs += [f"profile {c.name} (id {c.id}) in the catalog, not read off the GPU" for c in ours.values()]
    return diffs


def possible_placements(n, handle, profile_id: int) -> list[list[int]]:
    """[[start, size], ...] for one GPU-instance profile (NVML's ref-style getter: 8 is above any GPU's 7)."""
    import ctypes
    count = ctypes.c_uint(8)
    slots = (n.c_nvmlGpuInstancePlacement_t * 8)()
    n.nvmlDeviceGetGpuInstancePossiblePlacements(handle, profile_id, slots, ctypes.byref(count))
    return [[slots[i].start, slots[i].size] for i in range(count.value)]


def nvml_view() -> dict:
    """MIG mode and GPU-instance profiles as NVML reports them (getters only)."""
    import pynvml as n
    n.nvmlInit()
    try:
        gpus = []
        for i in range(n.nvmlDeviceGetCount()):
            h = n.nvmlDeviceGetHandleByIndex(i)
            gpu = {"index": i, "name": n.nvmlDeviceGetName(h), "uuid": n.nvmlDeviceGetUUID(h),
                   "memory_total": n.nvmlDeviceGetMemoryInfo(h).total, "profiles": []}
            try:
                gpu["mig_mode"] = list(n.nvmlDeviceGetMigMode(h))     # [current, pending]
            except n.NVMLError as e:
                gpu["mig_mode"] = f"error: {e}"
            for idx in range(n.NVML_GPU_INSTANCE_PROFILE_COUNT):
                try:
                    info = n.nvmlDeviceGetGpuInstanceProfileInfo(h, idx)
                except n.NVMLError:
                    continue
                try:
                    placements = possible_placements(n, h, info.id)
                except n.NVMLError as e:
                    placements = f"error: {e}"
                gpu["profiles"].append({"profile_index": idx, "id": info.id, "sliceCount": info.sliceCount,
                                        "instanceCount": info.instanceCount,
                                        "multiprocessorCount": info.multiprocessorCount,
                                        "memorySizeMB": info.memorySizeMB, "placements": placements})
            gpus.append(gpu)
        return {"driver": n.nvmlSystemGetDriverVersion(), "gpus": gpus}
    finally:
        n.nvmlShutdown()


def cross_check(states, geometries, nvml) -> list[str]:
    """Where migfleet's parse (and its catalog geometry) and NVML disagree; empty when they agree."""
    problems = []
    by_uuid = {g["uuid"]: g for g in nvml["gpus"]}
    for uuid, st in states.items():
        g = by_uuid.get(uuid)
        if g is None:
            problems.append(f"{uuid}: parsed from nvidia-smi but not listed by NVML")
            continue
        if isinstance(g["mig_mode"], list) and [int(st.mig_current), int(st.mig_pending)] != g["mig_mode"]:
            problems.append(f"{uuid}: MIG mode parsed {st.mig_current}/{st.mig_pending}, NVML {g['mig_mode']}")
        geo = geometries[uuid]
        nvml_ids = {p["id"]: p for p in g["profiles"]}
        for prof in geo.profiles:
            p = nvml_ids.get(prof.id)
            if p is None:
                problems.append(f"{uuid}: profile {prof.name} (id {prof.id}) not reported by NVML")
                continue
            ours = (prof.slices, prof.instances, prof.memory_mib, prof.sm)
            theirs = (p["sliceCount"], p["instanceCount"], p["memorySizeMB"], p["multiprocessorCount"])
            if ours != theirs:
                problems.append(f"{uuid}: {prof.name} slices/instances/MiB/SMs {ours}, NVML {theirs}")
    return problems


def main(out: Path) -> int:
    out.mkdir(parents=True, exist_ok=True)
    text = shell(parsers.SNAPSHOT_COMMAND)
    (out / "snapshot.txt").write_text(text)
    states = parsers.parse_snapshot(text)
    desired = layout.resolve(LAYOUT, states)
    result: dict = {"layout": LAYOUT, "gpus": {}}
    geometries = {}
    for uuid, st in states.items():
        geo_text = shell(geometry_command(st.index))
        read_geometry = parse_geometry(geo_text)
        geo = catalog.lookup(st.name) or read_geometry
        geometries[uuid] = geo
        plan = planner.plan_gpu(st, desired[uuid], geo, planner.Policy())
        result["gpus"][uuid] = {
            "state": as_data(st),
            "catalog_vs_read": catalog_differences(catalog.lookup(st.name), read_geometry),
            "geometry_read": as_data(read_geometry),
            "plan": as_data(plan),
        }
        print(f"GPU {st.index} {st.name} {uuid}: MIG current={st.mig_current} pending={st.mig_pending}, "
              f"{len(st.gpu_instances)} GI, {len(st.processes)} process(es)")
        print(f"  plan: converged={plan.converged} blocked={plan.blocked} needs_reset={plan.needs_reset}")
        for a in plan.actions:
            print(f"    [{a.kind}] {a.command}    # {a.description}")
    try:
        nvml = nvml_view()
        result["nvml"] = nvml
        result["nvml_disagreements"] = cross_check(states, geometries, nvml)
    except Exception as e:      # noqa: BLE001 - recorded, the snapshot and plan still stand
        result["nvml"] = f"error: {type(e).__name__}: {e}"
    print("NVML disagreements:", result.get("nvml_disagreements"))
    (out / "facts_plan.json").write_text(json.dumps(result, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "facts_out")))
