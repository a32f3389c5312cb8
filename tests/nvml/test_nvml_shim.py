"""libnvidia-ml.so.1 built from lab/nvml, driven through the real pynvml."""

from __future__ import annotations

import subprocess
import sys

import pytest

from .conftest import CAPTURE_FILES, DUMP_PROFILES, nvml_env
from .fixture_view import gpu_records, record, view_text

MIG_1G = "MIG-3f0a5c39-0a3e-5d4b-9a59-1d6b1b4c2e01"
MIG_3G = "MIG-7b2e9d10-55c1-5b7e-8f0e-6a4a0f9c3d02"
# A 1g.10gb GI (profile 19) at slice 6 and a 3g.40gb GI (profile 9) at slices 0-3, one CI each.
MIG_RECORDS = (record("gi", 0, 13, 19, 6, 1) + record("gi", 0, 2, 9, 0, 4)
               + record("migdev", 0, 0, 2, 0, MIG_3G, 40192, "MIG 3g.40gb")
               + record("migdev", 0, 1, 13, 0, MIG_1G, 9728, "MIG 1g.10gb"))


def write_view(tmp_path, text, name="nvml.view"):
    path = tmp_path / name
    path.write_text(text)
    return path


def h100_mig_view(captures, current=1, pending=1, extra=""):
    h100 = captures["h100"]
    return (record("driver", h100["driver"]) + gpu_records(h100, 0, "00000000:00:06.0", (current, pending))
            + extra)


