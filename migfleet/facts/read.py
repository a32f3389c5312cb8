"""The one read per host per run, as pure code: its shell command and the parser of what it prints.

Standard library only: the deploy machine parses the read with it (facts.host.HostState), and the
host runs the same parser to compare its live state with what the deploy expects
(facts.noop_digest), so both sides agree on what a read says. The read is a single round trip
(sections framed by `migfleet.sections`): the nvidia-smi snapshot (`smi.SNAPSHOT_SECTIONS`, taken
once), migfleet's containers with their labels, the PIDs inside its Tritons, digests of the files
and trees migfleet manages, unit states, package versions, image ids, Docker's daemon.json, the
prerequisites `facts.preflight` checks (PID 1, tools, kernel, the toolkit's kernel modules), and the
deploy lock, taken here (`facts.lock`). A host that is merely different (no systemctl, docker,
dpkg-query or lsmod) reads as "absent" or "unknown"; only malformed output of a tool that is there
is an error.
"""
from __future__ import annotations

import json
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field

from migfleet import sections
from migfleet.facts import lock as host_lock
from migfleet.facts import trees as tree_files
from migfleet.facts.trees import TreeNow
from migfleet.mig import smi
from migfleet.mig.state import GpuState
# (not serving.triton: the host runs this parser, and the Triton planning code is a third of its imports)
from migfleet.serving.containers import INSPECT_COMMAND, TRITON_ROLE, Container, parse_inspect


@dataclass(frozen=True)
class HostView:
    gpus: dict[str, GpuState]                   # uuid -> state, index order; {} without a driver
    driver_error: str | None = None             # why the GPU state is unknown (not empty)
    containers: tuple[Container, ...] = ()      # every container labelled migfleet.role
    # Not GPU users to refuse: the main processes of migfleet's own Tritons (tritonserver runs as the
    # container's main process), which the deploy drains and stops itself.
    own_pids: frozenset[int] = frozenset()
    files: dict[str, str] = field(default_factory=dict)             # path -> sha256, present ones
    trees: dict[str, TreeNow] = field(default_factory=dict)         # dir -> its files against its manifest
    enabled: dict[str, str] = field(default_factory=dict)           # unit -> is-enabled ("absent" unknown)
    active: dict[str, str] = field(default_factory=dict)            # unit -> is-active
    packages: dict[str, str] = field(default_factory=dict)          # installed package -> version
    images: dict[str, str] = field(default_factory=dict)            # present image ref -> id
    docker: str | None = None                                       # docker binary, if any
    modules: frozenset[str] = frozenset()                           # loaded kernel modules (lsmod)
    daemon_json: str = ""
    # Prerequisites, read in the same round trip (migfleet.facts.preflight judges them). The defaults
    # say "not read": a view built without them has nothing to complain about.
    docker_error: str | None = None     # docker is there but `docker ps` failed (its first line)
    systemd: bool | None = None         # PID 1 is systemd: /run/systemd/system exists (sd_booted(3))
    pid1: str = ""                      # PID 1's name (/proc/1/comm), named in the message
    tools: frozenset[str] | None = None                             # which of PREREQ_TOOLS are on the PATH
    kernel: str = ""                                                # uname -r
    modules_listed: bool = False        # lsmod answered: `modules` is the whole list, not "unknown"
    module_files: dict[str, str] = field(default_factory=dict)      # TOOLKIT_MODULES -> "loaded", file or "(builtin)"
    module_tree: bool = False           # /lib/modules/<kernel> exists: modinfo finding nothing means "not installed"
    lock: host_lock.LockState | None = None     # the deploy lock (facts.lock), taken or looked at; None: neither

    def container(self, name: str) -> Container | None:
        return next((c for c in self.containers if c.name == name), None)


