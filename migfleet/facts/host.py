"""The one read per host per run: MIG snapshot and everything the operations decide from.

`HostState` is a single round trip (sections framed by `migfleet.sections`): the nvidia-smi
snapshot (`smi.SNAPSHOT_SECTIONS`, taken once), migfleet's containers with their labels, the
PIDs inside its Tritons, digests of the files and trees migfleet manages, unit states, package
versions, image ids and Docker's daemon.json. Operations are handed the parsed `HostView`;
none reads the host again, and what an operation changes is known from the operation itself.
"""
from __future__ import annotations

import shlex
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field

from pyinfra.api import FactBase
from pyinfra.api.exceptions import FactProcessError

from migfleet import sections
from migfleet.mig import smi
from migfleet.mig.state import GpuState
from migfleet.serving.containers import INSPECT_COMMAND, LABEL_ROLE, Container, parse_inspect


@dataclass(frozen=True)
class HostView:
    gpus: dict[str, GpuState]                   # uuid -> state, index order; {} without a driver
    driver_error: str | None = None             # why the GPU state is unknown (not empty)
    containers: tuple[Container, ...] = ()      # every container labelled migfleet.role
    own_pids: frozenset[int] = frozenset()      # processes inside migfleet's Tritons
    files: dict[str, str] = field(default_factory=dict)             # path -> sha256, present ones
    trees: dict[str, dict[str, str]] = field(default_factory=dict)  # dir -> {relative path: sha256}
    enabled: dict[str, str] = field(default_factory=dict)           # unit -> is-enabled ("" unknown)
    active: dict[str, str] = field(default_factory=dict)            # unit -> is-active
    packages: dict[str, str] = field(default_factory=dict)          # installed package -> version
    images: dict[str, str] = field(default_factory=dict)            # present image ref -> id
    docker: str | None = None                                       # docker binary, if any
    daemon_json: str = ""

    def container(self, name: str) -> Container | None:
        return next((c for c in self.containers if c.name == name), None)


def _q(items: Sequence[str]) -> str:
    return " ".join(shlex.quote(i) for i in items)


def host_command(files: Sequence[str] = (), trees: Sequence[str] = (), units: Sequence[str] = (),
                 packages: Sequence[str] = (), images: Sequence[str] = (),
                 daemon_json: str = "/etc/docker/daemon.json") -> str:
    smi_sections = {name: f"command -v nvidia-smi >/dev/null || exit 127; {cmd}"
                    for name, cmd in smi.SNAPSHOT_SECTIONS}
    return sections.frame({
        **smi_sections,
        "docker": "command -v docker",
        "containers": f"command -v docker >/dev/null || {{ echo '[]'; exit 0; }}; {INSPECT_COMMAND}",
        "pids": (f"command -v docker >/dev/null || exit 0; for id in $(docker ps -q --no-trunc "
                 f"--filter label={LABEL_ROLE}=triton); do grep -l \"$id\" /proc/[0-9]*/cgroup 2>/dev/null; "
                 "done | cut -d/ -f3 | sort -un"),
        "files": f"for f in {_q(files)}; do [ -f \"$f\" ] && sha256sum \"$f\"; done; true",
        "trees": (f"for d in {_q(trees)}; do echo \"== $d\"; [ -d \"$d\" ] && (cd \"$d\" && find . -type f "
                  "! -name '*.pyc' -print0 | sort -z | xargs -0r sha256sum); done; true"),
        "units": (f"for u in {_q(units)}; do echo \"$u $(systemctl is-enabled \"$u\" 2>/dev/null || true)"
                  " $(systemctl is-active \"$u\" 2>/dev/null || true)\"; done; true"),
        "packages": (f"dpkg-query -W -f='${{Package}} ${{Version}} ${{db:Status-Abbrev}}\\n' {_q(packages)} "
                     "2>/dev/null; true") if packages else "true",
        "images": (f"for i in {_q(images)}; do echo \"$i $(docker image inspect --format '{{{{.Id}}}}' \"$i\" "
                   "2>/dev/null)\"; done; true"),
        "daemon": f"cat {shlex.quote(daemon_json)} 2>/dev/null; true",
    })


SECTION_NAMES = (*(n for n, _ in smi.SNAPSHOT_SECTIONS), "docker", "containers", "pids", "files", "trees",
                 "units", "packages", "images", "daemon")


def _pairs(body: str, what: str) -> dict[str, str]:
    out = {}
    for line in body.splitlines():
        if not line.strip():
            continue
        key, _, value = line.partition(" ")
        out[key] = value.strip()
    return out


def _digests(body: str) -> dict[str, str]:
    out = {}
    for line in body.splitlines():
        digest, sep, name = line.partition("  ")
        if not sep or len(digest) != 64:
            raise ValueError(f"unexpected sha256sum line {line!r}")
        out[name] = digest
    return out


def parse_host(text: str) -> HostView:
    """Output of host_command(...) -> HostView (raises ValueError quoting what it did not expect)."""
    sec = sections.split(text, SECTION_NAMES)
    gpus, driver_error = {}, None
    if sec["query"][0] == 127:
        driver_error = "nvidia-smi not found on the host (is the NVIDIA driver installed?)"
    else:
        framed = "\n".join(f"{sections.MARK} {n}\n{sec[n][1]}\n{sections.MARK} rc={sec[n][0]}"
                           for n, _ in smi.SNAPSHOT_SECTIONS)
        try:
            gpus = smi.parse_snapshot(framed)
        except smi.DriverUnavailable as e:
            driver_error = str(e)
    trees: dict[str, dict[str, str]] = {}
    current = None
    for line in sec["trees"][1].splitlines():
        if line.startswith("== "):
            current = trees.setdefault(line[3:], {})
        elif current is not None and line.strip():
            current.update({k.removeprefix("./"): v for k, v in _digests(line).items()})
    packages = {}
    for line in sec["packages"][1].splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[2].startswith("ii"):
            packages[parts[0]] = parts[1]
    units = _pairs(sec["units"][1], "units")
    pids = [ln.strip() for ln in sec["pids"][1].splitlines() if ln.strip()]
    if any(not p.isdigit() for p in pids):
        raise ValueError(f"unexpected PID line in {pids!r}")
    return HostView(
        gpus=gpus, driver_error=driver_error,
        containers=tuple(parse_inspect(sec["containers"][1] or "[]")),
        own_pids=frozenset(int(p) for p in pids),
        files=_digests(sec["files"][1]) if sec["files"][1].strip() else {},
        trees=trees, enabled={u: s.split(" ")[0] for u, s in units.items()},
        active={u: s.split(" ")[-1] for u, s in units.items()}, packages=packages,
        images={k: v for k, v in _pairs(sec["images"][1], "images").items() if v},
        docker=sec["docker"][1].strip() or None, daemon_json=sec["daemon"][1])


class HostState(FactBase):
    """Everything migfleet decides from, in one round trip (see the module docstring)."""

    def command(self, files=(), trees=(), units=(), packages=(), images=(), daemon_json="/etc/docker/daemon.json"):
        return host_command(files, trees, units, packages, images, daemon_json)

    def process(self, output: list[str]) -> HostView:
        try:
            return parse_host("\n".join(output))
        except (ValueError, smi.ParseError) as e:
            raise FactProcessError(str(e)) from e


# Read once per host per run: every deploy asks, the first call reads, the others (and the
# operations' execute-time passes) get the same value. Kept per pyinfra State, gone with it.
_views: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def view(host, **args) -> HostView:
    run = _views.setdefault(host.state, {})
    if host.name not in run:
        run[host.name] = host.get_fact(HostState, **args)
    return run[host.name]
