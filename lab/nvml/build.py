"""Builds libnvidia-ml.so.1 from nvml_shim.c (gcc); used at lab bring-up and by tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SOURCE = Path(__file__).resolve().parent / "nvml_shim.c"
# nvml_shim.c includes these; a change to any of them rebuilds the library.
SOURCES = (SOURCE, SOURCE.with_name("nvml_compute.c"))
LIBRARY_NAME = "libnvidia-ml.so.1"
GCC_COMMAND = ["gcc", "-shared", "-fPIC", "-O2", "-Wall", "-Wextra", "-fvisibility=hidden",
               f"-Wl,-soname,{LIBRARY_NAME}"]


class BuildError(RuntimeError):
    pass


def build(out_dir: Path) -> Path:
    """Compile into out_dir/libnvidia-ml.so.1 unless it is newer than the source; return its path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    library = out_dir / LIBRARY_NAME
    if library.exists() and library.stat().st_mtime >= max(s.stat().st_mtime for s in SOURCES):
        return library
    partial = out_dir / f".{LIBRARY_NAME}.building"
    command = [*GCC_COMMAND, "-o", str(partial), str(SOURCE), "-lpthread"]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    except FileNotFoundError as exc:
        raise BuildError(f"cannot run gcc: {exc}") from exc
    if result.returncode != 0:
        partial.unlink(missing_ok=True)
        raise BuildError(f"{' '.join(command)} failed (rc={result.returncode}):\n{result.stderr}")
    partial.replace(library)
    return library


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(f"usage: {sys.argv[0]} OUT_DIR")
    print(build(Path(sys.argv[1])))
