"""What a host lacks, from the one host read: one line per lack, each with its fix; nothing that
the read could not tell is a lack."""
from __future__ import annotations

import subprocess
from dataclasses import replace

from migfleet.facts.host import SYSTEMD_RUNTIME, HostView, host_command, parse_host
from migfleet.facts.preflight import problems
from migfleet.mig import catalog
from migfleet.mig.state import GpuState

TOOLS = frozenset({"apt-get", "dpkg-query", "systemctl", "lsmod", "modinfo"})
PACKAGES = ("python3", "curl", "nvidia-container-toolkit=1.17.8-1")


def gpu(index: int, name: str = "NVIDIA H200", driver: str | None = "580.159.04") -> GpuState:
    return GpuState(index=index, uuid=f"GPU-{index}", name=name, pci_bus_id=f"00000000:0{index}:00.0",
                    mig_current=False, mig_pending=False, driver_version=driver)


# A GPU server as migfleet wants it: systemd, Docker answering, apt, the toolkit's modules loaded.
READY = HostView(gpus={"GPU-0": gpu(0)}, docker="/usr/bin/docker", systemd=True, pid1="systemd", tools=TOOLS,
                 kernel="6.1.0-18-amd64", modules=frozenset({"nvidia", "nvidia_uvm", "nvidia_modeset"}),
                 modules_listed=True, module_tree=True, packages={"python3": "3.11", "curl": "7.88"})


def test_a_ready_host_and_a_view_without_prerequisites_lack_nothing():
    assert problems(READY, PACKAGES) == []
    assert problems(HostView(gpus={"GPU-0": gpu(0)}), PACKAGES) == []     # not read: nothing judged


def test_no_systemd_is_one_line_naming_pid1_and_the_fix():
    v = replace(READY, systemd=False, pid1="sshd", docker_error="Cannot connect to the Docker daemon")
    [line] = problems(v, PACKAGES)
    assert line.startswith("no systemd: PID 1 here is 'sshd'") and "systemd units" in line
    assert "host booted with systemd" in line


def test_the_device_case_no_systemd_and_no_docker_says_both():
    v = replace(READY, systemd=False, pid1="process_api", docker=None)
    lines = problems(v, PACKAGES)
    assert [line.split(":")[0] for line in lines] == ["no systemd", "no Docker"]
    assert "'process_api'" in lines[0] and "apt" in lines[1]


def test_no_docker_and_no_apt_to_install_it():
    v = replace(READY, docker=None, tools=TOOLS - {"apt-get"})
    lines = problems(v, (*PACKAGES, "docker.io"))
    assert lines[0].startswith("no Docker, and no apt-get to install it: install Docker Engine (https://")
    # the other packages dpkg lacks get their own line; Docker's package is the line above
    assert lines[1:] == ["no apt-get to install nvidia-container-toolkit=1.17.8-1: install them yourself, or "
                         "use a Debian or Ubuntu host (migfleet installs packages with apt)"]
    assert problems(replace(v, docker="/usr/bin/docker", packages={"python3": "3", "curl": "7",
                                                               "nvidia-container-toolkit": "1.17.8-1"}), PACKAGES) == []


def test_docker_installed_but_not_answering_on_a_systemd_host():
    [line] = problems(replace(READY, docker_error="Cannot connect to the Docker daemon at unix:///var/run/docker.sock"),
                      PACKAGES, docker_service="docker.service")
    assert "Cannot connect to the Docker daemon" in line and "systemctl start docker.service" in line


def test_a_driver_below_the_guides_minimum_names_model_gpus_minimum_and_source():
    v = replace(READY, gpus={"GPU-0": gpu(0, driver="535.104.05"), "GPU-1": gpu(1, driver="535.104.05")})
    [line] = problems(v, PACKAGES)
    minimum = catalog.driver_minimum("NVIDIA H200")
    assert line.startswith(f"NVIDIA driver 535.104.05 is older than {minimum.version}, the first with MIG on NVIDIA H200")
    assert "(GPU 0, 1;" in line and "https://docs.nvidia.com/datacenter/tesla/mig-user-guide/" in line
    # the same driver is new enough for an A100 (R450)
    a100 = replace(READY, gpus={"GPU-0": gpu(0, "NVIDIA A100-SXM4-40GB", "535.104.05")})
    assert problems(a100, PACKAGES) == []


def test_drivers_without_a_minimum_or_a_version_are_not_judged():
    v = replace(READY, gpus={"GPU-0": gpu(0, "NVIDIA H800", "400.1"), "GPU-1": gpu(1, "NVIDIA T4", "400.1"),
                             "GPU-2": gpu(2, driver=None), "GPU-3": gpu(3, driver="N/A")})
    assert problems(v, PACKAGES) == []


def test_a_kernel_without_the_toolkits_modules():
    v = replace(READY, modules=frozenset({"nvidia"}))
    [line] = problems(v, PACKAGES)
    assert line.startswith("kernel 6.1.0-18-amd64 has no nvidia_uvm module (not loaded, not under "
                           "/lib/modules/6.1.0-18-amd64)")
    # installed for the running kernel (the toolkit loads it itself), or loaded as seen in sysfs
    assert problems(replace(v, module_files={"nvidia_uvm": "/lib/modules/k/nvidia-uvm.ko"}), PACKAGES) == []
    assert problems(replace(v, module_files={"nvidia_uvm": "loaded"}), PACKAGES) == []


def test_modules_that_cannot_be_told_are_no_lack():
    v = replace(READY, modules=frozenset())
    assert problems(replace(v, modules_listed=False), PACKAGES) == []      # lsmod gave no list
    assert problems(replace(v, module_tree=False), PACKAGES) == []         # no /lib/modules/<kernel> (a container)
    assert problems(replace(v, tools=TOOLS - {"modinfo"}), PACKAGES) == []


def test_a_bare_host_read_end_to_end_fails_without_a_parser_error(tmp_path):
    """The host command run in sh on a PATH with nothing but coreutils, as on a container without
    systemd: the read parses, and the lacks are plain lines."""
    import shutil
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    for tool in ("cat", "uname", "sha256sum", "find", "sort", "xargs", "awk"):
        (bin_ / tool).symlink_to(shutil.which(tool))
    units = ("migfleet-mig.service", "docker.service")
    command = host_command(units=units, packages=PACKAGES).replace(SYSTEMD_RUNTIME, str(tmp_path / "absent"))
    out = subprocess.run(["/bin/sh", "-c", command], capture_output=True, text=True, timeout=30,
                         env={"PATH": str(bin_)})
    lines = problems(parse_host(out.stdout, units), PACKAGES)
    assert [line.split(":")[0] for line in lines] == ["no systemd", "no Docker, and no apt-get to install it",
                                                      "no apt-get to install python3, curl, nvidia-container-toolkit=1.17.8-1"]


def test_a_mig_only_host_is_asked_for_systemd_and_a_mig_driver_only():
    # no Docker answering, no apt-get, an unknown toolkit module: none of it is the MIG part's business
    v = replace(READY, docker_error="Cannot connect to the Docker daemon", tools=frozenset({"lsmod", "modinfo"}),
                modules=frozenset())
    assert len(problems(v, PACKAGES)) >= 2
    assert problems(v, PACKAGES, serving=False) == []
    old = replace(v, systemd=False, pid1="sshd", gpus={"GPU-0": gpu(0, driver="450.51.06")})
    lines = problems(old, serving=False)
    assert len(lines) == 2 and lines[0].startswith("no systemd")
    assert lines[1].startswith("NVIDIA driver 450.51.06 is older than")
