import os
import subprocess
import sys
from pathlib import Path

import pytest

from lab.nvsim import ctl, smi

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / ".." / "shared" / "fixtures"
H100 = "NVIDIA H100 80GB HBM3"
H200 = "NVIDIA H200"
A100 = "NVIDIA A100-SXM4-40GB"


class Sim:
    def __init__(self, root: Path):
        self.root = root

    def smi(self, *args: str) -> tuple[str, int]:
        return smi.run(list(args))

    def ctl(self, *args: str) -> int:
        return ctl.main(list(args))

    def smi_proc(self, *args: str) -> subprocess.CompletedProcess:
        env = dict(os.environ, NVSIM_ROOT=str(self.root))
        return subprocess.run([sys.executable, "-m", "lab.nvsim.smi", *args], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=30)

    def init(self, *models: str, **kw) -> None:
        args = ["init", "--model", ",".join(models), "--hostname", kw.get("hostname", "lab-h1")]
        if "uuid" in kw:
            args += ["--uuid", kw["uuid"]]
        if "bus_id" in kw:
            args += ["--bus-id", kw["bus_id"]]
        assert self.ctl(*args) == 0

    def enable_mig(self, gpu: str = "0") -> None:
        assert self.smi("-i", gpu, "-mig", "1")[1] == 0
        assert self.smi("-i", gpu, "-r")[1] == 0


@pytest.fixture
def sim(tmp_path, monkeypatch):
    monkeypatch.setenv("NVSIM_ROOT", str(tmp_path))
    return Sim(tmp_path)


@pytest.fixture
def sleeper():
    procs = []

    def start():
        p = subprocess.Popen(["sleep", "60"])
        procs.append(p)
        return p

    yield start
    for p in procs:
        p.kill()
        p.wait()
