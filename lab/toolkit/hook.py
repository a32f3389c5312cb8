"""`nvidia-container-runtime-hook prestart`: registers the container's PID on its devices.

Called by runc with the container state (JSON with "pid" and "bundle") on stdin. Devices come from
`--device` arguments (added by nvidia-container-runtime) or, when docker's `--gpus` added the hook,
from NVIDIA_VISIBLE_DEVICES in the bundle's config.json.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import devices
from .spec import DeviceError, process_name, requested_devices


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nvidia-container-runtime-hook")
    parser.add_argument("stage", choices=["prestart", "poststart", "poststop"])
    parser.add_argument("--device", action="append", default=[])
    parser.add_argument("--name")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.stage != "prestart":
        return 0
    try:
        state = json.load(sys.stdin)
        pid = int(state["pid"])
        wanted, name = args.device, args.name
        if not wanted:
            spec = json.loads((Path(state["bundle"]) / "config.json").read_text())
            name = name or process_name(spec)
            wanted = []
            for device in requested_devices(spec) or []:
                canonical = devices.lookup(device)
                if canonical is None:
                    raise DeviceError(f"nvidia-container-cli: device error: {device}: unknown device")
                wanted.append(canonical)
        for device in wanted:
            devices.attach(pid, device, name or "container")
    except (DeviceError, devices.ToolkitError) as err:
        print(err, file=sys.stderr)
        return 1
    except (ValueError, KeyError) as err:
        print(f"nvidia-container-runtime-hook: bad container state on stdin: {err}", file=sys.stderr)
        return 1
    return 0
