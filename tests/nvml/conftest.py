"""Builds the NVML shim once per session and runs pynvml code against it in a subprocess."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / ".." / "shared" / "fixtures"
CAPTURE_FILES = {
    "h100": FIXTURES / "nvidia-h100-80gb-hbm3" / "nvml_profiles.json",
    "h200": FIXTURES / "nvidia-h200" / "nvml_profiles.json",
}
DUMP_PROFILES = REPO / "lab" / "nvml" / "dump_profiles.py"

# What every snippet can use: pynvml, and err(fn, *args) -> the NVMLError class name or None.
PRELUDE = """\
import ctypes, json, os, sys
import pynvml

def err(fn, *args):
    try:
        fn(*args)
    except pynvml.NVMLError as exc:
        return type(exc).__name__
    return None
"""


def load_build_module():
    spec = importlib.util.spec_from_file_location("nvml_build", REPO / "lab" / "nvml" / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def nvml_lib_dir(tmp_path_factory) -> Path:
    return load_build_module().build(tmp_path_factory.mktemp("nvml-lib")).parent


@pytest.fixture(scope="session")
def captures() -> dict[str, dict]:
    return {key: json.loads(path.read_text()) for key, path in CAPTURE_FILES.items()}


def nvml_env(lib_dir: Path, view: Path) -> dict[str, str]:
    return {**os.environ, "LD_LIBRARY_PATH": str(lib_dir), "NVSIM_NVML_VIEW": str(view)}


@pytest.fixture
def run_nvml(nvml_lib_dir):
    """run_nvml(view_path, code, *args) -> (the JSON the snippet printed last, its stderr)."""

    def run(view: Path, code: str, *args: str):
        proc = subprocess.run([sys.executable, "-c", PRELUDE + textwrap.dedent(code), *args],
                              env=nvml_env(nvml_lib_dir, view), capture_output=True, text=True,
                              timeout=60)
        assert proc.returncode == 0, f"snippet failed:\n{proc.stderr}"
        return json.loads(proc.stdout.strip().splitlines()[-1]), proc.stderr

    return run
