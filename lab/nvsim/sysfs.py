"""Simulated GPUs as PCI devices in a lab host's sysfs, where NVIDIA's tools look for them.

mig-parted (go-nvlib nvpci) lists /sys/bus/pci/devices and takes every entry whose `vendor` is
0x10de and whose `class` is a VGA or 3D controller as a GPU, then reads `device`, `numa_node`,
`resource` and the subsystem IDs. A lab host's sysfs is the machine's (read-only), so at boot
the lab mounts a tmpfs over /sys/bus/pci/devices, links the machine's devices back in, and adds
one directory per simulated GPU at its bus ID (`0000:18:00.0` for `00000000:18:00.0`).
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

from lab.nvsim import models, state as st

NVIDIA_VENDOR = 0x10DE
CLASS_3D_CONTROLLER = 0x030200      # data-center GPUs: "3D controller", not "VGA compatible"
DEVICES = "sys/bus/pci/devices"


class SysfsError(Exception):
    pass


def sysfs_address(pci_bus_id: str) -> str:
    """nvidia-smi's `00000000:18:00.0` -> sysfs's `0000:18:00.0` (16-bit domain, lower case)."""
    domain, rest = pci_bus_id.split(":", 1)
    return f"{int(domain, 16):04x}:{rest.lower()}"


def _resource(bus: int) -> str:
    # BAR0 16 MiB registers, BAR1 and BAR3 64-bit prefetchable apertures, like an SXM GPU; the
    # remaining lines of the 13-line table (BARs 2/4/5 halves, ROM, bridge windows) are empty.
    zero = "0x0000000000000000 0x0000000000000000 0x0000000000000000\n"
    bar0 = 0xF0000000 - bus * 0x1000000
    bar1 = 0x200000000000 + bus * 0x400000000
    lines = [f"0x{bar0:016x} 0x{bar0 + 0xFFFFFF:016x} 0x0000000000040200\n",
             f"0x{bar1:016x} 0x{bar1 + 0x3FFFFFFFF:016x} 0x000000000014220c\n", zero,
             f"0x{bar1 + 0x400000000 - 0x2000000:016x} 0x{bar1 + 0x3FFFFFFFF:016x} 0x000000000014220c\n"]
    return "".join(lines + [zero] * 9)


def device_files(gpu: dict) -> dict[str, str]:
    bus = int(gpu["pci_bus_id"].split(":")[1], 16)
    return {
        "vendor": f"0x{NVIDIA_VENDOR:04x}\n",
        "device": f"0x{models.pci_device_id(gpu['model']):04x}\n",
        "class": f"0x{CLASS_3D_CONTROLLER:06x}\n",
        # Known from the captures for H100/H200 (0 where unknown); NVIDIA's tools match on device ID.
        "subsystem_vendor": f"0x{NVIDIA_VENDOR:04x}\n",
        "subsystem_device": f"0x{models.pci_sub_system_id(gpu['model']):04x}\n",
        "numa_node": f"{0 if bus < 0x80 else 1}\n",
        "resource": _resource(bus),
        "uevent": f"DRIVER=nvidia\nPCI_ID=10DE:{models.pci_device_id(gpu['model']):04X}\n"
                  f"PCI_SLOT_NAME={sysfs_address(gpu['pci_bus_id'])}\n",
    }


def _is_tmpfs_mount(path: Path) -> bool:
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        sep = fields.index("-")
        if fields[4] == str(path) and fields[sep + 1] == "tmpfs":
            return True
    return False


def _overlay_devices(devices: Path) -> None:
    """Mount a tmpfs over the read-only devices directory, keeping the machine's devices."""
    links = {e.name: os.readlink(e) for e in devices.iterdir() if e.is_symlink()}
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=755,size=1m", "nvsim-pci", str(devices)],
                          capture_output=True, text=True, timeout=30)
    if proc.returncode != 0:
        raise SysfsError(f"mount tmpfs on {devices}: {proc.stderr.strip()}")
    for name, target in links.items():
        os.symlink(target, devices / name)


def populate(state: dict, mount: bool = False) -> list[Path]:
    """Write one device directory per GPU (replacing earlier ones); returns their paths."""
    devices = st.root() / DEVICES
    if mount and not _is_tmpfs_mount(devices):
        _overlay_devices(devices)
    devices.mkdir(parents=True, exist_ok=True)
    wanted = {sysfs_address(g["pci_bus_id"]): g for g in state["gpus"]}
    for entry in devices.iterdir():
        # Only directories are ours; the machine's devices are symlinks into /sys/devices.
        if entry.is_dir() and not entry.is_symlink() and entry.name not in wanted:
            for f in entry.iterdir():
                f.unlink()
            entry.rmdir()
    out = []
    for address, gpu in wanted.items():
        path = devices / address
        path.mkdir(exist_ok=True)
        for name, text in device_files(gpu).items():
            (path / name).write_text(text)
        out.append(path)
    return out
