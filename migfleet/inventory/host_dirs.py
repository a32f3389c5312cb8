"""Host folders the inventory points migfleet at: never a system directory.

migfleet syncs the model repository into triton_model_dir and writes Envoy's files into
envoy_config_dir. It removes only files it wrote there itself, but a system directory as a target
is always a mistake (a sync into /etc, /var/lib or / would mix migfleet's files with the system's),
and is refused before any host is contacted.
"""
from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping

from migfleet.inventory.errors import InventoryError, shown
from migfleet.serving.settings import defaults

# The settings naming a folder migfleet syncs or writes into, and what it does there.
TARGETS = {
    "triton_model_dir": "syncs the model repository into it",
    "envoy_config_dir": "writes Envoy's configuration into it",
}
# The Filesystem Hierarchy Standard's top-level and shared folders (https://refspecs.linuxfoundation.org/FHS_3.0/fhs/index.html),
# and those a distribution or the deploy itself fills.
SYSTEM_DIRS = frozenset({
    "/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/media", "/mnt", "/opt", "/proc", "/root", "/run",
    "/sbin", "/srv", "/sys", "/tmp", "/usr", "/var", "/snap", "/lost+found",
    "/usr/bin", "/usr/include", "/usr/lib", "/usr/libexec", "/usr/local", "/usr/local/bin", "/usr/local/lib",
    "/usr/local/sbin", "/usr/local/share", "/usr/sbin", "/usr/share", "/usr/src",
    "/var/cache", "/var/lib", "/var/local", "/var/lock", "/var/log", "/var/mail", "/var/opt", "/var/run",
    "/var/spool", "/var/tmp", "/var/lib/docker", "/etc/docker", "/etc/systemd", "/etc/systemd/system",
    "/etc/apt", "/etc/ssh", "/etc/default",
})
LIB_DIRS = re.compile(r"^/(usr/)?lib[^/]*$")     # /lib32, /lib64, /libx32, /usr/lib64 ...


def normalised(path: str) -> str:
    """The folder a path names: trailing slashes, `.`, `..` and repeated slashes resolved."""
    return "/" + posixpath.normpath("/" + path).lstrip("/")


def system_dir_errors(host: str, data: Mapping, skip: set[str]) -> list[InventoryError]:
    """A folder setting that names a system directory (exactly, once normalised)."""
    out = []
    for key, what in TARGETS.items():
        value = data.get(key)
        if key in skip or not isinstance(value, str) or not value.startswith("/"):
            continue        # unset (the default is fine), or the schema already reports the value
        folder = normalised(value)
        if folder in SYSTEM_DIRS or LIB_DIRS.match(folder):
            named = folder if folder == value else f"{folder} (as {shown(value)})"
            out.append(InventoryError(host, f"$.{key}", f"{named} is a system directory, and migfleet {what}: "
                                      f"give it a folder of its own, such as {defaults()[key]}"))
    return out
