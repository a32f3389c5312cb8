"""Install the simulated driver into a lab host's root: code, wrappers, state, boot unit."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from lab.nvsim import state as st

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
RemainAfterExit=yes

[Install]
WantedBy=sysinit.target
"""


def _copy_code(lib: Path) -> None:
    if lib.exists():
        shutil.rmtree(lib)
    (lib / "lab").mkdir(parents=True)
    (lib / "lab/__init__.py").write_text("")
    shutil.copytree(REPO / "lab/nvsim", lib / "lab/nvsim",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "README.md"))
    # The simulator serves the same catalog migfleet plans with (migfleet.mig is stdlib-only).
    (lib / "migfleet/mig").mkdir(parents=True)
    (lib / "migfleet/__init__.py").write_text("")
    (lib / "migfleet/mig/__init__.py").write_text("")
    for name in ("geometry.py", "catalog.py", "catalog.json"):
        shutil.copy2(REPO / "migfleet/mig" / name, lib / "migfleet/mig" / name)


def install(host_root: Path, hostname: str, models: list[str]) -> None:
    host_root = Path(host_root)
    _copy_code(host_root / LIB)
    bindir = host_root / "usr/bin"
    bindir.mkdir(parents=True, exist_ok=True)
    for name, module in (("nvidia-smi", "smi"), ("nvsim-ctl", "ctl")):
        path = bindir / name
        path.write_text(WRAPPER.format(module=module))
        path.chmod(0o755)
    with st.locked(base=host_root, create=st.new_state(hostname, models)):
        pass
    units = host_root / "etc/systemd/system"
    wants = units / "sysinit.target.wants"
    wants.mkdir(parents=True, exist_ok=True)
    (units / UNIT_NAME).write_text(UNIT)
    link = wants / UNIT_NAME
    if link.is_symlink() or link.exists():
        link.unlink()
    os.symlink(f"/etc/systemd/system/{UNIT_NAME}", link)
