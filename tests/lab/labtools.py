"""Helpers for lab tests: run pyinfra against the lab from the repo root."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LAB_INVENTORY = REPO / "inventories" / "lab.py"


def pyinfra(*args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    """`pyinfra ARGS` from the repo root (no confirmation prompt); the caller checks the result."""
    return subprocess.run([str(Path(sys.executable).parent / "pyinfra"), *args], cwd=REPO,
                          capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def deploy(*extra: str, inventory: Path = LAB_INVENTORY) -> subprocess.CompletedProcess:
    """Converge the lab (`pyinfra -y inventories/lab.py deploy.py`); fails the test on an error."""
    proc = pyinfra("-y", str(inventory), "deploy.py", *extra)
    if proc.returncode != 0:
        raise AssertionError(f"deploy failed (rc={proc.returncode}):\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}")
    return proc