# Exists exactly when PID 1 is systemd (what sd_booted(3) tests).
SYSTEMD_RUNTIME = "/run/systemd/system"
# Programs whose absence changes what migfleet can do on a host (see migfleet.facts.preflight).
PREREQ_TOOLS = ("apt-get", "dpkg-query", "systemctl", "lsmod", "modinfo")
# Kernel modules the NVIDIA container toolkit needs for a GPU container: libnvidia-container loads
# nvidia and nvidia_uvm (CUDA's unified memory) itself, through nvidia-modprobe, before each GPU
# container (load-kmods = true in /etc/nvidia-container-runtime/config.toml, the default); it also
# tries nvidia_modeset, which only display work uses. Source: NVIDIA/libnvidia-container
# src/nvc.c, load_kernel_modules(), https://github.com/NVIDIA/libnvidia-container/blob/main/src/nvc.c
TOOLKIT_MODULES = ("nvidia", "nvidia_uvm")
# A module counts as there when loaded (/sys/module/<name>, or lsmod in the modules section) or
# installed for the running kernel (modinfo finds its file, or it is built in), since the toolkit
# loads it on demand. modinfo reads /lib/modules/$(uname -r); where that tree is missing (a
# container) nothing can be said about installed modules, and the preflight says nothing.
PREREQ_COMMAND = (
    f'echo "pid1 $(cat /proc/1/comm 2>/dev/null)"; [ -d {SYSTEMD_RUNTIME} ] && echo booted; '
    f'for t in {" ".join(PREREQ_TOOLS)}; do p=$(command -v "$t") && echo "tool $t $p"; done; '
    'k=$(uname -r); echo "kernel $k"; [ -d "/lib/modules/$k" ] && echo module-tree; '
    f'for m in {" ".join(TOOLKIT_MODULES)}; do if [ -d "/sys/module/$m" ]; then echo "module $m loaded"; '
    'elif f=$(modinfo -k "$k" -n "$m" 2>/dev/null); then echo "module $m $f"; fi; done; true')


def _q(items: Sequence[str]) -> str:
    return " ".join(shlex.quote(i) for i in items)


def host_command(files: Sequence[str] = (), trees: Sequence[str] = (), units: Sequence[str] = (),
                 packages: Sequence[str] = (), images: Sequence[str] = (),
                 daemon_json: str = "/etc/docker/daemon.json", services: Sequence[str] = (),
                 lock: str = "true") -> str:
    """`lock`: the lock section's shell (facts.lock.command); the default leaves the lock alone."""
    return sections.frame({
        **smi.COMMANDS,
        "docker": "command -v docker",
        # set -e: a docker that does not answer ends the section with its error and exit code
        "containers": f"command -v docker >/dev/null || {{ echo '[]'; exit 0; }}; set -e; {INSPECT_COMMAND}",
        "files": f"for f in {_q(files)}; do [ -f \"$f\" ] && sha256sum \"$f\"; done; true",
        "trees": tree_files.read_command(trees),      # hashes only what differs from each manifest
        # one line per unit from each (in order; "not-found" or "inactive" when absent)
        # (is-enabled stops at the first unknown unit when given several: one call per unit)
        "enabled": f"for u in {_q(units)}; do s=$(systemctl is-enabled \"$u\" 2>/dev/null); echo \"${{s:-absent}}\"; done",
        # (127 without systemctl, 126 when PID 1 is not systemd: no unit state to read)
        "active": (f"command -v systemctl >/dev/null || exit 127; [ -d {SYSTEMD_RUNTIME} ] || exit 126; "
                   f"systemctl is-active {_q((*units, *services))} 2>&1; true") if units or services else "true",
        # what holds a GPU against a reset besides processes: kernel modules (nvidia_drm); 127 without
        # lsmod, 3 when it fails (no /proc/modules): the list is then unknown, not empty
        "modules": ("command -v lsmod >/dev/null || exit 127; out=$(lsmod 2>/dev/null) || exit 3; "
                    "printf '%s\\n' \"$out\" | awk 'NR > 1 { print $1 }'"),
        "packages": (f"dpkg-query -W -f='${{Package}} ${{Version}} ${{db:Status-Abbrev}}\\n' {_q(packages)} "
                     "2>/dev/null; true") if packages else "true",
        "images": (f"command -v docker >/dev/null && docker image inspect --format '{{{{.Id}}}} "
                   f"{{{{json .RepoTags}}}}' {_q(images)} 2>/dev/null; true") if images else "true",
        "daemon": f"cat {shlex.quote(daemon_json)} 2>/dev/null; true",
        "prereq": PREREQ_COMMAND,
        "lock": lock,
    })


SECTION_NAMES = (*smi.NAMES, "docker", "containers", "files", "trees", "enabled", "active", "modules", "packages",
                 "images", "daemon", "prereq", "lock")


