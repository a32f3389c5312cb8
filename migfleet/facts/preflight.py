"""What a host lacks before migfleet may change it, judged from the run's one host read.

`problems(view, ...)` returns one line per lack, each naming what is missing and how to fix it;
an empty list means the host has what migfleet needs. Nothing here reads the host or imports
pyinfra: the deploy fails the host with these lines before anything is queued for it.

Only what the read could tell is judged: a value the read did not get (a view without the
prerequisites section, a module list lsmod could not give) is no lack.
"""
from __future__ import annotations

from collections.abc import Sequence

from migfleet.facts.host import TOOLKIT_MODULES, HostView
from migfleet.mig import catalog

DOCKER_INSTALL = "https://docs.docker.com/engine/install/"


def problems(v: HostView, packages: Sequence[str] = (), docker_package: str = "docker.io",
             docker_service: str = "docker", serving: bool = True) -> list[str]:
    """One line per missing prerequisite. `packages`: what the deploy installs with apt when dpkg
    does not list it ("name" or "name=version"), Docker's package and service aside. `serving`
    False (mig_only hosts): only what the MIG part needs (systemd, a MIG-capable driver)."""
    if not serving:
        return [line for line in (_systemd(v), *_drivers(v)) if line]
    return [line for line in (_systemd(v), _docker(v, docker_service), _apt(v, packages, docker_package),
                              *_drivers(v), _modules(v)) if line]


def _systemd(v: HostView) -> str | None:
    if v.systemd is not False:
        return None
    pid1 = f"PID 1 here is {v.pid1!r}" if v.pid1 else "PID 1 here is not systemd"
    return (f"no systemd: {pid1}, and migfleet runs Docker, its MIG boot replay and its Tritons as systemd "
            "units: use a host booted with systemd (a VM or a bare-metal server, not a container)")


def _docker(v: HostView, service: str) -> str | None:
    no_apt = v.tools is not None and "apt-get" not in v.tools
    if v.docker is None and no_apt:
        return (f"no Docker, and no apt-get to install it: install Docker Engine ({DOCKER_INSTALL}), "
                "or use a Debian or Ubuntu host, where migfleet installs it")
    if v.docker is None and v.systemd is False:
        return ("no Docker: migfleet would install it with apt, but runs it as a systemd unit, "
                "and this host has no systemd (see above)")
    if v.docker_error and v.systemd is not False:       # without systemd, the line above says why
        return (f"Docker does not answer (`docker ps`: {v.docker_error}): start it (`systemctl start "
                f"{service}`) and re-run; migfleet plans its Tritons from the containers Docker lists")
    return None


def _apt(v: HostView, packages: Sequence[str], docker_package: str) -> str | None:
    if v.tools is None or "apt-get" in v.tools:
        return None
    missing = [p for p in packages if p.partition("=")[0] not in v.packages
               and p.partition("=")[0] != docker_package]
    if not missing:
        return None
    return (f"no apt-get to install {', '.join(missing)}: install them yourself, or use a Debian or "
            "Ubuntu host (migfleet installs packages with apt)")


def _drivers(v: HostView) -> list[str]:
    """GPUs whose driver is older than the first one NVIDIA's MIG user guide gives for their model,
    one line per model and driver version."""
    old: dict[tuple[str, str], list[int]] = {}
    for gpu in v.gpus.values():
        minimum = catalog.driver_minimum(gpu.name)
        have = catalog.version_key(gpu.driver_version or "")
        if minimum is None or have is None:
            continue        # no published minimum, or a version that is not dotted numbers: not judged
        if have < catalog.version_key(minimum.version):
            old.setdefault((gpu.name, gpu.driver_version), []).append(gpu.index)
    lines = []
    for (model, version), indexes in old.items():
        minimum = catalog.driver_minimum(model)
        gpus = ", ".join(str(i) for i in indexes)
        lines.append(f"NVIDIA driver {version} is older than {minimum.version}, the first with MIG on {model} "
                     f"(GPU {gpus}; NVIDIA's MIG user guide, {minimum.source.split(' ')[0]}): install a "
                     f"data center driver {minimum.version} or newer, reboot, and re-run")
    return lines


def _modules(v: HostView) -> str | None:
    """The toolkit's kernel modules: a lack only where the read shows one neither loaded (lsmod
    answered) nor installed for the running kernel (its /lib/modules tree is there and modinfo
    finds nothing); either unknown is no lack."""
    if not (v.modules_listed and v.module_tree and v.tools is not None and "modinfo" in v.tools):
        return None
    missing = [m for m in TOOLKIT_MODULES if m not in v.modules and m not in v.module_files]
    if not missing:
        return None
    return (f"kernel {v.kernel} has no {' and no '.join(missing)} module (not loaded, not under /lib/modules/"
            f"{v.kernel}): the NVIDIA container toolkit loads {' and '.join(TOOLKIT_MODULES)} for every GPU "
            "container; install the NVIDIA driver's kernel modules for this kernel (its package or DKMS "
            "build) and re-run")
