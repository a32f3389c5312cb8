"""The simulated driver's kernel modules: /proc/modules text, lsmod, and what loads at boot.

This machine's kernel has no module support, so lab hosts have no /proc/modules. The simulator
keeps the loaded NVIDIA modules in its state and writes them, in /proc/modules format, to
`/var/lib/nvsim/modules`; the lab's `lsmod` prints them as kmod's lsmod does, and the lab's
mig-parted is built to read that file where the real one reads /proc/modules.
"""
from __future__ import annotations

from pathlib import Path

# name -> (size in bytes as a 580 driver reports it, modules it depends on). Sizes are what
# /proc/modules shows; nothing in the lab reads them.
KNOWN = {
    "nvidia": (62017536, ()),
    "nvidia_modeset": (1605632, ("nvidia",)),
    "nvidia_uvm": (6606848, ("nvidia",)),
    "nvidia_drm": (126976, ("nvidia_modeset",)),
}
# Load order: a module after the ones it depends on.
ORDER = ("nvidia", "nvidia_modeset", "nvidia_uvm", "nvidia_drm")


class ModuleError(Exception):
    pass


def _users(name: str, loaded: list[str]) -> list[str]:
    return [m for m in loaded if name in KNOWN[m][1]]


def proc_modules(loaded: list[str]) -> str:
    """/proc/modules: newest first, `name size refcount users, Live 0x... (POE)`."""
    lines = []
    for name in reversed([m for m in ORDER if m in loaded]):
        users = _users(name, loaded)
        used_by = ",".join(users) + "," if users else "-"
        lines.append(f"{name} {KNOWN[name][0]} {len(users)} {used_by} Live 0x0000000000000000 (POE)\n")
    return "".join(lines)


def lsmod(proc_text: str) -> str:
    """kmod's lsmod output for a /proc/modules text."""
    out = ["Module                  Size  Used by\n"]
    for line in proc_text.splitlines():
        name, size, refs, users = line.split()[:4]
        users = "" if users == "-" else " " + users.rstrip(",")
        out.append(f"{name:<19} {size:>8}  {refs}{users}\n")
    return "".join(out)


def load(loaded: list[str], name: str) -> list[str]:
    if name not in KNOWN:
        raise ModuleError(f"modprobe: FATAL: Module {name} not found")
    want = set(loaded) | {name}
    for dep in KNOWN[name][1]:
        want |= set(load(list(want), dep))
    return [m for m in ORDER if m in want]


def unload(loaded: list[str], name: str) -> list[str]:
    if name not in loaded:
        raise ModuleError(f"rmmod: ERROR: Module {name} is not currently loaded")
    users = _users(name, loaded)
    if users:
        raise ModuleError(f"rmmod: ERROR: Module {name} is in use by: {' '.join(users)}")
    return [m for m in loaded if m != name]


def boot_modules(root: Path, base: tuple[str, ...]) -> list[str]:
    """Modules loaded at boot: the driver's own, plus NVIDIA modules named in /etc/modules-load.d
    or /etc/modules (as systemd-modules-load would load them)."""
    loaded = list(base)
    files = sorted((root / "etc/modules-load.d").glob("*.conf")) + [root / "etc/modules"]
    for path in files:
        try:
            text = path.read_text()
        except OSError:
            continue
        for line in text.splitlines():
            name = line.split("#")[0].strip().replace("-", "_")
            if name in KNOWN:
                loaded = load(loaded, name)
    return loaded
