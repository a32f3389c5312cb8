"""`migfleet` on `@local`, this machine, read without SSH: validate --live, drift, export and targets,
with the lab's simulated nvidia-smi first on PATH (commands really run), and without any nvidia-smi."""
from __future__ import annotations

import json
import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

from migfleet.fleet.local import machine_name
from tests.fleet.fake_smi import A100, H100, install_smi

REPO = Path(__file__).resolve().parents[2]
LAYOUT_OFF = [{"gpus": "all", "mig": False}]
LAYOUT_3G = [{"gpus": {"model": H100}, "instances": [{"profile": "3g.40gb", "count": 2}]},
             {"gpus": {"model": A100}, "mig": False}]


def shell_only(folder: Path) -> str:
    """A PATH folder with a shell and cat, and nothing else of this machine's (no docker, no curl)."""
    bindir = folder / "tools"
    bindir.mkdir(exist_ok=True)
    for tool in ("sh", "cat"):
        found = next(f"{d}/{tool}" for d in ("/usr/bin", "/bin") if os.access(f"{d}/{tool}", os.X_OK))
        if not (bindir / tool).exists():
            (bindir / tool).symlink_to(found)
    return str(bindir)


def migfleet(*args: str, cwd: Path, path: str, nvsim_root: str = "") -> subprocess.CompletedProcess:
    """The dispatcher in a child process, as the console script runs it, with `path` and a shell on PATH."""
    code = "import sys; from migfleet.cli import main; sys.exit(main())"
    env = {"PYTHONPATH": str(REPO), "PATH": f"{path}:{shell_only(cwd)}", "NVSIM_ROOT": nvsim_root, "HOME": str(cwd)}
    return subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, env=env)


def write_inventory(folder: Path, data: dict) -> Path:
    (folder / "models" / "example" / "1").mkdir(parents=True, exist_ok=True)
    (folder / "models" / "example" / "config.pbtxt").write_text('backend: "python"\n')
    inventory = folder / "inventory.py"
    inventory.write_text(f"hosts = [('@local', {data!r})]\n")
    return inventory


@pytest.fixture
def sim(tmp_path):
    """{"PATH": folder of the simulated nvidia-smi, "NVSIM_ROOT": its state}: an H100 and an A100."""
    return install_smi(tmp_path / "root", [H100, A100])


def smi(sim, *args: str) -> None:
    env = {**os.environ, "PATH": f"{sim['PATH']}:{os.environ['PATH']}", "NVSIM_ROOT": sim["NVSIM_ROOT"]}
    subprocess.run(["nvidia-smi", *args], env=env, check=True, capture_output=True, timeout=60)


def test_validate_live_reads_the_local_gpus(tmp_path, sim):
    inventory = write_inventory(tmp_path, {"mig_layout": LAYOUT_3G})
    run = migfleet("validate", "--live", str(inventory), cwd=tmp_path, path=sim["PATH"], nvsim_root=sim["NVSIM_ROOT"])
    assert run.returncode == 0, run.stderr
    assert "1 host(s), no errors (GPUs read from the hosts)" in run.stdout
    # the GPUs read are the ones checked: a profile the A100 lacks is an error naming the host
    inventory = write_inventory(tmp_path, {"mig_layout": [{"gpus": "all", "instances": [{"profile": "3g.40gb"}]}]})
    bad = migfleet("validate", "--live", str(inventory), cwd=tmp_path, path=sim["PATH"], nvsim_root=sim["NVSIM_ROOT"])
    assert bad.returncode == 1 and "@local" in bad.stderr and "3g.40gb" in bad.stderr


def mig_drift(run: subprocess.CompletedProcess) -> set:
    """(host, GPU, field) of the MIG differences drift --json listed (serving ones left out)."""
    assert run.returncode in (0, 1) and "unreadable" not in run.stderr, run.stderr
    found = [json.loads(line) for line in run.stdout.splitlines()]
    return {(m["host"], m["gpu_index"], m["field"]) for m in found
            if m["field"] == "MIG mode" or m["field"].startswith("GPU instance")}


