"""Build migfleet's wheel from the working tree and install it into a virtualenv outside the checkout.

Shared by the packaging test and the lab acceptance test. The wheel is built from a copy of the
package sources (so the checkout gets no build/ or egg-info), with pip's build isolation: setuptools
comes from the configured package index, as for any user. Dependencies are installed from that
index too, held to the versions of requirements.txt (the lock bin/setup installs).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SOURCES = ("pyproject.toml", "migfleet", "docs/PACKAGE.md")


@dataclass(frozen=True)
class Installed:
    venv: Path
    seconds: float          # pip install of the wheel and its dependencies

    def bin(self, name: str) -> str:
        return str(self.venv / "bin" / name)


def run(argv: list[str], cwd: Path, timeout: float = 600, env: dict | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, env=env)
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} failed (rc={proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return proc


def build_wheel(workdir: Path) -> Path:
    src = workdir / "src"
    for rel in SOURCES:
        target = src / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if (REPO / rel).is_dir():
            shutil.copytree(REPO / rel, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(REPO / rel, target)
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(workdir / "dist"), str(src)], cwd=workdir)
    (wheel,) = (workdir / "dist").glob("migfleet-*.whl")
    return wheel


def install(wheel: Path, workdir: Path) -> Installed:
    """A fresh virtualenv (no system site-packages, no path to the checkout) holding the wheel."""
    venv = workdir / "venv"
    run([sys.executable, "-m", "venv", str(venv)], cwd=workdir)
    started = time.monotonic()
    run([str(venv / "bin" / "pip"), "install", "-q", "-c", str(REPO / "requirements.txt"), str(wheel)], cwd=workdir)
    return Installed(venv, time.monotonic() - started)


def clean_env(installed: Installed) -> dict[str, str]:
    """An environment in which only the virtualenv's Python and scripts are found."""
    keep = {k: v for k, v in os.environ.items() if k in ("HOME", "LANG", "LC_ALL", "MIGFLEET_LAB_DIR", "TMPDIR")
            or k.startswith("PIP_")}
    return {**keep, "PATH": f"{installed.venv / 'bin'}:/usr/bin:/bin"}
