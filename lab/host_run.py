"""Running machine commands for the lab: one place that quotes the failing command and its stderr."""
from __future__ import annotations

import subprocess
from collections.abc import Sequence


class LabError(RuntimeError):
    pass


def run(argv: Sequence[str], check: bool = True, input: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    proc = subprocess.run(list(argv), input=input, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise LabError(f"command failed (rc={proc.returncode}): {' '.join(argv)}\n{proc.stderr.strip()}")
    return proc


def quiet(argv: Sequence[str]) -> bool:
    """Run a cleanup command whose failure only means 'already gone'."""
    return run(argv, check=False).returncode == 0