def test_drift_and_export_of_the_local_host(tmp_path, sim):
    inventory = write_inventory(tmp_path, {"mig_layout": LAYOUT_3G})
    args = dict(cwd=tmp_path, path=sim["PATH"], nvsim_root=sim["NVSIM_ROOT"])
    drifted = migfleet("drift", str(inventory), "--json", **args)
    assert drifted.returncode == 1 and mig_drift(drifted) == {("@local", 0, "MIG mode")}
    # make the H100 what the inventory says, by hand: no MIG drift left, and export writes it back
    smi(sim, "-i", "0", "-mig", "1")
    smi(sim, "mig", "-i", "0", "-cgi", "9:0,9:4", "-C")
    assert mig_drift(migfleet("drift", str(inventory), "--json", **args)) == set()
    exported = migfleet("export", str(inventory), "-o", "exported.py", **args)
    assert exported.returncode == 0, exported.stderr
    hosts = runpy.run_path(str(tmp_path / "exported.py"))["hosts"]
    assert [name for name, _ in hosts] == ["@local"]
    assert hosts[0][1]["mig_layout"][0]["instances"] == [{"profile": "3g.40gb", "placements": [0, 4]}]
    (tmp_path / "inventory.py").write_text((tmp_path / "exported.py").read_text())
    assert mig_drift(migfleet("drift", str(inventory), "--json", **args)) == set()


def test_without_nvidia_smi_each_command_says_so_in_one_line(tmp_path):
    inventory = write_inventory(tmp_path, {"gpu_models": [H100], "mig_layout": LAYOUT_OFF})
    for command in (("validate", "--live"), ("drift",), ("export",)):
        run = migfleet(*command, str(inventory), cwd=tmp_path, path="/nonexistent")
        assert run.returncode in (1, 2), run
        assert "Traceback" not in run.stderr and "known_hosts" not in run.stderr
        lines = [ln for ln in run.stderr.splitlines() if "nvidia-smi" in ln]
        assert len(lines) == 1 and lines[0].count("@local") == 1 and "nvidia-smi not found" in lines[0], run.stderr


def test_targets_name_this_machine(tmp_path):
    inventory = write_inventory(tmp_path, {"gpu_models": [H100], "mig_layout": LAYOUT_OFF, "metrics_port": 9102})
    run = migfleet("targets", str(inventory), cwd=tmp_path, path="/nonexistent")
    if "." not in machine_name():        # a name without its domain: refused, saying what to set
        assert (run.returncode, run.stdout) == (1, ""), run.stdout
        assert "@local: $.ssh_hostname: not set, and this machine calls itself" in run.stderr
        inventory = write_inventory(tmp_path, {"gpu_models": [H100], "mig_layout": LAYOUT_OFF, "metrics_port": 9102,
                                               "ssh_hostname": "gpu-07.example.com"})
        run = migfleet("targets", str(inventory), cwd=tmp_path, path="/nonexistent")
    assert run.returncode == 0, run.stderr
    [group] = json.loads(run.stdout)
    host, port = group["targets"][0].rsplit(":", 1)
    assert group["labels"]["host"] == "@local" and port == "9102"
    assert host not in ("@local", "localhost", "") and "@" not in host and "." in host


def test_at_local_in_place_of_an_inventory_file(tmp_path, sim):
    """As `pyinfra @local deploy.py`: the host's data comes from ./group_data."""
    write_inventory(tmp_path, {})
    (tmp_path / "group_data").mkdir()
    (tmp_path / "group_data" / "all.py").write_text(f"mig_layout = {LAYOUT_3G!r}\n")
    args = dict(cwd=tmp_path, path=sim["PATH"], nvsim_root=sim["NVSIM_ROOT"])
    run = migfleet("validate", "--live", "@local", **args)
    assert run.returncode == 0 and "@local: 1 host(s), no errors (GPUs read from the hosts)" in run.stdout, run.stderr
    assert mig_drift(migfleet("drift", "@local", "--json", **args)) == {("@local", 0, "MIG mode")}
