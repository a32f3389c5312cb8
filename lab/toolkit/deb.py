"""Build the lab's `nvidia-container-toolkit-base` and `nvidia-container-toolkit` packages (.deb).

The split follows NVIDIA's: -base has nvidia-ctk and nvidia-container-runtime, the toolkit package adds
nvidia-container-runtime-hook and depends on the exact -base version.
"""
from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from pathlib import Path

from .ctk import VERSION

DEB_VERSION = f"{VERSION}-1"
SOURCE_DIR = Path(__file__).resolve().parent
LIB_DIR = "usr/lib/nvidia-container-toolkit/nvctk"
LAUNCHER = """#!/usr/bin/python3 -IB
import sys
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib" / "nvidia-container-toolkit"))
from nvctk.{module} import main
sys.exit(main())
"""
PACKAGES = {
    "nvidia-container-toolkit-base": {
        "modules": ["spec.py", "devices.py", "runtime.py", "ctk.py"],
        "commands": {"nvidia-ctk": "ctk", "nvidia-container-runtime": "runtime"},
        "depends": "python3 (>= 3.9)",
        "summary": "NVIDIA Container Toolkit Base (migfleet lab simulation)",
    },
    "nvidia-container-toolkit": {
        "modules": ["hook.py"],
        "commands": {"nvidia-container-runtime-hook": "hook"},
        "depends": f"nvidia-container-toolkit-base (= {DEB_VERSION}), python3 (>= 3.9)",
        "summary": "NVIDIA Container toolkit (migfleet lab simulation)",
    },
}


def sources_digest() -> str:
    """Changes whenever a file that goes into the packages changes."""
    h = hashlib.sha256(DEB_VERSION.encode() + LAUNCHER.encode())
    for name in sorted({m for p in PACKAGES.values() for m in p["modules"]} | {"deb.py"}):
        h.update(name.encode() + (SOURCE_DIR / name).read_bytes())
    return h.hexdigest()


def _control(package: str, info: dict, installed_kb: int) -> str:
    return (
        f"Package: {package}\nVersion: {DEB_VERSION}\nArchitecture: all\n"
        "Maintainer: migfleet lab <lab@migfleet.invalid>\n"
        f"Depends: {info['depends']}\nSection: utils\nPriority: optional\n"
        f"Installed-Size: {installed_kb}\n"
        f"Description: {info['summary']}\n"
        " Checks NVIDIA_VISIBLE_DEVICES against the lab's simulated driver (nvsim-ctl) and registers\n"
        " containers as processes on their MIG devices; no real GPU is touched.\n"
    )


def build_debs(out_dir: Path) -> list[Path]:
    """Build both packages into out_dir; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    built = []
    for package, info in PACKAGES.items():
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp) / "root"
            lib = root / LIB_DIR
            lib.mkdir(parents=True)
            if package == "nvidia-container-toolkit-base":   # the package both import from owns it
                (lib / "__init__.py").write_text('"""Simulated NVIDIA container toolkit (migfleet lab)."""\n')
            for module in info["modules"]:
                shutil.copyfile(SOURCE_DIR / module, lib / module)
            bindir = root / "usr/bin"
            bindir.mkdir(parents=True)
            for command, module in info["commands"].items():
                (bindir / command).write_text(LAUNCHER.format(module=module))
                (bindir / command).chmod(0o755)
            size = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
            (root / "DEBIAN").mkdir()
            (root / "DEBIAN/control").write_text(_control(package, info, (size + 1023) // 1024))
            target = out_dir / f"{package}_{DEB_VERSION}_all.deb"
            subprocess.run(["dpkg-deb", "--root-owner-group", "-Zxz", "--build", str(root), str(target)],
                           check=True, capture_output=True)
            built.append(target)
    return built
