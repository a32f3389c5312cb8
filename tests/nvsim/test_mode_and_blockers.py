"""Driver behaviour the lab follows from NVIDIA's docs: MIG mode by architecture, what blocks a
reset (processes, GPU services, nvidia_drm), kernel module listings, PCI sysfs devices."""
import json
import math
import os
import subprocess
import sys
import time

import pytest

from conftest import A100, H100, REPO
from lab.nvsim import kmod, models, services, state as st, sysfs

B200 = "NVIDIA B200"
A30 = "NVIDIA A30"


def modes(sim) -> str:
    return sim.smi("--query-gpu=mig.mode.current,mig.mode.pending", "--format=csv,noheader")[0]


def test_hopper_and_later_enable_at_once_on_an_idle_gpu(sim):
    sim.init(H100, B200)
    out, rc = sim.smi("-mig", "1")
    assert rc == 0 and out == ("Enabled MIG Mode for GPU 00000000:18:00.0\n"
                               "Enabled MIG Mode for GPU 00000000:2A:00.0\nAll done.\n")
    assert modes(sim) == "Enabled, Enabled\nEnabled, Enabled\n"
    assert sim.smi("mig", "-cgi", "9,9", "-C")[1] == 0


def test_hopper_stays_pending_while_busy_and_loses_the_mode_at_boot(sim, sleeper):
    sim.init(H100)
    proc = sleeper()
    assert sim.ctl("attach", "--pid", str(proc.pid), "--gpu", "0") == 0
    out, _ = sim.smi("-i", "0", "-mig", "1")
    assert "pending enable state for GPU 00000000:18:00.0:In use by another client" in out
    assert modes(sim) == "Disabled, Enabled\n"
    proc.kill()
    proc.wait()
    assert sim.smi("-i", "0", "-mig", "1")[0].startswith("Enabled MIG Mode for GPU")
    assert sim.ctl("boot") == 0
    assert modes(sim) == "Disabled, Disabled\n"


def test_ampere_waits_for_a_reset_and_keeps_the_mode_at_boot(sim):
    sim.init(A100, A30)
    out, _ = sim.smi("-mig", "1")
    assert out.count(":Not Supported\nReboot the system or try nvidia-smi --gpu-reset") == 2
    assert modes(sim) == "Disabled, Enabled\nDisabled, Enabled\n"
    assert sim.ctl("boot") == 0
    assert modes(sim) == "Enabled, Enabled\nEnabled, Enabled\n"
    # A30: 4 memory slices, so its GI IDs and placements differ from an A100's.
    out, rc = sim.smi("mig", "-i", "1", "-cgi", "5,14,14", "-C")
    assert rc == 0, out
    # 2 slices at 0:2 -> GI 2 (2:2 would be 1); 1 slice at start s -> GI 3 + s, last slot first.
    assert "GPU instance ID  2 on GPU  1 using profile MIG 2g.12gb (ID  5)" in out
    assert "GPU instance ID  6 on GPU  1 using profile MIG 1g.6gb (ID 14)" in out
    assert "GPU instance ID  5 on GPU  1 using profile MIG 1g.6gb (ID 14)" in out
    assert sim.smi("mig", "-i", "1", "-cgi", "14")[1] == 255         # 4 of 4 slices used