@pytest.mark.parametrize("model", sorted(CAPTURE_FILES))
def test_dump_profiles_reproduces_capture(model, captures, nvml_lib_dir, tmp_path):
    view = write_view(tmp_path, view_text([captures[model]]))
    proc = subprocess.run([sys.executable, str(DUMP_PROFILES)], env=nvml_env(nvml_lib_dir, view),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == CAPTURE_FILES[model].read_text()


def test_two_gpus_system_and_pci(captures, run_nvml, tmp_path):
    view = write_view(tmp_path, view_text([captures["h100"], captures["h200"]]))
    out, _ = run_nvml(view, """
        pynvml.nvmlInit()
        h = pynvml.nvmlDeviceGetHandleByIndex(1)
        pci = pynvml.nvmlDeviceGetPciInfo(h)
        by_bus = pynvml.nvmlDeviceGetHandleByPciBusId("00000000:01:06.0")
        print(json.dumps({
            "count": pynvml.nvmlDeviceGetCount(),
            "driver": pynvml.nvmlSystemGetDriverVersion(),
            "nvml": pynvml.nvmlSystemGetNVMLVersion(),
            "names": [pynvml.nvmlDeviceGetName(pynvml.nvmlDeviceGetHandleByIndex(i)) for i in range(2)],
            "index_by_uuid": pynvml.nvmlDeviceGetIndex(pynvml.nvmlDeviceGetHandleByUUID(sys.argv[1])),
            "pci": [pci.busId, pci.busIdLegacy, pci.domain, pci.bus, pci.device],
            "index_by_bus": pynvml.nvmlDeviceGetIndex(by_bus),
            "memory": pynvml.nvmlDeviceGetMemoryInfo(h).total,
            "memory_v2": pynvml.nvmlDeviceGetMemoryInfo(h, pynvml.nvmlMemory_v2).total,
            "bad_index": err(pynvml.nvmlDeviceGetHandleByIndex, 2),
            "bad_uuid": err(pynvml.nvmlDeviceGetHandleByUUID, "GPU-00000000-0000-0000-0000-000000000000"),
            "bad_bus": err(pynvml.nvmlDeviceGetHandleByPciBusId, "00000000:07:00.0"),
        }))
    """, captures["h200"]["uuid"])
    assert out == {
        "count": 2,
        "driver": "580.159.04",
        "nvml": "13.580.159.04",
        "names": ["NVIDIA H100 80GB HBM3", "NVIDIA H200"],
        "index_by_uuid": 1,
        "pci": ["00000000:01:06.0", "0000:01:06.0", 0, 1, 6],
        "index_by_bus": 1,
        "memory": captures["h200"]["memory_total"],
        "memory_v2": captures["h200"]["memory_total"],
        "bad_index": "NVMLError_InvalidArgument",
        "bad_uuid": "NVMLError_NotFound",
        "bad_bus": "NVMLError_NotFound",
    }


def test_mig_device_enumeration(captures, run_nvml, tmp_path):
    view = write_view(tmp_path, h100_mig_view(captures, extra=MIG_RECORDS))
    out, _ = run_nvml(view, """
        pynvml.nvmlInit()
        gpu = pynvml.nvmlDeviceGetHandleByIndex(0)
        devices = []
        for i in range(pynvml.nvmlDeviceGetMaxMigDeviceCount(gpu)):
            try:
                mig = pynvml.nvmlDeviceGetMigDeviceHandleByIndex(gpu, i)
            except pynvml.NVMLError_NotFound:
                continue
            parent = pynvml.nvmlDeviceGetDeviceHandleFromMigDeviceHandle(mig)
            devices.append({
                "index": i,
                "uuid": pynvml.nvmlDeviceGetUUID(mig),
                "name": pynvml.nvmlDeviceGetName(mig),
                "memory": pynvml.nvmlDeviceGetMemoryInfo(mig).total,
                "gi": pynvml.nvmlDeviceGetGpuInstanceId(mig),
                "ci": pynvml.nvmlDeviceGetComputeInstanceId(mig),
                "is_mig": pynvml.nvmlDeviceIsMigDeviceHandle(mig).value,
                "parent": pynvml.nvmlDeviceGetUUID(parent),
            })
        by_uuid = pynvml.nvmlDeviceGetHandleByUUID(sys.argv[1])
        print(json.dumps({
            "max": pynvml.nvmlDeviceGetMaxMigDeviceCount(gpu),
            "devices": devices,
            "by_uuid_gi": pynvml.nvmlDeviceGetGpuInstanceId(by_uuid),
            "gpu_is_mig": pynvml.nvmlDeviceIsMigDeviceHandle(gpu).value,
            "gpu_gi_id": err(pynvml.nvmlDeviceGetGpuInstanceId, gpu),
            "gpu_parent": err(pynvml.nvmlDeviceGetDeviceHandleFromMigDeviceHandle, gpu),
            "index_past_max": err(pynvml.nvmlDeviceGetMigDeviceHandleByIndex, gpu, 7),
            "mig_of_mig": err(pynvml.nvmlDeviceGetMigDeviceHandleByIndex, by_uuid, 0),
        }))
    """, MIG_1G)
    h100 = captures["h100"]
    assert out == {
        "max": 7,
        "devices": [
            {"index": 0, "uuid": MIG_3G, "name": f"{h100['name']} MIG 3g.40gb", "memory": 40192 << 20,
             "gi": 2, "ci": 0, "is_mig": 1, "parent": h100["uuid"]},
            {"index": 1, "uuid": MIG_1G, "name": f"{h100['name']} MIG 1g.10gb", "memory": 9728 << 20,
             "gi": 13, "ci": 0, "is_mig": 1, "parent": h100["uuid"]},
        ],
        "by_uuid_gi": 13,
        "gpu_is_mig": 0,
        "gpu_gi_id": "NVMLError_NotSupported",
        "gpu_parent": "NVMLError_InvalidArgument",
        "index_past_max": "NVMLError_InvalidArgument",
        "mig_of_mig": "NVMLError_InvalidArgument",
    }


def test_gpu_instances_and_remaining_capacity(captures, run_nvml, tmp_path):
    view = write_view(tmp_path, h100_mig_view(captures, extra=MIG_RECORDS))
    out, _ = run_nvml(view, """
        pynvml.nvmlInit()
        gpu = pynvml.nvmlDeviceGetHandleByIndex(0)
        ids = [19, 20, 15, 14, 9, 5, 0]
        gis = (pynvml.c_nvmlGpuInstance_t * 8)()
        count = ctypes.c_uint(0)
        fn = pynvml._nvmlGetFunctionPointer("nvmlDeviceGetGpuInstances")
        assert fn(gpu, 9, gis, ctypes.byref(count)) == 0
        info = pynvml.nvmlGpuInstanceGetInfo(gis[0])
        print(json.dumps({
            "remaining": {i: pynvml.nvmlDeviceGetGpuInstanceRemainingCapacity(gpu, i) for i in ids},
            "gi_count": count.value,
            "gi_info": [info.id, info.profileId, info.placement.start, info.placement.size],
            "gi_by_id": pynvml.nvmlGpuInstanceGetInfo(pynvml.nvmlDeviceGetGpuInstanceById(gpu, 13)).profileId,
            "gi_missing": err(pynvml.nvmlDeviceGetGpuInstanceById, gpu, 5),
            "unknown_profile_id": err(pynvml.nvmlDeviceGetGpuInstanceRemainingCapacity, gpu, 99),
            "create": err(pynvml.nvmlDeviceCreateGpuInstance, gpu, 19),
        }))
    """)
    # Slices 0-3 hold the 3g GI, slice 6 the 1g GI: only slices 4 and 5 are left.
    assert out["remaining"] == {"19": 2, "20": 1, "15": 1, "14": 1, "9": 0, "5": 0, "0": 0}
    assert out["gi_count"] == 1
    assert out["gi_info"] == [2, 9, 0, 4]
    assert out["gi_by_id"] == 19
    assert out["gi_missing"] == "NVMLError_NotFound"
    assert out["unknown_profile_id"] == "NVMLError_InvalidArgument"
    assert out["create"] == "NVMLError_NotSupported"


def test_empty_gpu_capacity_is_instance_count(captures, run_nvml, tmp_path):
    view = write_view(tmp_path, view_text([captures["h100"]]))
    out, _ = run_nvml(view, """
        pynvml.nvmlInit()
        gpu = pynvml.nvmlDeviceGetHandleByIndex(0)
        ids = [int(a) for a in sys.argv[1:]]
        print(json.dumps([pynvml.nvmlDeviceGetGpuInstanceRemainingCapacity(gpu, i) for i in ids]))
    """, *(str(p["id"]) for p in captures["h100"]["profiles"] if "id" in p))
    assert out == [p["instanceCount"] for p in captures["h100"]["profiles"] if "id" in p]


def test_mig_mode_current_and_pending(captures, run_nvml, tmp_path):
    view = write_view(tmp_path, h100_mig_view(captures, current=0, pending=1))
    out, _ = run_nvml(view, """
        pynvml.nvmlInit()
        gpu = pynvml.nvmlDeviceGetHandleByIndex(0)
        print(json.dumps({
            "mode": pynvml.nvmlDeviceGetMigMode(gpu),
            "max": pynvml.nvmlDeviceGetMaxMigDeviceCount(gpu),
            "mig_handle": err(pynvml.nvmlDeviceGetMigDeviceHandleByIndex, gpu, 0),
        }))
    """)
    assert out == {"mode": [0, 1], "max": 0, "mig_handle": "NVMLError_NotSupported"}


def test_errors(captures, run_nvml, tmp_path):
    no_mig_gpu = record("gpu", 1, "GPU-11111111-2222-3333-4444-555555555555", "NVIDIA L4",
                        "00000000:00:07.0", 0, 0, 24152899584)
    view = write_view(tmp_path, view_text([captures["h100"]]) + no_mig_gpu)
    out, _ = run_nvml(view, """
        pynvml.nvmlInit()
        gpu = pynvml.nvmlDeviceGetHandleByIndex(0)
        l4 = pynvml.nvmlDeviceGetHandleByIndex(1)
        small = (pynvml.c_nvmlGpuInstancePlacement_t * 1)()
        count = ctypes.c_uint(1)
        fn = pynvml._nvmlGetFunctionPointer("nvmlDeviceGetGpuInstancePossiblePlacements_v2")
        insufficient = fn(gpu, 19, small, ctypes.byref(count))
        result = {
            "no_profile_line": err(pynvml.nvmlDeviceGetGpuInstanceProfileInfo, gpu, 5),
            "no_profile_line_v1": err(pynvml.nvmlDeviceGetGpuInstanceProfileInfo, gpu, 5, 1),
            "past_profile_count": err(pynvml.nvmlDeviceGetGpuInstanceProfileInfo, gpu, 18),
            "v1_memory": pynvml.nvmlDeviceGetGpuInstanceProfileInfo(gpu, 0, 1).memorySizeMB,
            "insufficient": [insufficient, count.value],
            "not_mig_capable": err(pynvml.nvmlDeviceGetMigMode, l4),
            "not_mig_capable_profile": err(pynvml.nvmlDeviceGetGpuInstanceProfileInfo, l4, 0),
            "null_handle": err(pynvml.nvmlDeviceGetName, pynvml.c_nvmlDevice_t()),
            "set_mig_mode": err(pynvml.nvmlDeviceSetMigMode, gpu, 1),
            "error_string": pynvml.nvmlErrorString(pynvml.NVML_ERROR_NOT_SUPPORTED),
        }
        pynvml.nvmlShutdown()
        result["after_shutdown"] = err(pynvml.nvmlDeviceGetCount)
        result["shutdown_twice"] = err(pynvml.nvmlShutdown)
        print(json.dumps(result))
    """)
    assert out == {
        "no_profile_line": "NVMLError_NotSupported",
        "no_profile_line_v1": "NVMLError_NotSupported",
        "past_profile_count": "NVMLError_InvalidArgument",
        "v1_memory": 9984,
        "insufficient": [7, 7],
        "not_mig_capable": "NVMLError_NotSupported",
        "not_mig_capable_profile": "NVMLError_NotSupported",
        "null_handle": "NVMLError_InvalidArgument",
        "set_mig_mode": "NVMLError_NotSupported",
        "error_string": "Not Supported",
        "after_shutdown": "NVMLError_Uninitialized",
        "shutdown_twice": "NVMLError_Uninitialized",
    }


def test_missing_or_malformed_view(captures, run_nvml, tmp_path):
    out, stderr = run_nvml(tmp_path / "absent.view", """
        print(json.dumps(err(pynvml.nvmlInit)))
    """)
    assert out == "NVMLError_DriverNotLoaded"
    assert "absent.view" in stderr

    view = write_view(tmp_path, view_text([captures["h100"]]))
    out, stderr = run_nvml(view, """
        pynvml.nvmlInit()
        with open(os.environ["NVSIM_NVML_VIEW"], "a") as f:
            f.write("gpu\\t1\\tGPU-x\\tbroken\\n")
        print(json.dumps(err(pynvml.nvmlDeviceGetCount)))
    """)
    assert out == "NVMLError_Unknown"
    assert "gpu record needs 7 fields, or 9 with the PCI IDs: 'gpu\t1\tGPU-x\tbroken'" in stderr


def test_view_change_seen_without_reinit(captures, run_nvml, tmp_path):
    view = write_view(tmp_path, h100_mig_view(captures, current=0, pending=1))
    changed = write_view(tmp_path, h100_mig_view(captures, extra=MIG_RECORDS), "next.view")
    emptied = write_view(tmp_path, h100_mig_view(captures), "emptied.view")
    out, _ = run_nvml(view, """
        pynvml.nvmlInit()
        gpu = pynvml.nvmlDeviceGetHandleByIndex(0)
        before = pynvml.nvmlDeviceGetMigMode(gpu)
        os.replace(sys.argv[1], os.environ["NVSIM_NVML_VIEW"])
        mig = pynvml.nvmlDeviceGetMigDeviceHandleByIndex(gpu, 1)
        after = [pynvml.nvmlDeviceGetMigMode(gpu), pynvml.nvmlDeviceGetUUID(mig)]
        os.replace(sys.argv[2], os.environ["NVSIM_NVML_VIEW"])
        print(json.dumps({
            "before": before,
            "after": after,
            "destroyed": err(pynvml.nvmlDeviceGetUUID, mig),
            "gone": err(pynvml.nvmlDeviceGetMigDeviceHandleByIndex, gpu, 1),
        }))
    """, str(changed), str(emptied))
    assert out == {"before": [0, 1], "after": [[1, 1], MIG_1G], "destroyed": "NVMLError_InvalidArgument",
                   "gone": "NVMLError_NotFound"}
