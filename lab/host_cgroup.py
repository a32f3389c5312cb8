"""Per-host cgroups on the machine's hierarchies: /<hierarchy>/mflab/hN.

A host's init joins these before `unshare --cgroup`, so the host's cgroup namespace (and the
systemd and dockerd inside it) is rooted there. Everything a host runs stays below mflab/hN,
which is also how teardown finds processes that escaped a recorded PID.
"""
from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from . import PREFIX


@dataclass(frozen=True)
class Hierarchy:
    mountpoint: Path      # on the machine, e.g. /sys/fs/cgroup/memory
    fstype: str           # "cgroup" (v1) or "cgroup2"
    options: str          # mount options a host uses for the same hierarchy

    @property
    def dirname(self) -> str:
        return self.mountpoint.name


def hierarchies() -> list[Hierarchy]:
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, right = line.split(" - ", 1)
        mountpoint = left.split()[4]
        fstype, _source, superopts = right.split()[:3]
        if fstype == "cgroup":
            opts = [o for o in superopts.split(",") if o not in ("rw", "ro")]
            opts = [o for o in opts if o in _V1_NAMES or o.startswith("name=")]
            if any(o.startswith("name=") for o in opts):
                opts = ["none", *opts]
            found.append(Hierarchy(Path(mountpoint), fstype, ",".join(opts)))
        elif fstype == "cgroup2":
            found.append(Hierarchy(Path(mountpoint), fstype, ""))
    if not found:
        raise RuntimeError("no cgroup hierarchy mounted on this machine (/proc/self/mountinfo)")
    return found


_V1_NAMES = {"cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "net_cls", "net_prio",
             "blkio", "perf_event", "hugetlb", "pids", "rdma", "misc"}


def host_dirs(n: int) -> list[Path]:
    return [h.mountpoint / PREFIX / f"h{n}" for h in hierarchies()]


def _copy_cpuset(parent: Path, child: Path) -> None:
    for name in ("cpuset.cpus", "cpuset.mems"):
        if (child / name).exists() and not (child / name).read_text().strip():
            (child / name).write_text((parent / name).read_text())


def create(n: int) -> list[Path]:
    dirs = []
    for h in hierarchies():
        top = h.mountpoint / PREFIX
        path = top / f"h{n}"
        path.mkdir(parents=True, exist_ok=True)
        if (path / "cpuset.cpus").exists():
            _copy_cpuset(h.mountpoint, top)
            _copy_cpuset(top, path)
            (path / "cgroup.clone_children").write_text("1")
        dirs.append(path)
    return dirs


def _walk_bottom_up(root: Path) -> list[Path]:
    if not root.is_dir():
        return []
    out = []
    for dirpath, dirnames, _ in os.walk(root, topdown=False):
        out.append(Path(dirpath))
    return out


def pids(scope: str = "") -> set[int]:
    """PIDs in any lab cgroup (scope "" = all hosts, "h3" = host 3)."""
    found: set[int] = set()
    for h in hierarchies():
        for d in _walk_bottom_up(h.mountpoint / PREFIX / scope if scope else h.mountpoint / PREFIX):
            try:
                found.update(int(p) for p in (d / "cgroup.procs").read_text().split())
            except (FileNotFoundError, ProcessLookupError):
                pass
    return found


def kill_all(scope: str = "", timeout: float = 10.0) -> set[int]:
    """SIGKILL every process under the lab cgroups until none is left; return the ones still there."""
    deadline = time.monotonic() + timeout
    left = pids(scope)
    while left and time.monotonic() < deadline:
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.05)
        left = pids(scope)
    return left


def remove(scope: str = "") -> list[Path]:
    """rmdir the lab cgroup trees; returns directories that could not be removed."""
    stuck = []
    for h in hierarchies():
        root = h.mountpoint / PREFIX / scope if scope else h.mountpoint / PREFIX
        for d in _walk_bottom_up(root):
            for attempt in range(20):
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.05)
            else:
                stuck.append(d)
    return stuck


def leftovers() -> list[Path]:
    return [h.mountpoint / PREFIX for h in hierarchies() if (h.mountpoint / PREFIX).exists()]