def _wait_for(predicate, what, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_service_holding_the_gpus_blocks_reset_and_mode_change(sim):
    sim.init(A100, H100)
    env = dict(os.environ, NVSIM_ROOT=str(sim.root))
    daemon = subprocess.Popen([sys.executable, "-m", "lab.nvsim.ctl", "hold", "--name", "nv-hostengine"],
                              cwd=REPO, env=env)
    try:
        _wait_for(lambda: json.loads(st.state_path(sim.root).read_text()).get("clients"), "the client")
        out, rc = sim.smi("-r")
        assert rc == 255 and out.startswith("The following GPUs could not be reset:\n"
                                            "  GPU 00000000:18:00.0: In use by another client\n"
                                            "  GPU 00000000:2A:00.0: In use by another client\n\n2 devices are")
        out, _ = sim.smi("-i", "1", "-mig", "1")
        assert "In use by another client" in out and modes(sim).endswith("Disabled, Enabled\n")
        # Not a compute process: nvidia-smi does not list it.
        assert sim.smi("--query-compute-apps=pid", "--format=csv,noheader") == ("", 0)
    finally:
        daemon.terminate()
        daemon.wait(timeout=10)
    out, rc = sim.smi("-r")
    assert rc == 0, out
    assert modes(sim) == "Disabled, Disabled\nEnabled, Enabled\n"


def test_nvidia_drm_blocks_reset_until_unloaded(sim, capsys):
    sim.init(H100)
    assert sim.ctl("module", "load", "nvidia-drm") == 0
    assert "nvidia_drm " in st.modules_path(sim.root).read_text()
    out, rc = sim.smi("-r")
    assert rc == 255 and "GPU 00000000:18:00.0: In use by another client" in out
    assert sim.ctl("module", "unload", "nvidia_modeset") == 1         # nvidia_drm still uses it
    assert "in use by: nvidia_drm" in capsys.readouterr().err
    assert sim.ctl("module", "unload", "nvidia_drm") == 0
    assert sim.smi("-r")[1] == 0


def test_boot_loads_the_modules_named_in_modules_load_d(sim):
    sim.init(H100)
    assert sim.ctl("module", "load", "nvidia_drm") == 0
    assert sim.ctl("boot") == 0
    assert "nvidia_drm" not in st.modules_path(sim.root).read_text()
    conf = sim.root / "etc/modules-load.d/nvidia-drm.conf"
    conf.parent.mkdir(parents=True)
    conf.write_text("# display\nnvidia-drm\n")
    assert sim.ctl("boot") == 0
    assert st.modules_path(sim.root).read_text().startswith("nvidia_drm 126976 0 - Live")


def test_proc_modules_and_lsmod_formats():
    text = kmod.proc_modules(["nvidia", "nvidia_modeset", "nvidia_uvm", "nvidia_drm"])
    assert text.splitlines()[-1] == ("nvidia 62017536 2 nvidia_modeset,nvidia_uvm, Live "
                                     "0x0000000000000000 (POE)")
    assert kmod.lsmod(text).splitlines()[:2] == ["Module                  Size  Used by",
                                                 "nvidia_drm            126976  0"]
    assert kmod.lsmod(text).splitlines()[-1] == "nvidia              62017536  2 nvidia_modeset,nvidia_uvm"
    with pytest.raises(kmod.ModuleError, match="not found"):
        kmod.load([], "nouveau")


def test_pci_sysfs_devices(sim):
    sim.init(H100, A30, bus_id="00000000:18:00.0,00000000:9A:00.0")
    assert sim.ctl("pci-sysfs") == 0
    devices = sim.root / "sys/bus/pci/devices"
    assert sorted(p.name for p in devices.iterdir()) == ["0000:18:00.0", "0000:9a:00.0"]
    a30 = devices / "0000:9a:00.0"
    assert [(a30 / f).read_text() for f in ("vendor", "device", "class", "numa_node")] == \
        ["0x10de\n", "0x20b7\n", "0x030200\n", "1\n"]
    assert len((a30 / "resource").read_text().splitlines()) == 13
    assert sim.ctl("init", "--model", H100, "--hostname", "lab-h1") == 0
    assert sim.ctl("pci-sysfs") == 0                       # a GPU that went away is removed
    assert [p.name for p in devices.iterdir()] == ["0000:18:00.0"]


def test_service_install_writes_unit_and_daemon(sim):
    units = services.install(["nv-hostengine", "nvidia-persistenced"], enable=True, start=True)
    assert units == ["nvidia-dcgm.service", "nvidia-persistenced.service"]
    unit = (sim.root / "etc/systemd/system/nvidia-dcgm.service").read_text()
    assert "Type=notify" in unit and "ExecStart=/usr/bin/nv-hostengine" in unit
    assert os.access(sim.root / "usr/bin/nv-hostengine", os.X_OK)


def _mig_parted_name_gb(memory_mib: int, total_mib: int) -> int:
    # go-nvlib getMigMemorySizeGB: eighths of the GPU, rounded up, times the GPU's GB.
    frac = math.ceil(memory_mib / total_mib * 8) / 8
    return math.floor(frac * math.ceil(total_mib / 1024) + 0.5)


@pytest.mark.parametrize("model", models.all_models())
def test_every_model_is_consistent(model):
    geo = models.lookup(model)
    assert models.pci_device_id(model) >> 8 in (0x20, 0x23, 0x29)
    assert geo.architecture in ("Ampere", "Hopper", "Blackwell")
    for p in geo.profiles:
        # The profile name is what mig-parted derives from its memory (export relies on it).
        assert _mig_parted_name_gb(p.memory_mib, geo.memory_mib) == int(p.name.split(".")[1].split("gb")[0])
        assert p.name.startswith(f"{p.slices}g.") and len(p.placements) >= p.instances
        assert all(s + n <= geo.memory_slices for s, n in p.placements)
        assert models.compute_profile(model, p.id, None).slices == p.slices
