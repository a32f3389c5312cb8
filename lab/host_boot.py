"""Booting and powering off one lab host: systemd as PID 1 in its own mount/UTS/PID/cgroup
namespaces, inside the host's network namespace, over an overlay of this machine's root."""
from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from . import host_address, host_netns
from . import host_cgroup, host_net
from .host_cgroup import Hierarchy

# Runs as PID 1 of the new PID namespace, before systemd. Everything it mounts lives in the
# host's private mount namespace and disappears with it (the loop device is auto-cleared).
INIT_SCRIPT = r"""#!/bin/sh
set -eu
H=%(host_dir)s
R=$H/root
mount -t overlay overlay -o lowerdir=/,upperdir=$H/upper,workdir=$H/work "$R"
[ ! -e "$H/docker.img" ] || mount -o loop,discard "$H/docker.img" "$R/var/lib/docker"   # thin hosts: none
mount -t proc proc "$R/proc"
mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$R/sys"
mount -t tmpfs -o mode=755,nosuid,nodev,noexec cgroup "$R/sys/fs/cgroup"
%(cgroup_mounts)s
mount -t tmpfs -o mode=755,nosuid,size=16m dev "$R/dev"
D=$R/dev
mknod -m 666 $D/null c 1 3; mknod -m 666 $D/zero c 1 5; mknod -m 666 $D/full c 1 7
mknod -m 666 $D/random c 1 8; mknod -m 666 $D/urandom c 1 9; mknod -m 666 $D/tty c 5 0
mknod -m 666 $D/fuse c 10 229; mknod -m 660 $D/loop-control c 10 237
mkdir -p $D/net $D/pts $D/shm $D/mqueue; mknod -m 666 $D/net/tun c 10 200
mount -t devpts -o newinstance,ptmxmode=0666,mode=620,gid=5 devpts $D/pts
ln -s pts/ptmx $D/ptmx; ln -s /proc/self/fd $D/fd
ln -s /proc/self/fd/0 $D/stdin; ln -s /proc/self/fd/1 $D/stdout; ln -s /proc/self/fd/2 $D/stderr
mount -t tmpfs -o mode=1777,nosuid,nodev shm $D/shm
mount -t mqueue mqueue $D/mqueue
mount -t tmpfs -o mode=755,nosuid,nodev tmpfs "$R/run"
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$R/tmp"
mkdir "$R/run/.oldroot"
cd "$R"
pivot_root . run/.oldroot
umount -l /run/.oldroot
rmdir /run/.oldroot
exec env -i container=migfleet-lab PATH=/usr/sbin:/usr/bin:/sbin:/bin /lib/systemd/systemd
"""

# Joins the host's cgroups, then enters its network namespace and new namespaces. The time
# namespace starts the host's /proc/uptime near 0 at each boot (pyinfra's server.reboot checks
# that uptime went down). A reboot from inside the host (`systemctl reboot`) ends the namespace's
# init with SIGHUP, so unshare exits 129: boot again on the same disk, as a machine does; any
# other end (poweroff, kill) stops the host.
LAUNCH_SCRIPT = r"""#!/bin/sh
set -u
for f in %(procs_files)s; do echo $$ > "$f" || exit 1; done
while :; do
  ip netns exec %(netns)s unshare --mount --uts --pid --cgroup --time \
    --boottime "-$(cut -d. -f1 /proc/uptime)" --fork --kill-child /bin/sh %(init)s
  rc=$?
  [ "$rc" -eq 129 ] || exit "$rc"
  echo "lab: reboot from inside the host, booting again"
done
"""


def _cgroup_mounts(hs: list[Hierarchy]) -> str:
    lines = []
    for h in hs:
        target = f'"$R/sys/fs/cgroup/{h.dirname}"'
        lines.append(f"mkdir -p {target}")
        if h.fstype == "cgroup2":
            lines.append(f"mount -t cgroup2 -o nosuid,nodev,noexec cgroup2 {target}")
        else:
            lines.append(f"mount -t cgroup -o nosuid,nodev,noexec,{h.options} cgroup {target}")
    return "\n".join(lines)


