"""MIG rules of the simulated driver: placements, instance IDs, mode changes, resets, boot.

Functions act on one GPU record of the state (see state.py) and raise `DriverError` with the
NVML error string nvidia-smi would print ("Insufficient Resources", "In use by another client").
"""
from __future__ import annotations

from migfleet.mig.geometry import Geometry, Profile

from lab.nvsim import models
from lab.nvsim.state import mig_uuid

# nvidia-smi exit codes (nvidia-smi(1) "RETURN VALUE"): NVML errors it documents keep their
# number, any other error is 255.
RC_INVALID_ARGUMENT = 2
RC_NOT_SUPPORTED = 3
RC_NOT_FOUND = 6
RC_OTHER = 255

INSUFFICIENT = "Insufficient Resources"
IN_USE = "In use by another client"
NOT_FOUND = "Not Found"
INVALID = "Invalid Argument"
NOT_SUPPORTED = "Not Supported"

_RC = {INSUFFICIENT: RC_OTHER, IN_USE: RC_OTHER, NOT_FOUND: RC_NOT_FOUND,
       INVALID: RC_INVALID_ARGUMENT, NOT_SUPPORTED: RC_NOT_SUPPORTED}


class DriverError(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason
        self.rc = _RC.get(reason, RC_OTHER)


def geometry(gpu: dict) -> Geometry:
    return models.lookup(gpu["model"])


def gi_id_for(start: int, size: int, memory_slices: int = 8) -> int:
    """GPU instance ID the driver gives a placement (as `nvidia-smi mig -lgi` shows on A100/H100).

    8 slices -> 0; 4 slices: 4:4 -> 1, 0:4 -> 2; 2 slices: 3 + start/2; 1 slice: 7 + start.
    A 4-slice GPU (A30) by the same rule one level down: 4 -> 0; 2:2 -> 1, 0:2 -> 2; 1 -> 3 + start.
    """
    if size >= memory_slices:
        return 0
    if size * 2 == memory_slices:
        return 1 if start >= size else 2
    if memory_slices == 4:
        return 3 + start
    if size >= 2:
        return 3 + start // 2
    return 7 + start


def _overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[0] + b[1] and b[0] < a[0] + a[1]


def gi_profile(gpu: dict, gi: dict) -> Profile:
    return geometry(gpu).profile(gi["profile_id"])


def _compute_used(gpu: dict) -> int:
    return sum(gi_profile(gpu, gi).slices for gi in gpu["gpu_instances"])


def _fits(gpu: dict, profile: Profile, placement: tuple[int, int], taken: list[tuple[int, int]],
          count: int, compute_used: int) -> bool:
    geo = geometry(gpu)
    return (count < profile.instances
            and compute_used + profile.slices <= geo.compute_slices
            and not any(_overlaps(placement, t) for t in taken))


def free_instances(gpu: dict, profile: Profile) -> int:
    """How many more GIs of `profile` could be created now (-lgip's Free column)."""
    taken = [(gi["start"], gi["size"]) for gi in gpu["gpu_instances"]]
    count = sum(1 for gi in gpu["gpu_instances"] if gi["profile_id"] == profile.id)
    used = _compute_used(gpu)
    free = 0
    for placement in profile.placements:
        if _fits(gpu, profile, placement, taken, count, used):
            taken.append(placement)
            count += 1
            used += profile.slices
            free += 1
    return free


def _blocked_by(gpu: dict, placement: tuple[int, int], taken: list[tuple[int, int]]) -> int:
    return sum(1 for p in geometry(gpu).profiles for pl in p.placements
               if _overlaps(pl, placement) and not any(_overlaps(pl, t) for t in taken))


def choose_placement(gpu: dict, profile: Profile, start: int | None) -> tuple[int, int]:
    """The placement a GI create uses: the one asked for, or the free one that blocks fewest others."""
    taken = [(gi["start"], gi["size"]) for gi in gpu["gpu_instances"]]
    count = sum(1 for gi in gpu["gpu_instances"] if gi["profile_id"] == profile.id)
    used = _compute_used(gpu)
    if start is not None:
        match = [pl for pl in profile.placements if pl[0] == start]
        if not match:
            raise DriverError(INVALID)
        if not _fits(gpu, profile, match[0], taken, count, used):
            raise DriverError(INSUFFICIENT)
        return match[0]
    candidates = [pl for pl in profile.placements if _fits(gpu, profile, pl, taken, count, used)]
    if not candidates:
        raise DriverError(INSUFFICIENT)
    return min(candidates, key=lambda pl: (_blocked_by(gpu, pl, taken), pl[0]))


def _require_mig(gpu: dict) -> None:
    if not gpu["mig_current"]:
        raise DriverError(NOT_SUPPORTED)


def create_gpu_instance(gpu: dict, profile: Profile, start: int | None) -> dict:
    _require_mig(gpu)
    start_, size = choose_placement(gpu, profile, start)
    gi = {"gi_id": gi_id_for(start_, size, geometry(gpu).memory_slices), "profile_id": profile.id, "start": start_, "size": size,
          "compute_instances": []}
    gpu["gpu_instances"].append(gi)
    gpu["gpu_instances"].sort(key=lambda g: g["gi_id"])
    return gi


def find_gi(gpu: dict, gi_id: int) -> dict:
    for gi in gpu["gpu_instances"]:
        if gi["gi_id"] == gi_id:
            return gi
    raise DriverError(NOT_FOUND)


def ci_profiles(gpu: dict, gi: dict) -> list[models.ComputeProfile]:
    return models.compute_profiles(gpu["model"], gi["profile_id"])


def ci_profile(gpu: dict, gi: dict, ref: str | None) -> models.ComputeProfile:
    try:
        return models.compute_profile(gpu["model"], gi["profile_id"], ref)
    except KeyError:
        raise DriverError(INVALID) from None


def free_compute_instances(gi: dict, profile: models.ComputeProfile) -> int:
    taken = [(ci["start"], ci["size"]) for ci in gi["compute_instances"]]
    free = 0
    for placement in profile.placements:
        if not any(_overlaps(placement, t) for t in taken):
            taken.append(placement)
            free += 1
    same = sum(1 for ci in gi["compute_instances"] if ci["profile_id"] == profile.id)
    return max(0, min(free, profile.instances - same))


def create_compute_instance(gpu: dict, gi: dict, profile: models.ComputeProfile) -> dict:
    taken = [(ci["start"], ci["size"]) for ci in gi["compute_instances"]]
    free = [pl for pl in profile.placements if not any(_overlaps(pl, t) for t in taken)]
    if not free or free_compute_instances(gi, profile) == 0:
        raise DriverError(INSUFFICIENT)
    used_ids = {ci["ci_id"] for ci in gi["compute_instances"]}
    ci_id = next(i for i in range(64) if i not in used_ids)
    gpu["mig_serial"] = gpu.get("mig_serial", 0) + 1
    ci = {"ci_id": ci_id, "profile_id": profile.id, "start": free[0][0], "size": free[0][1],
          "uuid": mig_uuid(gpu["uuid"], gpu["mig_serial"])}
    gi["compute_instances"].append(ci)
    gi["compute_instances"].sort(key=lambda c: c["ci_id"])
    return ci


def _users(state: dict, gpu: dict, gi_id: int | None = None, ci_id: int | None = None) -> list[dict]:
    out = []
    for p in state["processes"]:
        if p["gpu_uuid"] != gpu["uuid"]:
            continue
        if gi_id is not None and p.get("gi_id") != gi_id:
            continue
        if ci_id is not None and p.get("ci_id") != ci_id:
            continue
        out.append(p)
    return out


def destroy_compute_instance(state: dict, gpu: dict, gi: dict, ci: dict) -> None:
    if _users(state, gpu, gi["gi_id"], ci["ci_id"]):
        raise DriverError(IN_USE)
    gi["compute_instances"].remove(ci)


def destroy_gpu_instance(state: dict, gpu: dict, gi: dict) -> None:
    if gi["compute_instances"] or _users(state, gpu, gi["gi_id"]):
        raise DriverError(IN_USE)
    gpu["gpu_instances"].remove(gi)


def gpu_in_use(state: dict, gpu: dict) -> bool:
    return bool(_users(state, gpu))


def holders(state: dict, gpu: dict) -> list[str]:
    """What holds the GPU open so that the driver cannot reset it or switch its MIG mode: processes
    on it, GPU clients started by services (nvidia-persistenced, nv-hostengine, ...), nvidia_drm."""
    out = [f"process {p['pid']} ({p['name']})" for p in _users(state, gpu)]
    out += [f"process {c['pid']} ({c['name']})" for c in state.get("clients", [])]
    if "nvidia_drm" in state.get("modules", []):
        out.append("kernel module nvidia_drm")
    return out


def reset_refusal(state: dict, gpu: dict) -> str | None:
    """Why a reset of this GPU is refused (NVML error string), or None when it may go ahead."""
    if gpu.get("reset_policy") == "unsupported":
        return NOT_SUPPORTED
    if gpu.get("reset_policy") == "refuse" or holders(state, gpu):
        return IN_USE
    return None


def set_mig_mode(state: dict, gpu: dict, enabled: bool) -> str:
    """`nvidia-smi -mig`: 'unchanged' (already current), 'applied' (Hopper and later, idle GPU:
    current at once), or the reason it stays pending: IN_USE, NOT_SUPPORTED, or 'reset' (Ampere:
    applied at the next GPU reset or boot)."""
    gpu["mig_pending"] = enabled
    if gpu["mig_current"] == enabled:
        return "unchanged"
    refusal = reset_refusal(state, gpu)
    if refusal:
        return refusal
    if geometry(gpu).keeps_mig_mode_across_reboot or gpu.get("mig_mode_at_reset"):
        return "reset"      # mig_mode_at_reset: a GPU the driver could not switch at once
    reset(gpu)
    return "applied"


def reset(gpu: dict) -> None:
    gpu["gpu_instances"] = []
    gpu["mig_current"] = gpu["mig_pending"]


def boot(state: dict, boot_modules: list[str] | None = None) -> None:
    """Host boot: instances are gone; Ampere applies the pending mode, Hopper and later come up
    disabled (the mode lives only while the driver is loaded); modules are those loaded at boot."""
    state["processes"] = []
    state["clients"] = []
    if boot_modules is not None:
        state["modules"] = boot_modules
    for gpu in state["gpus"]:
        gpu["gpu_instances"] = []
        if geometry(gpu).keeps_mig_mode_across_reboot:
            gpu["mig_current"] = gpu["mig_pending"]
        else:
            gpu["mig_current"] = gpu["mig_pending"] = False


def mig_devices(gpu: dict) -> list[dict]:
    """MIG devices (one per CI) in enumeration order, with their index, GI/CI and names."""
    if not gpu["mig_current"]:
        return []
    out = []
    for gi in sorted(gpu["gpu_instances"], key=lambda g: g["gi_id"]):
        gprof = gi_profile(gpu, gi)
        for ci in sorted(gi["compute_instances"], key=lambda c: c["ci_id"]):
            cprof = next(p for p in ci_profiles(gpu, gi) if p.id == ci["profile_id"])
            out.append({"index": len(out), "gi_id": gi["gi_id"], "ci_id": ci["ci_id"],
                        "uuid": ci["uuid"], "name": cprof.name, "gi_profile": gprof,
                        "ci_profile": cprof, "memory_mib": gprof.memory_mib})
    return out
