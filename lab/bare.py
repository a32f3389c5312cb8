"""A bare lab host: a network namespace on the lab bridge running only sshd, with no systemd.

    python -m lab bare up [--gpus MODEL[:COUNT],...]      # prints its address, key and known_hosts
    python -m lab bare down

It is what a GPU server without systemd looks like to migfleet (a container, or a machine booted
with another init): sshd is PID 1 of its own PID namespace, /run is empty (no /run/systemd/system),
Docker is not running. Its root is an overlay of this machine's root, like a lab host's, so the
machine's programs are there (systemctl, docker and apt-get included) and what the host writes
stays in its own upper directory (`STATE_DIR/bare/upper`): a test reads that directory to see
what was written. The simulated nvidia-smi is installed when `lab.nvsim` is importable (its boot
unit never runs: no systemd), so the MIG plan can be made.

Its names sit outside the numbered hosts' ranges (address 10.250.0.250, netns `mflab-bare`), with
the lab's prefix, so `python -m lab down` removes it too (netns, link, processes, state). It has
its own known_hosts file: `up` rewrites the lab's to exactly the numbered hosts.
"""
from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import time
from pathlib import Path

from . import BRIDGE, PREFIX, PREFIX_LEN, STATE_DIR
from . import host_boot, host_fs, host_gpus, host_net
from .host_run import LabError, quiet, run

NAME = "lab-bare"
ADDRESS = "10.250.0.250"          # numbered hosts use 10.250.0.11 .. 10.250.0.210
MAC = "02:6d:66:00:00:fa"
NETNS = f"{PREFIX}-bare"
PORT = f"{PREFIX}-vbare"
DIR = STATE_DIR / "bare"
KNOWN_HOSTS = DIR / "known_hosts"
INFO = DIR / "bare.json"
LAB_KEY = STATE_DIR / "id_ed25519"
DEFAULT_GPUS = "H100"

# PID 1 of the host's PID namespace: mounts its root (private to its mount namespace), then
# becomes sshd. No systemd, no Docker daemon, nothing else.
INIT_SCRIPT = r"""#!/bin/sh
set -eu
H=%(dir)s
R=$H/root
mount -t overlay overlay -o lowerdir=/,upperdir=$H/upper,workdir=$H/work "$R"
mount -t proc proc "$R/proc"
mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$R/sys"
mount -t tmpfs -o mode=755,nosuid,size=16m dev "$R/dev"
D=$R/dev
mknod -m 666 $D/null c 1 3; mknod -m 666 $D/zero c 1 5; mknod -m 666 $D/full c 1 7
mknod -m 666 $D/random c 1 8; mknod -m 666 $D/urandom c 1 9; mknod -m 666 $D/tty c 5 0
mkdir -p $D/pts $D/shm
mount -t devpts -o newinstance,ptmxmode=0666,mode=620,gid=5 devpts $D/pts
ln -s pts/ptmx $D/ptmx; ln -s /proc/self/fd $D/fd
mount -t tmpfs -o mode=1777,nosuid,nodev shm $D/shm
mount -t tmpfs -o mode=755,nosuid,nodev tmpfs "$R/run"
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$R/tmp"
mkdir -p "$R/run/sshd" "$R/run/.oldroot"
hostname %(name)s
cd "$R"
pivot_root . run/.oldroot
umount -l /run/.oldroot
rmdir /run/.oldroot
exec env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin /usr/sbin/sshd -D -e
"""


