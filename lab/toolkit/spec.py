"""Pure OCI spec editing for the simulated nvidia-container-runtime.

A container asks for GPUs through NVIDIA_VISIBLE_DEVICES in its environment. Each requested device is
checked with a lookup callable (on hosts: `nvsim-ctl lookup-mig ID`); an unknown one is refused in the
words of the real toolkit. A known one gets /run/nvidia-mig-device, the NVIDIA_MIG_DEVICE variable and a
prestart hook that registers the container's PID as a process on that device.
"""
from __future__ import annotations

import copy
from typing import Callable, Optional

DEVICE_FILE = "/run/nvidia-mig-device"
DEVICE_ENV = "NVIDIA_MIG_DEVICE"
HOOK_NAME = "nvidia-container-runtime-hook"
# Values that ask for no GPU at all: the container runs as with plain runc.
NO_DEVICES = {"", "void", "none"}


class DeviceError(Exception):
    """A requested device does not exist; the message is what the real toolkit prints."""


def requested_devices(spec: dict) -> Optional[list[str]]:
    """Devices named by NVIDIA_VISIBLE_DEVICES in the spec's process env; None when no GPU is asked for
    (unset, empty, void, none) or when all GPUs are asked for ("all": nothing to check or attach)."""
    value = None
    for item in (spec.get("process") or {}).get("env") or []:
        key, sep, val = item.partition("=")
        if sep and key == "NVIDIA_VISIBLE_DEVICES":
            value = val  # the last definition wins, as in execve
    if value is None or value.strip().lower() in NO_DEVICES:
        return None
    devices = [part.strip() for part in value.split(",") if part.strip()]
    if not devices:
        return None
    if "all" in devices:
        return None
    return devices


def process_name(spec: dict) -> str:
    args = (spec.get("process") or {}).get("args") or []
    if not args:
        return "container"
    return args[0].rsplit("/", 1)[-1] or args[0]


def edit_spec(
    spec: dict,
    lookup: Callable[[str], Optional[str]],
    hook_path: str,
    hook_env: list[str],
    device_file_source: str,
) -> tuple[dict, list[str]]:
    """Return (edited copy of spec, resolved device ids); the input is not changed.

    lookup(id) returns the canonical id of an existing device (a MIG/GPU UUID) or None when unknown.
    Raises DeviceError for an unknown device. With no device requested the spec comes back unchanged
    and the id list is empty. The caller writes the ids, one a line, to device_file_source.
    """
    wanted = requested_devices(spec)
    if wanted is None:
        return copy.deepcopy(spec), []
    resolved = []
    for device in wanted:
        canonical = lookup(device)
        if canonical is None:
            raise DeviceError(f"nvidia-container-cli: device error: {device}: unknown device")
        if canonical not in resolved:
            resolved.append(canonical)

    out = copy.deepcopy(spec)
    process = out.setdefault("process", {})
    env = [e for e in process.get("env") or [] if not e.startswith(DEVICE_ENV + "=")]
    env.append(f"{DEVICE_ENV}={','.join(resolved)}")
    process["env"] = env

    # Appended last so that it lands on top of any tmpfs the user mounts on /run.
    out.setdefault("mounts", []).append({
        "destination": DEVICE_FILE,
        "type": "bind",
        "source": device_file_source,
        "options": ["rbind", "ro", "nosuid", "nodev", "noexec"],
    })

    prestart = out.setdefault("hooks", {}).setdefault("prestart", [])
    # docker --gpus already adds the hook (without device arguments; it then reads config.json).
    if not any(h.get("path", "").endswith("/" + HOOK_NAME) for h in prestart):
        args = [HOOK_NAME, "prestart", "--name", process_name(spec)]
        for device in resolved:
            args += ["--device", device]
        prestart.append({"path": hook_path, "args": args, "env": list(hook_env)})
    return out, resolved


def parse_runtime_args(argv: list[str]) -> tuple[Optional[str], Optional[str], Optional[str]]:
    """From runc-style arguments, return (subcommand, bundle, log file).

    Global flags that take a value come before the subcommand (`--root R --log L create --bundle B ID`).
    """
    with_value = {"--root", "--log", "--log-format", "--criu", "--rootless"}
    command = bundle = log = None
    i = 0
    while i < len(argv):
        arg = argv[i]
        if command is None:
            name, eq, val = arg.partition("=")
            if name in with_value:
                if not eq:
                    i += 1
                    val = argv[i] if i < len(argv) else ""
                if name == "--log":
                    log = val
            elif not arg.startswith("-"):
                command = arg
        else:
            name, eq, val = arg.partition("=")
            if name in ("--bundle", "-b"):
                if not eq:
                    i += 1
                    val = argv[i] if i < len(argv) else ""
                bundle = val
        i += 1
    return command, bundle, log
