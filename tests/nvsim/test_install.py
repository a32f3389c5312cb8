import os
import subprocess
from pathlib import Path

from conftest import H100
from lab.nvsim.install import install


def test_install_into_host_root(tmp_path):
    install(tmp_path, "lab-h2", [H100, "NVIDIA A100-SXM4-80GB"])
    smi = tmp_path / "usr/bin/nvidia-smi"
    assert smi.read_text().startswith("#!/bin/sh\n") and os.access(smi, os.X_OK)
    assert (tmp_path / "usr/bin/nvsim-ctl").exists()
    unit = (tmp_path / "etc/systemd/system/nvsim-boot.service").read_text()
    assert "ExecStart=/usr/bin/nvsim-ctl boot" in unit and "Before=docker.service" in unit
    link = tmp_path / "etc/systemd/system/sysinit.target.wants/nvsim-boot.service"
    assert os.readlink(link) == "/etc/systemd/system/nvsim-boot.service"
    # Run the installed copy the way the host does, with only /usr/lib/nvsim on the path.
    lib = tmp_path / "usr/lib/nvsim"
    assert not list(Path(lib).rglob("__pycache__"))
    env = {"NVSIM_ROOT": str(tmp_path), "PATH": "/usr/bin:/bin"}
    code = "import sys; sys.path.insert(0, %r); from lab.nvsim.smi import main; sys.exit(main())" % str(lib)
    out = subprocess.run(["/usr/bin/python3", "-S", "-c", code, "-L"], env=env, capture_output=True,
                         text=True, timeout=30, cwd="/")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-")
    assert lines[1].startswith("GPU 1: NVIDIA A100-SXM4-80GB (UUID: GPU-")
    uuids = [line.split("UUID: ")[1].rstrip(")") for line in lines]
    assert all(len(u) == 40 and u.count("-") == 5 for u in uuids) and uuids[0] != uuids[1]
    install(tmp_path / "again", "lab-h2", [H100])
    assert (tmp_path / "again/var/lib/nvsim/state.json").read_text().count(uuids[0]) == 1
    assert (tmp_path / "var/lib/nvsim/nvml.view").exists()


def test_install_adds_lsmod_pci_sysfs_step_and_mig_parted(tmp_path, monkeypatch):
    from lab import migparted
    binary = tmp_path / "build/nvidia-mig-parted"
    binary.parent.mkdir()
    binary.write_text("built")
    monkeypatch.setattr(migparted, "cached_binary", lambda: binary)
    root = tmp_path / "host"
    install(root, "lab-h3", ["NVIDIA B200"])
    unit = (root / "etc/systemd/system/nvsim-boot.service").read_text()
    assert "ExecStart=/usr/bin/nvsim-ctl pci-sysfs --mount" in unit
    wrapper = (root / "usr/bin/nvidia-mig-parted").read_text()
    assert "MIG_PARTED_PROC_MODULES" in wrapper and os.access(root / "usr/bin/nvidia-mig-parted", os.X_OK)
    assert (root / "usr/lib/nvsim/nvidia-mig-parted").read_text() == "built"
    # The installed lsmod, run as in the host, lists the driver's modules from the state dir.
    lsmod = (root / "usr/local/sbin/lsmod").read_text().replace("/usr/lib/nvsim", str(root / "usr/lib/nvsim"))
    lsmod = lsmod.replace("/var/lib/nvsim/modules", str(root / "var/lib/nvsim/modules"))
    out = subprocess.run(["/usr/bin/python3", "-S", "-c", lsmod], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[0] == "Module                  Size  Used by"
    assert {line.split()[0] for line in out.stdout.splitlines()[1:]} == {"nvidia", "nvidia_modeset", "nvidia_uvm"}


def test_cached_listings_are_the_simulators_bytes_after_every_change(tmp_path, monkeypatch):
    """The installed nvidia-smi serves -L, the snapshot query, mig -lgi and -lci from files the
    simulator renders at every state change: byte for byte what it prints itself, exit code too."""
    from lab.nvsim import listings, smi as sim
    install(tmp_path, "lab-h2", [H100])
    monkeypatch.setenv("NVSIM_ROOT", str(tmp_path))
    cache = tmp_path / "var/lib/nvsim/listings"

    def same():
        for key, args in listings.CACHED.items():
            out, rc = sim.run(args)
            assert (cache / f"{key}.out").read_text() == out and int((cache / f"{key}.rc").read_text()) == rc, key

    same()                                       # MIG disabled: -lgi exits 6 with its message
    assert sim.run(["-i", "0", "-mig", "1"])[1] == 0
    assert sim.run(["mig", "-cgi", "9,9", "-C"])[1] == 0
    same()
    assert "MIG 3g.40gb" in (cache / "lgi.out").read_text()
    script = (tmp_path / "usr/bin/nvidia-smi").read_text().replace("/var/lib/nvsim/listings", str(cache))
    (tmp_path / "smi.sh").write_text(script)
    served = subprocess.run(["sh", str(tmp_path / "smi.sh"), "mig", "-lgi"], capture_output=True, text=True, timeout=30)
    assert served.returncode == 0 and served.stdout == sim.run(["mig", "-lgi"])[0]