def _digests(body: str) -> dict[str, str]:
    out = {}
    for line in body.splitlines():
        digest, sep, name = line.partition("  ")
        if not sep or len(digest) != 64:
            raise ValueError(f"unexpected sha256sum line {line!r}")
        out[name] = digest
    return out


def _per_unit(units: Sequence[str], section: tuple[int, str]) -> dict[str, str]:
    """One systemctl line per unit; every unit "unknown" where systemctl is missing (127) or PID 1
    is not systemd (126)."""
    rc, body = section
    if rc in (126, 127):
        return dict.fromkeys(units, "unknown")
    lines = [ln.strip() for ln in body.splitlines()]
    if len(lines) != len(units):
        raise ValueError(f"systemctl answered {len(lines)} line(s) for {len(units)} unit(s): {body!r}")
    return dict(zip(units, lines))


def _images(body: str) -> dict[str, str]:
    """`docker image inspect` lines "<id> <json tags>" -> {tag: id} (absent images print nothing)."""
    out = {}
    for line in body.splitlines():
        image_id, _, tags = line.partition(" ")
        try:
            listed = json.loads(tags or "[]") or []
        except json.JSONDecodeError:
            raise ValueError(f"unexpected docker image inspect line {line!r}") from None
        for tag in listed:
            out[tag] = image_id
    return out


def _prereq(body: str) -> dict:
    """The prerequisites section -> HostView fields (raises quoting a line it does not know)."""
    out = {"systemd": False, "pid1": "", "tools": set(), "kernel": "", "module_files": {}, "module_tree": False}
    for line in body.splitlines():
        key, _, value = line.strip().partition(" ")
        if key == "pid1":
            out["pid1"] = value.strip()
        elif key == "booted":
            out["systemd"] = True
        elif key == "tool" and value.split(" ", 1)[0] in PREREQ_TOOLS:
            out["tools"].add(value.split(" ", 1)[0])
        elif key == "kernel":
            out["kernel"] = value.strip()
        elif key == "module-tree":
            out["module_tree"] = True
        elif key == "module" and value.split(" ", 1)[0] in TOOLKIT_MODULES and " " in value:
            name, where = value.split(" ", 1)
            out["module_files"][name] = where.strip()
        elif line.strip():
            raise ValueError(f"unexpected line in the prerequisites section {line!r}")
    out["tools"] = frozenset(out["tools"])
    return out


def parse_host(text: str, units: Sequence[str] = (), services: Sequence[str] = ()) -> HostView:
    """Output of host_command(..., units, services) -> HostView (raises ValueError quoting what it did
    not expect)."""
    return parse_sections(sections.split(text, SECTION_NAMES), units, services)


def parse_sections(sec: dict[str, tuple[int, str]], units: Sequence[str] = (),
                   services: Sequence[str] = ()) -> HostView:
    """The read's sections ({name: (exit code, output)}) -> HostView."""
    gpus, driver_error = {}, None
    try:
        gpus = smi.parse_sections(sec)
    except smi.DriverUnavailable as e:
        driver_error = str(e)
    trees = tree_files.parse(sec["trees"][1])
    packages = {}
    for line in sec["packages"][1].splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[2].startswith("ii"):
            packages[parts[0]] = parts[1]
    rc, body = sec["containers"]
    containers, docker_error = (), None
    if rc == 0:
        containers = tuple(parse_inspect(body or "[]"))
    else:       # docker is there and does not answer: no container is known
        docker_error = next((ln.strip() for ln in body.splitlines() if ln.strip()), f"exit code {rc}")
    return HostView(
        gpus=gpus, driver_error=driver_error, containers=containers,
        own_pids=frozenset(c.pid for c in containers if c.role == TRITON_ROLE and c.pid),
        files=_digests(sec["files"][1]) if sec["files"][1].strip() else {},
        trees=trees, enabled=_per_unit(units, sec["enabled"]) if units else {},
        active=_per_unit((*units, *services), sec["active"]) if units or services else {}, packages=packages,
        modules=frozenset(sec["modules"][1].split()) if sec["modules"][0] == 0 else frozenset(),
        modules_listed=sec["modules"][0] == 0, docker_error=docker_error, **_prereq(sec["prereq"][1]),
        lock=host_lock.parse(sec["lock"][1]),
        images=_images(sec["images"][1]), docker=sec["docker"][1].strip() or None, daemon_json=sec["daemon"][1])