def _prepare(models: list[str]) -> Path:
    """A fresh upper directory: hostname, own host key, the lab key for root, the simulated driver."""
    if DIR.exists():
        shutil.rmtree(DIR)
    upper = DIR / "upper"
    for sub in ("upper", "work", "root"):
        (DIR / sub).mkdir(parents=True)
    for hidden in host_fs.HIDDEN_DIRS:
        host_fs._opaque_dir(upper / hidden)
    host_fs._write(upper / "etc/hostname", NAME + "\n")
    ssh = upper / "etc/ssh"
    for lower_key in Path("/etc/ssh").glob("ssh_host_*"):
        host_fs._whiteout(ssh / lower_key.name)
    for f in ssh.glob("ssh_host_ed25519_key*"):
        f.unlink()
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"root@{NAME}", "-f", str(ssh / "ssh_host_ed25519_key")])
    host_fs._write(ssh / "sshd_config.d/mflab.conf", host_fs.SSHD_DROPIN)
    root = upper / "root"
    root.chmod(0o700)
    host_fs._write(root / ".profile", "")
    (root / ".ssh").mkdir(mode=0o700)
    host_fs._write(root / ".ssh/authorized_keys", LAB_KEY.with_suffix(".pub").read_text(), 0o600)
    try:
        from lab.nvsim import install as nvsim
    except ImportError:
        nvsim = None
    if nvsim is not None:
        nvsim.install(upper, NAME, models)
    public = (ssh / "ssh_host_ed25519_key.pub").read_text().split()
    KNOWN_HOSTS.write_text(f"{NAME},{ADDRESS} {public[0]} {public[1]}\n")
    return upper


def _create_net() -> None:
    _delete_net()
    host_net.ensure_bridge()
    run(["ip", "netns", "add", NETNS])
    run(["ip", "link", "add", PORT, "type", "veth", "peer", "name", "eth0", "address", MAC, "netns", NETNS])
    run(["ip", "link", "set", PORT, "master", BRIDGE, "up"])
    run(["ip", "-n", NETNS, "addr", "add", f"{ADDRESS}/{PREFIX_LEN}", "dev", "eth0"])
    run(["ip", "-n", NETNS, "link", "set", "eth0", "up"])
    run(["ip", "-n", NETNS, "link", "set", "lo", "up"])
    quiet(["ip", "neigh", "flush", "to", ADDRESS, "dev", BRIDGE])


def _delete_net() -> None:
    if host_net.netns_exists(NETNS):
        for pid in host_net.netns_pids(NETNS):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        quiet(["ip", "netns", "del", NETNS])
    if host_net.link_exists(PORT):
        quiet(["ip", "link", "del", PORT])


def up(gpus: str | None = None) -> dict:
    """Start the bare host (replacing one that runs); returns how to reach it."""
    if not LAB_KEY.exists():
        raise LabError(f"the lab is not up ({LAB_KEY} is missing); run `python -m lab up` first")
    down()
    models = host_gpus.models_for_host(host_gpus.parse_spec(gpus or DEFAULT_GPUS), 1)
    _prepare(models)
    _create_net()
    init = DIR / "init.sh"
    init.write_text(INIT_SCRIPT % {"dir": shlex.quote(str(DIR)), "name": NAME})
    with open(DIR / "sshd.log", "ab") as log:
        proc = subprocess.Popen(["ip", "netns", "exec", NETNS, "unshare", "--mount", "--uts", "--pid", "--fork",
                                 "--kill-child", "/bin/sh", str(init)], stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True, close_fds=True)
    info = {"name": NAME, "address": ADDRESS, "pid": proc.pid, "gpu_models": models, "ssh_user": "root",
            "ssh_key": str(LAB_KEY), "known_hosts": str(KNOWN_HOSTS), "upper": str(DIR / "upper")}
    INFO.write_text(json.dumps(info, indent=2) + "\n")
    deadline = time.monotonic() + 30
    while not _banner():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise LabError(f"{NAME} did not answer SSH on {ADDRESS}:22; see {DIR / 'sshd.log'}")
        time.sleep(0.1)
    return info


def _banner() -> bool:
    import socket
    try:
        with socket.create_connection((ADDRESS, 22), timeout=1) as s:
            s.settimeout(1)
            return s.recv(8).startswith(b"SSH-")
    except OSError:
        return False


def down() -> None:
    """Stop the bare host and remove its namespace, link and state (nothing left when absent)."""
    try:
        pid = json.loads(INFO.read_text())["pid"]
    except (FileNotFoundError, ValueError, KeyError):
        pid = None
    if pid and host_boot._start_time(pid) is not None:
        try:
            os.killpg(pid, signal.SIGKILL)      # ip netns exec -> unshare -> sshd (its namespace's PID 1)
        except ProcessLookupError:
            pass
    _delete_net()
    deadline = time.monotonic() + 10         # its mounts go with the last process of its namespace
    while pid and host_boot._start_time(pid) is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    if DIR.exists():
        shutil.rmtree(DIR)
