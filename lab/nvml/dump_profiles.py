"""Dump one GPU's MIG GPU-instance profiles through pynvml as JSON (the nvml_profiles.json capture).

Keys: name, driver, mig_mode [current, pending], memory_total, uuid, then per profile index
0..16 the fields of nvmlDeviceGetGpuInstanceProfileInfoV's struct (name included) plus
profile_index and placements [[start, size], ...], or {"profile_index": i, "error": <NVML error>}.
Run it on a real host to capture, or against the lab's libnvidia-ml.so.1 to compare.
"""

from __future__ import annotations

import argparse
import ctypes
import json

import pynvml

PROFILE_INDEXES = range(17)


def placements(handle, profile_id: int) -> list[list[int]]:
    count = ctypes.c_uint(0)
    pynvml.nvmlDeviceGetGpuInstancePossiblePlacements(handle, profile_id, None, ctypes.byref(count))
    array = (pynvml.c_nvmlGpuInstancePlacement_t * count.value)()
    pynvml.nvmlDeviceGetGpuInstancePossiblePlacements(handle, profile_id, array, ctypes.byref(count))
    return [[array[i].start, array[i].size] for i in range(count.value)]


def profile_entry(handle, index: int) -> dict:
    try:
        info = pynvml.nvmlDeviceGetGpuInstanceProfileInfo(handle, index)
    except pynvml.NVMLError as exc:
        return {"profile_index": index, "error": str(exc)}
    entry = {}
    for field, _ in info._fields_:
        value = getattr(info, field)
        entry[field] = value.decode() if isinstance(value, bytes) else value
    entry["profile_index"] = index
    entry["placements"] = placements(handle, info.id)
    return entry


def dump(gpu_index: int = 0) -> dict:
    pynvml.nvmlInit()
    try:
        handle = pynvml.nvmlDeviceGetHandleByIndex(gpu_index)
        return {
            "name": pynvml.nvmlDeviceGetName(handle),
            "driver": pynvml.nvmlSystemGetDriverVersion(),
            "mig_mode": pynvml.nvmlDeviceGetMigMode(handle),
            "memory_total": pynvml.nvmlDeviceGetMemoryInfo(handle).total,
            "uuid": pynvml.nvmlDeviceGetUUID(handle),
            "profiles": [profile_entry(handle, i) for i in PROFILE_INDEXES],
        }
    finally:
        pynvml.nvmlShutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=int, default=0, help="GPU index (default 0)")
    args = parser.parse_args()
    print(json.dumps(dump(args.index), indent=1))


if __name__ == "__main__":
    main()
