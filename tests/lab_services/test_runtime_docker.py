"""nvidia-container-runtime under a real (private) dockerd, with a fake nvsim-ctl on the daemon's PATH."""
import io
import json
import shutil
import subprocess
import tarfile

import pytest

from conftest import needs
from lab.toolkit import deb

pytestmark = pytest.mark.slow
KNOWN = "MIG-0929581a-2be6-5dec-bf34-0954c6c529a6"
FAKE_NVSIM_CTL = """#!/bin/sh
echo "$*" >> {log}
case "$1" in
    lookup-mig) grep -qxF -- "$2" {known} && exit 0; exit 1 ;;
    attach) exit 0 ;;
esac
exit 2
"""


def busybox_tar(path):
    """A rootfs with busybox-static and the applets the test uses."""
    with tarfile.open(path, "w") as tar:
        tar.add("/bin/busybox", "bin/busybox")
        for applet in ("sh", "sleep", "cat", "true", "echo", "tr"):
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type, link.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(link)
        for d in ("run", "proc", "sys", "dev", "etc", "tmp"):
            info = tarfile.TarInfo(d)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)


@pytest.fixture(scope="module")
def nvidia_dockerd(tmp_path_factory):
    needs("dockerd", "docker", "runc", "dpkg-deb")
    if not shutil.which("busybox") and not __import__("os").path.exists("/bin/busybox"):
        pytest.skip("busybox-static not installed")
    from lab.images.dockerd import PrivateDockerd

    tmp = tmp_path_factory.mktemp("nvrt")
    root = tmp / "root"
    for package in deb.build_debs(tmp / "debs"):
        subprocess.run(["dpkg-deb", "-x", str(package), str(root)], check=True)
    fakebin = tmp / "fakebin"
    fakebin.mkdir()
    calls, known = tmp / "nvsim-calls.log", tmp / "known"
    known.write_text(KNOWN + "\n")
    (fakebin / "nvsim-ctl").write_text(FAKE_NVSIM_CTL.format(log=calls, known=known))
    (fakebin / "nvsim-ctl").chmod(0o755)
    runtime = root / "usr/bin/nvidia-container-runtime"
    with PrivateDockerd(tmp / "dockerd", runtimes={"nvidia": {"path": str(runtime)}},
                        path_prefix=(str(fakebin),)) as dockerd:
        busybox_tar(tmp / "busybox.tar")
        dockerd.docker("import", str(tmp / "busybox.tar"), "migfleet-test/busybox:1")
        yield dockerd, calls


def test_known_mig_device_is_attached_and_visible(nvidia_dockerd):
    dockerd, calls = nvidia_dockerd
    name = "nvrt-known"
    dockerd.docker("run", "-d", "--name", name, "--network", "none", "--runtime=nvidia",
                   "-e", f"NVIDIA_VISIBLE_DEVICES={KNOWN}", "migfleet-test/busybox:1", "sleep", "60")
    try:
        pid = dockerd.docker("inspect", "-f", "{{.State.Pid}}", name).stdout.strip()
        assert int(pid) > 1
        assert dockerd.docker("exec", name, "cat", "/run/nvidia-mig-device").stdout == KNOWN + "\n"
        environ = dockerd.docker("exec", name, "sh", "-c", "tr '\\0' '\\n' < /proc/1/environ").stdout
        assert f"NVIDIA_MIG_DEVICE={KNOWN}" in environ.splitlines()
        logged = calls.read_text().splitlines()
        assert f"lookup-mig {KNOWN}" in logged
        assert f"attach --pid {pid} --mig {KNOWN} --name sleep" in logged
    finally:
        dockerd.docker("rm", "-f", name, check=False)


def test_unknown_mig_device_is_refused(nvidia_dockerd):
    dockerd, calls = nvidia_dockerd
    before = calls.read_text() if calls.exists() else ""
    done = dockerd.docker("run", "--rm", "--network", "none", "--runtime=nvidia",
                          "-e", "NVIDIA_VISIBLE_DEVICES=MIG-00000000-0000-0000-0000-000000000000",
                          "migfleet-test/busybox:1", "true", check=False)
    assert done.returncode != 0
    assert ("nvidia-container-cli: device error: MIG-00000000-0000-0000-0000-000000000000: unknown device"
            in done.stderr), done.stderr
    assert "attach" not in calls.read_text()[len(before):]


def test_no_device_runs_plain_runc(nvidia_dockerd):
    dockerd, calls = nvidia_dockerd
    before = calls.read_text() if calls.exists() else ""
    for env in ([], ["-e", "NVIDIA_VISIBLE_DEVICES=void"]):
        done = dockerd.docker("run", "--rm", "--network", "none", "--runtime=nvidia", *env,
                              "migfleet-test/busybox:1", "sh", "-c", "echo ran; cat /run/nvidia-mig-device",
                              check=False)
        assert done.stdout.startswith("ran\n")
        assert done.returncode != 0, "device file present without a device"
    assert (calls.read_text() if calls.exists() else "") == before
