"""The boot replay's MIG mode change, by architecture, against the lab's simulated driver (its real
output formats, state in tmp): Ampere resets the GPU; Hopper (whose MIG mode is lost at every boot)
sets the mode, reads it again and resets only if it is still pending.

Every nvidia-smi command line the replay sends is logged by a wrapper in front of the simulator."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lab.nvsim import ctl
from migfleet.mig import boot, smi
from migfleet.mig.placed import ENABLED, GpuLayout, PlacedGi

REPO = Path(__file__).resolve().parents[2]
A100, H100 = "NVIDIA A100-SXM4-40GB", "NVIDIA H100 80GB HBM3"
LAYOUT = {A100: GpuLayout(ENABLED, (PlacedGi(0, 9, (2,)), PlacedGi(4, 9, (2,)))),
          H100: GpuLayout(ENABLED, (PlacedGi(0, 9, (2,)), PlacedGi(4, 9, (2,))))}


class Host:
    def __init__(self, root: Path):
        self.root, self.log = root, root / "nvidia-smi.log"
        bindir = root / "bin"
        bindir.mkdir()
        (bindir / "nvidia-smi").write_text(
            f'#!/bin/sh\necho "$*" >> {self.log}\n'
            f'NVSIM_ROOT={root} PYTHONPATH={REPO} exec {sys.executable} -S -m lab.nvsim.smi "$@"\n')
        (bindir / "nvidia-smi").chmod(0o755)
        self.env = {"PATH": f"{bindir}:/usr/bin:/bin", "PYTHONPATH": str(REPO)}
        self.record = root / "mig-layout.json"
        gpus = self.snapshot()
        self.record.write_text(boot.record_text({u: boot.RecordedGpu(u, g.index, g.name, LAYOUT[g.name])
                                                 for u, g in gpus.items()}))

    def sh(self, command: str) -> subprocess.CompletedProcess:
        return subprocess.run(["sh", "-c", command], env=self.env, capture_output=True, text=True, timeout=60)

    def snapshot(self):
        return smi.parse_snapshot(self.sh(smi.SNAPSHOT_COMMAND).stdout)

    def boot(self) -> subprocess.CompletedProcess:
        """nvsim's boot (instances gone, Hopper MIG mode lost), then the MIG boot unit's replay."""
        assert ctl.main(["boot"]) == 0
        self.log.unlink(missing_ok=True)
        return subprocess.run([sys.executable, "-m", "migfleet.mig.boot", str(self.record)], env=self.env,
                              capture_output=True, text=True, timeout=120)

    def sent(self, index: int) -> list[str]:
        """The changing commands and mode queries sent to GPU `index` (the snapshot reads left out)."""
        mine = (f"-i {index} ", f"--gpu-reset -i {index}")
        return [line for line in self.log.read_text().splitlines()
                if any(m in line + " " for m in mine) and "-lgi" not in line]


@pytest.fixture
def host(tmp_path, monkeypatch) -> Host:
    monkeypatch.setenv("NVSIM_ROOT", str(tmp_path))
    assert ctl.main(["init", "--model", f"{A100},{H100}", "--hostname", "lab-h9"]) == 0     # MIG disabled
    return Host(tmp_path)


def test_boot_enables_hopper_without_a_reset_and_resets_ampere(host):
    done = host.boot()
    assert done.returncode == 0, done.stdout + done.stderr
    gpus = {g.name: g for g in host.snapshot().values()}
    assert all(g.mig_current for g in gpus.values())
    assert host.sent(1) == ["-i 1 -mig 1", smi.mig_mode(1).removeprefix("nvidia-smi "), "mig -i 1 -cgi 9:0,9:4 -C"]
    assert "GPU 1: MIG mode Enabled in effect at once; no GPU reset" in done.stdout
    assert host.sent(0) == ["-i 0 -mig 1", "--gpu-reset -i 0", "mig -i 0 -cgi 9:0,9:4 -C"]
    # Ampere keeps the mode: the next boot only rebuilds its instances; Hopper sets it again
    again = host.boot()
    assert again.returncode == 0, again.stdout + again.stderr
    assert host.sent(0) == ["mig -i 0 -cgi 9:0,9:4 -C"]
    assert host.sent(1)[0] == "-i 1 -mig 1" and not any("--gpu-reset" in c for c in host.sent(1))


def test_boot_resets_a_hopper_gpu_whose_mode_stays_pending(host):
    # The driver cannot switch it at once (reset policy refuse: held): the mode is read again and
    # found pending, so the reset is tried, refused here, and the replay says so.
    assert ctl.main(["reset-policy", "refuse", "--gpu", "1"]) == 0
    done = host.boot()
    assert done.returncode == 1
    assert "GPU 1: MIG mode Enabled still pending; resetting the GPU" in done.stdout
    assert host.sent(1)[-1] == "--gpu-reset -i 1"
    assert "MIG layout NOT restored" in done.stdout
