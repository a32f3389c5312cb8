"""Install the simulated driver into a lab host's root: code, wrappers, state, boot unit."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from lab.nvsim import listings, smi, state as st
from migfleet import bytecode

REPO = Path(__file__).resolve().parents[2]
LIB = "usr/lib/nvsim"
UNIT_NAME = "nvsim-boot.service"
WRAPPER = """#!/usr/bin/python3
import sys
sys.path.insert(0, "/usr/lib/nvsim")
from lab.nvsim.{module} import main
sys.exit(main())
"""
UNIT = """[Unit]
Description=Simulated NVIDIA driver: apply boot-time MIG state
DefaultDependencies=no
After=local-fs.target
Before=docker.service sysinit.target
ConditionPathExists=/var/lib/nvsim/state.json

[Service]
Type=oneshot
ExecStart=/usr/bin/nvsim-ctl boot
ExecStart=/usr/bin/nvsim-ctl pci-sysfs --mount
RemainAfterExit=yes

[Install]
WantedBy=sysinit.target
"""


def _copy_code(lib: Path) -> None:
    if lib.exists():
        shutil.rmtree(lib)
    (lib / "lab").mkdir(parents=True)
    (lib / "lab/__init__.py").write_text("")
    shutil.copy2(REPO / "lab/atomic.py", lib / "lab/atomic.py")
    shutil.copytree(REPO / "lab/nvsim", lib / "lab/nvsim",
                    ignore=bytecode.copy_ignore("README.md"))
    # The simulator serves the same catalog migfleet plans with (migfleet.mig is stdlib-only).
    (lib / "migfleet/mig").mkdir(parents=True)
    (lib / "migfleet/__init__.py").write_text("")
    (lib / "migfleet/mig/__init__.py").write_text("")
    for name in ("geometry.py", "catalog.py", "catalog.json"):
        shutil.copy2(REPO / "migfleet/mig" / name, lib / "migfleet/mig" / name)


LSMOD = """#!/usr/bin/python3
# The lab's kernel has no /proc/modules: list the simulated driver's modules as kmod's lsmod does.
import sys
sys.path.insert(0, "/usr/lib/nvsim")
from lab.nvsim import kmod
try:
    text = open("/var/lib/nvsim/modules").read()
except OSError as err:
    sys.exit(f"lsmod: {err}")
sys.stdout.write(kmod.lsmod(text))
"""
MIG_PARTED = """#!/bin/sh
# NVIDIA's mig-parted, built by lab/migparted.py to read the simulated driver's module list
# where it would read /proc/modules (which this kernel does not have).
export MIG_PARTED_PROC_MODULES="${MIG_PARTED_PROC_MODULES:-/var/lib/nvsim/modules}"
exec /usr/lib/nvsim/nvidia-mig-parted "$@"
"""


def _script(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)


def _install_mig_parted(host_root: Path) -> bool:
    """Put the cached mig-parted build into the host (a hard link where the disk allows)."""
    try:
        from lab import migparted
    except ImportError:
        return False
    binary = migparted.cached_binary()
    if binary is None:
        return False
    target = host_root / LIB / "nvidia-mig-parted"
    target.unlink(missing_ok=True)
    try:
        os.link(binary, target)
    except OSError:
        shutil.copy2(binary, target)
    _script(host_root / "usr/bin/nvidia-mig-parted", MIG_PARTED)
    return True


def install(host_root: Path, hostname: str, models: list[str]) -> None:
    host_root = Path(host_root)
    _copy_code(host_root / LIB)
    bindir = host_root / "usr/bin"
    bindir.mkdir(parents=True, exist_ok=True)
    _script(bindir / "nvidia-smi", listings.wrapper("/" + LIB, "/var/lib/nvsim/listings"))
    _script(bindir / "nvsim-ctl", WRAPPER.format(module="ctl"))
    _script(host_root / "usr/local/sbin/lsmod", LSMOD)
    _install_mig_parted(host_root)
    with smi.locked(base=host_root, create=st.new_state(hostname, models)):
        pass
    units = host_root / "etc/systemd/system"
    wants = units / "sysinit.target.wants"
    wants.mkdir(parents=True, exist_ok=True)
    (units / UNIT_NAME).write_text(UNIT)
    link = wants / UNIT_NAME
    if link.is_symlink() or link.exists():
        link.unlink()
    os.symlink(f"/etc/systemd/system/{UNIT_NAME}", link)