@dataclass(frozen=True)
class Running:
    pid: int          # the launcher on the machine (process group leader); killing its group ends the host
    start_time: int   # /proc/PID/stat field 22, guards against PID reuse


def _start_time(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] == "Z":
        return None
    return int(fields[19])


def is_running(r: Running | None) -> bool:
    return r is not None and _start_time(r.pid) == r.start_time


def systemd_pid(r: Running) -> int | None:
    """The host's PID 1 as seen from the machine: the first `systemd` down the launcher's first
    children (launcher -> unshare -> systemd)."""
    pid = r.pid
    for _ in range(3):
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except FileNotFoundError:
            return None
        if not children:
            return None
        pid = int(children[0])
        try:
            if Path(f"/proc/{pid}/comm").read_text().strip() == "systemd":
                return pid
        except FileNotFoundError:
            return None
    return None


def boot(n: int, host_dir: Path) -> Running:
    """Start host N (its network namespace is created fresh); returns at once."""
    host_net.create_host_net(n)
    dirs = host_cgroup.create(n)
    hs = host_cgroup.hierarchies()
    init = host_dir / "init.sh"
    init.write_text(INIT_SCRIPT % {"host_dir": shlex.quote(str(host_dir)), "cgroup_mounts": _cgroup_mounts(hs)})
    launch = host_dir / "launch.sh"
    launch.write_text(LAUNCH_SCRIPT % {
        "procs_files": " ".join(shlex.quote(str(d / "cgroup.procs")) for d in dirs),
        "netns": host_netns(n), "init": shlex.quote(str(init))})
    with open(host_dir / "boot.log", "ab") as log:
        proc = subprocess.Popen(["/bin/sh", str(launch)], stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True, close_fds=True)
    # Popen's pid is the launcher, which stays for the host's whole life (reboots from inside included).
    deadline = time.monotonic() + 5
    start = _start_time(proc.pid)
    while start is None and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.01)
        start = _start_time(proc.pid)
    if start is None:
        raise RuntimeError(f"host {n} exited at once; see {host_dir / 'boot.log'}")
    _children.append(proc)
    return Running(proc.pid, start)


_children: list[subprocess.Popen] = []


def _reap() -> None:
    for p in list(_children):
        if p.poll() is not None:
            _children.remove(p)


def wait_gone(r: Running, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _reap()
        if not is_running(r):
            return True
        time.sleep(0.05)
    return not is_running(r)


def power_off(n: int, r: Running | None, graceful: bool = True, timeout: float = 30.0) -> None:
    """Stop host N: systemd poweroff (SIGRTMIN+4) when graceful, SIGKILL after the timeout.
    Every process of the host dies; its network namespace is removed."""
    if is_running(r):
        spid = systemd_pid(r) if graceful else None
        if spid:
            os.kill(spid, signal.SIGRTMIN + 4)
        if not spid or not wait_gone(r, timeout):
            os.killpg(r.pid, signal.SIGKILL)     # the launcher and unshare (whose child dies with it)
            wait_gone(r, 10)
    host_cgroup.kill_all(f"h{n}")
    for pid in host_net.netns_pids(host_netns(n)):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    host_net.delete_host_net(n)
    host_cgroup.remove(f"h{n}")


def ssh_banner(n: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host_address(n), 22), timeout=timeout) as s:
            s.settimeout(timeout)
            return s.recv(64).startswith(b"SSH-")
    except OSError:
        return False


def wait_ssh(n: int, r: Running, timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ssh_banner(n):
            return
        if not is_running(r):
            raise RuntimeError(f"host {n} stopped while booting; see {log}")
        time.sleep(0.1)
    raise TimeoutError(f"host {n} ({host_address(n)}) did not answer on port 22 within {timeout:.0f} s; see {log}")
