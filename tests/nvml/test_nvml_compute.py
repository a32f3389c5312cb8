"""Compute-instance calls of the NVML shim (what mig-parted walks), on views the simulator wrote."""

from __future__ import annotations

from lab.nvsim import ctl, smi, state as st

A100 = "NVIDIA A100-SXM4-40GB"
WALK = """
    pynvml.nvmlInit()
    h = pynvml.nvmlDeviceGetHandleByIndex(0)
    gi = pynvml.nvmlDeviceGetGpuInstanceById(h, int(sys.argv[1]))
    profiles = {}
    for j in range(10):
        try:
            info = pynvml.nvmlGpuInstanceGetComputeInstanceProfileInfo(gi, j, 0, version=1)
        except pynvml.NVMLError_NotSupported:
            continue
        profiles[j] = [info.id, info.sliceCount, info.instanceCount, info.multiprocessorCount,
                       info.sharedCopyEngineCount, info.sharedDecoderCount]
    cis = (pynvml.c_nvmlComputeInstance_t * 8)()
    count = ctypes.c_uint(0)
    pynvml.nvmlGpuInstanceGetComputeInstances(gi, 0, cis, ctypes.byref(count))
    infos = []
    for k in range(count.value):
        i = pynvml.nvmlComputeInstanceGetInfo(cis[k])
        infos.append([i.id, i.profileId, i.placement.start, i.placement.size])
    print(json.dumps({"profiles": profiles, "cis": infos,
                      "bad_engine": err(pynvml.nvmlGpuInstanceGetComputeInstanceProfileInfo, gi, 0, 1, 1),
                      "bad_profile": err(pynvml.nvmlGpuInstanceGetComputeInstanceProfileInfo, gi, 10, 0, 1)}))
"""


def _sim(tmp_path, monkeypatch, *commands):
    monkeypatch.setenv("NVSIM_ROOT", str(tmp_path))
    assert ctl.main(["init", "--model", A100, "--hostname", "lab-h1"]) == 0
    for args in commands:
        out, rc = smi.run(list(args))
        assert rc == 0, out
    return st.view_path(tmp_path)


def test_compute_profiles_and_instances_of_a_3g_gi(run_nvml, tmp_path, monkeypatch):
    view = _sim(tmp_path, monkeypatch, ("-mig", "1"), ("-r",), ("mig", "-cgi", "9"),
                ("mig", "-gi", "1", "-cci", "0,0"))
    out, _ = run_nvml(view, WALK, "1")
    # A 3g.20gb GI on an A100 offers 1c, 2c and 3c (IDs 0, 1, 2); engines are the GI's, shared.
    assert out["profiles"] == {"0": [0, 1, 3, 14, 3, 2], "1": [1, 2, 1, 28, 3, 2], "2": [2, 3, 1, 42, 3, 2]}
    assert out["cis"] == [[0, 0, 0, 1], [1, 0, 1, 1]]
    assert out["bad_engine"] == "NVMLError_InvalidArgument"
    assert out["bad_profile"] == "NVMLError_InvalidArgument"


def test_destroyed_ci_disappears(run_nvml, tmp_path, monkeypatch):
    view = _sim(tmp_path, monkeypatch, ("-mig", "1"), ("-r",), ("mig", "-cgi", "19"),
                ("mig", "-gi", "13", "-cci", "0"))
    out, _ = run_nvml(view, WALK, "13")
    assert out["cis"] == [[0, 0, 0, 1]]
    assert smi.run(["mig", "-dci", "-gi", "13"])[1] == 0
    out, _ = run_nvml(view, WALK, "13")
    assert out["cis"] == []


def test_pci_ids_come_from_the_model(run_nvml, tmp_path, monkeypatch):
    view = _sim(tmp_path, monkeypatch)
    out, _ = run_nvml(view, """
        pynvml.nvmlInit()
        pci = pynvml.nvmlDeviceGetPciInfo(pynvml.nvmlDeviceGetHandleByIndex(0))
        print(json.dumps([hex(pci.pciDeviceId), hex(pci.pciSubSystemId)]))
    """)
    # The A100-SXM4-40GB's device ID, as mig-parted's device-filter and nvidia-smi name it.
    assert out == ["0x20b010de", "0x134f10de"]
    q, rc = smi.run(["--query-gpu=pci.device_id,pci.sub_device_id", "--format=csv,noheader"])
    assert (q, rc) == ("0x20B010DE, 0x134F10DE\n", 0)
