"""`nvidia-container-runtime`: edits the bundle's config.json on `create`, then execs runc."""
from __future__ import annotations

import datetime
import json
import os
import shutil
import sys
from pathlib import Path

from . import devices
from .spec import DeviceError, HOOK_NAME, edit_spec, parse_runtime_args

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def find_runc() -> str:
    me = Path(sys.argv[0]).resolve()
    for name in ("runc", "docker-runc"):
        found = shutil.which(name)
        if found and Path(found).resolve() != me:
            return found
    for path in ("/usr/sbin/runc", "/usr/bin/runc"):
        if os.access(path, os.X_OK):
            return path
    raise devices.ToolkitError("nvidia-container-runtime: error locating runc: not found in PATH")


def hook_path() -> str:
    beside = Path(sys.argv[0]).resolve().parent / HOOK_NAME
    if beside.exists():
        return str(beside)
    return shutil.which(HOOK_NAME) or f"/usr/bin/{HOOK_NAME}"


def report(message: str, log: str | None) -> None:
    """runc's callers read the error from the --log file (JSON lines); people read stderr."""
    print(message, file=sys.stderr)
    if log:
        entry = {"level": "error", "msg": message,
                 "time": datetime.datetime.now(datetime.timezone.utc).isoformat()}
        try:
            with open(log, "a") as fh:
                fh.write(json.dumps(entry) + "\n")
        except OSError:
            pass


def prepare_bundle(bundle: Path) -> None:
    config = bundle / "config.json"
    spec = json.loads(config.read_text())
    device_file = bundle / "nvidia-mig-device"
    env = [f"PATH={os.environ.get('PATH') or DEFAULT_PATH}"]
    edited, ids = edit_spec(spec, devices.lookup, hook_path(), env, str(device_file))
    if not ids:
        return
    device_file.write_text("".join(i + "\n" for i in ids))
    tmp = config.with_name("config.json.nvidia-tmp")
    tmp.write_text(json.dumps(edited))
    os.replace(tmp, config)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    command, bundle, log = parse_runtime_args(argv)
    try:
        if command == "create":
            prepare_bundle(Path(bundle or os.getcwd()))
        runc = find_runc()
    except (DeviceError, devices.ToolkitError) as err:
        report(str(err), log)
        return 1
    os.execv(runc, [runc] + argv)
    return 127
