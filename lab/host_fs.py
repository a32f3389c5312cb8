"""A host's own files: the overlay upper dir (its /etc, /var, /root, /opt ...) and its
/var/lib/docker image. Written from the machine before the host's first boot."""
from __future__ import annotations

import os
import secrets
import shutil
import stat
from pathlib import Path

from . import BRIDGE_IP, PUBLIC_NAMES, STATE_DIR, THIN, host_address, host_name
from .atomic import write_atomic
from .host_run import run

DOCKER_IMAGE_SIZE = "32G"   # sparse: only what dockerd writes takes disk space

# Units this machine has enabled that a lab host must not start (or that cannot work there).
MASKED_UNITS = (
    "postgresql.service", "docker-registry.service", "prometheus.service",
    "podman.service", "podman.socket", "podman-auto-update.timer", "podman-restart.service",
    "podman-clean-transient.service", "podman-kube@.service",
    "apt-daily.timer", "apt-daily-upgrade.timer", "man-db.timer", "dpkg-db-backup.timer",
    "e2scrub_all.timer", "e2scrub_reap.service", "fstrim.timer",
    "systemd-timesyncd.service", "apparmor.service", "systemd-pstore.service",
    "getty@tty1.service", "console-getty.service", "systemd-journald-audit.socket",
    "systemd-udevd.service", "systemd-udevd-control.socket", "systemd-udevd-kernel.socket",
    "systemd-udev-trigger.service", "systemd-udev-settle.service",
    "systemd-networkd-wait-online.service", "NetworkManager-wait-online.service",
    "networking.service", "ifupdown-pre.service", "systemd-firstboot.service",
    # kernel modules and kernel filesystems belong to the machine, not to a host
    "modprobe@dm_mod.service", "modprobe@configfs.service", "modprobe@drm.service",
    "modprobe@fuse.service", "modprobe@loop.service", "modprobe@efi_pstore.service",
    "dev-hugepages.mount", "sys-kernel-debug.mount", "sys-kernel-tracing.mount",
    "sys-kernel-config.mount", "sys-fs-fuse-connections.mount",
)

# Directories of this machine a host must not see (other hosts' state, keys, the checkout; both labs').
HIDDEN_DIRS = tuple(dict.fromkeys((str(STATE_DIR).lstrip("/"), "var/lib/migfleet-lab", "var/lib/migfleet-thin",
                                   "work", "root")))

# A thin host runs systemd, journald and sshd only (what the MIG part of the deploy needs).
THIN_MASKED_UNITS = ("docker.service", "docker.socket", "containerd.service", "dbus.service", "dbus.socket",
                     "systemd-logind.service", "systemd-journal-flush.service", "systemd-update-utmp.service")
# Thin hosts log one line per SSH session (LogLevel VERBOSE), which bench/fleet_scale.py counts.
THIN_SSHD = "LogLevel VERBOSE\n"

SSHD_DROPIN = """\
# lab host: own key only, root by key only
HostKey /etc/ssh/ssh_host_ed25519_key
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UseDNS no
"""


def host_dir(n: int) -> Path:
    return STATE_DIR / "hosts" / f"h{n}"


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)


def _opaque_dir(path: Path) -> None:
    """An upper-dir directory that hides the lower one entirely."""
    path.mkdir(parents=True, exist_ok=True)
    os.setxattr(path, "trusted.overlay.opaque", b"y")


def _whiteout(path: Path) -> None:
    """An upper-dir entry that deletes the lower file from the host's view."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() and not path.is_symlink():
        os.mknod(path, 0o600 | stat.S_IFCHR, os.makedev(0, 0))


def _mask(upper: Path, unit: str) -> None:
    link = upper / "etc/systemd/system" / unit
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to("/dev/null")


def host_public_key(n: int) -> str:
    return (host_dir(n) / "upper/etc/ssh/ssh_host_ed25519_key.pub").read_text().strip()


def is_prepared(n: int) -> bool:
    return (host_dir(n) / "prepared").exists()


def prepare(n: int, lab_public_key: str) -> Path:
    """Create host N's disk (upper dir + docker image) if it has none; returns the upper dir."""
    hd = host_dir(n)
    upper = hd / "upper"
    if is_prepared(n):
        _write(upper / "root/.ssh/authorized_keys", lab_public_key + "\n", 0o600)
        return upper
    if hd.exists():
        shutil.rmtree(hd)          # left over from an interrupted first preparation
    for sub in ("upper", "work", "root"):
        (hd / sub).mkdir(parents=True)
    name = host_name(n)
    for hidden in HIDDEN_DIRS:
        _opaque_dir(upper / hidden)
    _write(upper / "etc/hostname", name + "\n")
    _write(upper / "etc/hosts", hosts_file(n))
    _write(upper / "etc/machine-id", secrets.token_hex(16) + "\n", 0o444)
    ssh = upper / "etc/ssh"
    ssh.mkdir(parents=True, exist_ok=True)
    for lower_key in Path("/etc/ssh").glob("ssh_host_*"):
        _whiteout(ssh / lower_key.name)
    for f in ssh.glob("ssh_host_ed25519_key*"):
        f.unlink()
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"root@{name}", "-f", str(ssh / "ssh_host_ed25519_key")])
    _write(ssh / "sshd_config.d/mflab.conf", SSHD_DROPIN + (THIN_SSHD if THIN else ""))
    root = upper / "root"
    root.chmod(0o700)
    _write(root / ".bashrc", "")
    _write(root / ".profile", "")
    (root / ".ssh").mkdir(mode=0o700, exist_ok=True)
    _write(root / ".ssh/authorized_keys", lab_public_key + "\n", 0o600)
    (upper / "var/lib/docker").mkdir(parents=True, exist_ok=True)
    (upper / "var/lib/docker").chmod(0o710)
    for unit in MASKED_UNITS + (THIN_MASKED_UNITS if THIN else ()):
        _mask(upper, unit)
    if THIN:
        return upper
    img = hd / "docker.img"
    with open(img, "wb") as f:
        f.truncate(_size_bytes(DOCKER_IMAGE_SIZE))
    run(["mkfs.ext4", "-q", "-F", "-L", f"{name}-docker", "-E", "lazy_itable_init=1,lazy_journal_init=1,discard",
         str(img)])
    return upper


def hosts_file(n: int) -> str:
    """The host's /etc/hosts: itself, the bridge, and the public names the lab answers for."""
    public = "".join(f"{ip}\t{' '.join(names)}\n" for ip, names in PUBLIC_NAMES.items())
    return (f"127.0.0.1\tlocalhost\n{host_address(n)}\t{host_name(n)}\n{BRIDGE_IP}\tlab-bridge\n"
            f"::1\tlocalhost ip6-localhost ip6-loopback\n{public}")


def stale_files(n: int, files: dict[str, bytes]) -> dict[str, bytes]:
    """Those of `files` (path in the host without the leading / -> content) that host N's disk does
    not hold with that content."""
    upper = host_dir(n) / "upper"
    stale = {}
    for rel, data in files.items():
        try:
            if (upper / rel).read_bytes() == data:
                continue
        except OSError:
            pass
        stale[rel] = data
    return stale


def write_files(n: int, files: dict[str, bytes]) -> None:
    """Write files into host N's disk; only while the host is not running (an overlay's upper dir
    must not change under it)."""
    upper = host_dir(n) / "upper"
    for rel, data in files.items():
        path = upper / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, data, 0o644)


def mark_prepared(n: int) -> None:
    (host_dir(n) / "prepared").write_text("")


def _size_bytes(text: str) -> int:
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    return int(text[:-1]) * units[text[-1]] if text[-1] in units else int(text)
