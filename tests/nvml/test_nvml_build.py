"""lab/nvml/build.py: compiles once, again only when the source is newer, reports gcc errors."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from .conftest import load_build_module


@pytest.fixture
def build_module(tmp_path):
    module = load_build_module()
    copies = []
    for original in module.SOURCES:
        copies.append(tmp_path / original.name)
        shutil.copy(original, copies[-1])
    module.SOURCE, module.SOURCES = copies[0], tuple(copies)
    return module


def test_builds_library_with_soname_and_rebuilds_only_when_source_is_newer(build_module, tmp_path):
    library = build_module.build(tmp_path / "out")
    assert library.name == "libnvidia-ml.so.1"
    dynamic = subprocess.run(["readelf", "-d", str(library)], capture_output=True, text=True).stdout
    assert "Library soname: [libnvidia-ml.so.1]" in dynamic
    exported = subprocess.run(["nm", "-D", "--defined-only", str(library)], capture_output=True,
                              text=True).stdout.split()
    assert "nvmlDeviceGetGpuInstanceProfileInfoV" in exported
    assert "nvmlGpuInstanceGetComputeInstances" in exported     # from the included nvml_compute.c
    assert "view_load" not in exported

    built_at = library.stat().st_mtime_ns
    assert build_module.build(tmp_path / "out").stat().st_mtime_ns == built_at
    later = library.stat().st_mtime + 10
    os.utime(build_module.SOURCE, (later, later))
    assert build_module.build(tmp_path / "out").stat().st_mtime_ns != built_at
    rebuilt_at = library.stat().st_mtime_ns
    later += 10
    os.utime(build_module.SOURCES[1], (later, later))      # the included file counts too
    assert build_module.build(tmp_path / "out").stat().st_mtime_ns != rebuilt_at


def test_compile_error_is_reported(build_module, tmp_path):
    build_module.SOURCE.write_text("int broken(void) { return }\n")
    with pytest.raises(build_module.BuildError, match="expected expression"):
        build_module.build(tmp_path / "out")
    assert not (tmp_path / "out" / "libnvidia-ml.so.1").exists()
