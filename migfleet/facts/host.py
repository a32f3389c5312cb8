"""The one read per host per run: MIG snapshot and everything the operations decide from.

`HostState` is a single round trip (sections framed by `migfleet.sections`): the nvidia-smi
snapshot (`smi.SNAPSHOT_SECTIONS`, taken once), migfleet's containers with their labels, the
PIDs inside its Tritons, digests of the files and trees migfleet manages, unit states, package
versions, image ids and Docker's daemon.json. Operations are handed the parsed `HostView`;
none reads the host again, and what an operation changes is known from the operation itself.
"""
from __future__ import annotations

import json
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field

from pyinfra.api import FactBase
from pyinfra.api.exceptions import FactProcessError

from migfleet import sections
from migfleet.mig import smi
from migfleet.mig.state import GpuState
from migfleet.serving.containers import INSPECT_COMMAND, Container, parse_inspect


@dataclass(frozen=True)
class HostView:
    gpus: dict[str, GpuState]                   # uuid -> state, index order; {} without a driver
    driver_error: str | None = None             # why the GPU state is unknown (not empty)
    containers: tuple[Container, ...] = ()      # every container labelled migfleet.role
    # Not GPU users to refuse: the main processes of migfleet's own Tritons (tritonserver runs as the
    # container's main process), which the deploy drains and stops itself.
    own_pids: frozenset[int] = frozenset()
    files: dict[str, str] = field(default_factory=dict)             # path -> sha256, present ones
    trees: dict[str, dict[str, str]] = field(default_factory=dict)  # dir -> {relative path: sha256}
    enabled: dict[str, str] = field(default_factory=dict)           # unit -> is-enabled ("absent" unknown)
    active: dict[str, str] = field(default_factory=dict)            # unit -> is-active
    packages: dict[str, str] = field(default_factory=dict)          # installed package -> version
    images: dict[str, str] = field(default_factory=dict)            # present image ref -> id
    docker: str | None = None                                       # docker binary, if any
    modules: frozenset[str] = frozenset()                           # loaded kernel modules (lsmod)
    daemon_json: str = ""

    def container(self, name: str) -> Container | None:
        return next((c for c in self.containers if c.name == name), None)


def _q(items: Sequence[str]) -> str:
    return " ".join(shlex.quote(i) for i in items)


def host_command(files: Sequence[str] = (), trees: Sequence[str] = (), units: Sequence[str] = (),
                 packages: Sequence[str] = (), images: Sequence[str] = (),
                 daemon_json: str = "/etc/docker/daemon.json", services: Sequence[str] = ()) -> str:
    return sections.frame({
        **smi.COMMANDS,
        "docker": "command -v docker",
        "containers": f"command -v docker >/dev/null || {{ echo '[]'; exit 0; }}; {INSPECT_COMMAND}",
        "files": f"for f in {_q(files)}; do [ -f \"$f\" ] && sha256sum \"$f\"; done; true",
        "trees": (f"for d in {_q(trees)}; do echo \"== $d\"; [ -d \"$d\" ] && (cd \"$d\" && find . -type f "
                  "! -name '*.pyc' -print0 | sort -z | xargs -0r sha256sum); done; true"),
        # one line per unit from each (in order; "not-found" or "inactive" when absent)
        # (is-enabled stops at the first unknown unit when given several: one call per unit)
        "enabled": f"for u in {_q(units)}; do s=$(systemctl is-enabled \"$u\" 2>/dev/null); echo \"${{s:-absent}}\"; done",
        "active": f"systemctl is-active {_q((*units, *services))} 2>&1; true" if units or services else "true",
        # what holds a GPU against a reset besides processes: kernel modules (nvidia_drm)
        "modules": "lsmod 2>/dev/null | awk 'NR > 1 { print $1 }'; true",
        "packages": (f"dpkg-query -W -f='${{Package}} ${{Version}} ${{db:Status-Abbrev}}\\n' {_q(packages)} "
                     "2>/dev/null; true") if packages else "true",
        "images": (f"command -v docker >/dev/null && docker image inspect --format '{{{{.Id}}}} "
                   f"{{{{json .RepoTags}}}}' {_q(images)} 2>/dev/null; true") if images else "true",
        "daemon": f"cat {shlex.quote(daemon_json)} 2>/dev/null; true",
    })


SECTION_NAMES = (*smi.NAMES, "docker", "containers", "files", "trees", "enabled", "active", "modules", "packages",
                 "images", "daemon")


def _digests(body: str) -> dict[str, str]:
    out = {}
    for line in body.splitlines():
        digest, sep, name = line.partition("  ")
        if not sep or len(digest) != 64:
            raise ValueError(f"unexpected sha256sum line {line!r}")
        out[name] = digest
    return out


def _per_unit(units: Sequence[str], body: str) -> dict[str, str]:
    lines = [ln.strip() for ln in body.splitlines()]
    if len(lines) != len(units):
        raise ValueError(f"systemctl answered {len(lines)} line(s) for {len(units)} unit(s): {body!r}")
    return dict(zip(units, lines))


def _images(body: str) -> dict[str, str]:
    """`docker image inspect` lines "<id> <json tags>" -> {tag: id} (absent images print nothing)."""
    out = {}
    for line in body.splitlines():
        image_id, _, tags = line.partition(" ")
        for tag in json.loads(tags or "[]") or []:
            out[tag] = image_id
    return out


def parse_host(text: str, units: Sequence[str] = (), services: Sequence[str] = ()) -> HostView:
    """Output of host_command(..., units, services) -> HostView (raises ValueError quoting what it did
    not expect)."""
    sec = sections.split(text, SECTION_NAMES)
    gpus, driver_error = {}, None
    try:
        gpus = smi.parse_sections(sec)
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
    containers = tuple(parse_inspect(sec["containers"][1] or "[]"))
    return HostView(
        gpus=gpus, driver_error=driver_error, containers=containers,
        own_pids=frozenset(c.pid for c in containers if c.role == "triton" and c.pid),
        files=_digests(sec["files"][1]) if sec["files"][1].strip() else {},
        trees=trees, enabled=_per_unit(units, sec["enabled"][1]) if units else {},
        active=_per_unit((*units, *services), sec["active"][1]) if units or services else {}, packages=packages,
        modules=frozenset(sec["modules"][1].split()),
        images=_images(sec["images"][1]), docker=sec["docker"][1].strip() or None, daemon_json=sec["daemon"][1])


class HostState(FactBase):
    """Everything migfleet decides from, in one round trip (see the module docstring)."""

    def command(self, files=(), trees=(), units=(), packages=(), images=(), daemon_json="/etc/docker/daemon.json",
                services=()):
        # process() needs them to read systemctl's per-unit lines
        self.units, self.services = tuple(units), tuple(services)
        return host_command(files, trees, units, packages, images, daemon_json, services)

    def process(self, output: list[str]) -> HostView:
        try:
            return parse_host("\n".join(output), self.units, self.services)
        except (ValueError, smi.ParseError, sections.SectionError) as e:
            raise FactProcessError(str(e)) from e
