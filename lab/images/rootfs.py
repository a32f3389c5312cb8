"""A minimal Debian bookworm root filesystem as a tarball, made by mmdebstrap from the machine's mirror.

mmdebstrap took 21 s here against 41 s for debootstrap with the same packages, and writes the tarball
directly.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

SUITE = "bookworm"
PACKAGES = ("python3", "python3-numpy", "libpython3.11", "ca-certificates", "libstdc++6", "zlib1g")
SOURCES = Path("/etc/apt/sources.list.d/debian.sources")
DEFAULT_MIRROR = "http://deb.debian.org/debian"
SLIM = ("/usr/share/doc/*", "/usr/share/man/*", "/usr/share/info/*", "/usr/share/locale/*",
        "/usr/share/lintian/*")


def debian_mirror(sources: Path = SOURCES) -> str:
    """The URI of the deb822 stanza that carries the plain suite (not -security)."""
    if not sources.exists():
        return DEFAULT_MIRROR
    for stanza in sources.read_text().split("\n\n"):
        fields = {}
        for line in stanza.splitlines():
            key, sep, value = line.partition(":")
            if sep and not line.startswith((" ", "#")):
                fields[key.strip()] = value.strip()
        if SUITE in fields.get("Suites", "").split() and fields.get("URIs"):
            return fields["URIs"].split()[0]
    return DEFAULT_MIRROR


def rootfs_key(mirror: str) -> str:
    return hashlib.sha256(" ".join((SUITE, mirror, *PACKAGES, *SLIM)).encode()).hexdigest()[:16]


def build_rootfs(cache_dir: Path) -> Path:
    """Path of the cached tarball for the current package list; built when missing."""
    mirror = debian_mirror()
    target = cache_dir / f"rootfs-{SUITE}-{rootfs_key(mirror)}.tar"
    if target.exists():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(f".partial-{os.getpid()}.tar")
    cmd = ["mmdebstrap", "--quiet", "--variant=minbase", "--include=" + ",".join(PACKAGES),
           "--skip=output/dev"]
    cmd += [f"--dpkgopt=path-exclude={pattern}" for pattern in SLIM]
    cmd += ["--dpkgopt=path-include=/usr/share/doc/*/copyright", SUITE, str(partial), mirror]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        partial.unlink(missing_ok=True)
        raise RuntimeError(f"{' '.join(cmd)} exited {done.returncode}: {done.stderr.strip()[-2000:]}")
    partial.rename(target)
    return target
