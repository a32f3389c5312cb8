"""Shared helpers of the lab benchmarks: the lab lock, `python -m lab`, ssh into a host, pyinfra."""
from __future__ import annotations

import contextlib
import fcntl
import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LAB_DIR = Path("/var/lib/migfleet-lab")
LAB_INVENTORY = "inventories/lab.py"
LOCK_PATH = Path("/tmp/migfleet-lab-dev.lock")
VENV_BIN = Path(sys.executable).parent
RESULTS = REPO / "bench" / "results" / "lab"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


@contextlib.contextmanager
def lab_lock():
    """The lock the lab's users share (same flock(2) lock as `flock /tmp/migfleet-lab-dev.lock`)."""
    with open(LOCK_PATH, "a") as handle:
        started = time.monotonic()
        fcntl.flock(handle, fcntl.LOCK_EX)
        log(f"lab lock taken (waited {time.monotonic() - started:.1f} s)")
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
            log("lab lock released")


def run(argv: list[str], timeout: float, check: bool = True, cwd: Path = REPO,
        **kwargs) -> subprocess.CompletedProcess:
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, **kwargs)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed (rc={proc.returncode}):\n"
                           f"{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return proc


def lab_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return run([sys.executable, "-m", "lab", *args], timeout=timeout)


def pyinfra(*args: str, timeout: float = 900, check: bool = True, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return run([str(VENV_BIN / "pyinfra"), *args], timeout=timeout, check=check, cwd=cwd)


def snapshot_head(dest: Path) -> str:
    """The committed tree (git HEAD) unpacked into `dest`, so a long benchmark runs one version of the
    deploy code while the checkout changes under it; returns the commit."""
    commit = run(["git", "rev-parse", "HEAD"], timeout=30).stdout.strip()
    dest.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "archive", commit], cwd=REPO, capture_output=True, timeout=120, check=True)
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, timeout=120, check=True)
    return commit


def inventory() -> dict:
    return json.loads((LAB_DIR / "inventory.json").read_text())


def ssh(host: str, command: str, timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess:
    return run(["ssh", "-F", str(LAB_DIR / "ssh_config"), "-o", "BatchMode=yes", host, command],
               timeout=timeout, check=check)


def restore_suite_lab(fresh: bool) -> None:
    """Put the suite's lab back (lab/__init__.py SUITE_*) and converge it; inside the lock."""
    sys.path.insert(0, str(REPO))
    from lab import SUITE_GPUS, SUITE_HOSTS
    if fresh:
        lab_cli("down", timeout=120)
    lab_cli("up", "--hosts", str(SUITE_HOSTS), "--gpus", SUITE_GPUS, timeout=600)
    log(f"suite lab up ({SUITE_HOSTS} hosts, {SUITE_GPUS}); converging")
    started = time.monotonic()
    pyinfra("-y", LAB_INVENTORY, "deploy.py", timeout=900)
    log(f"suite lab converged in {time.monotonic() - started:.1f} s")
