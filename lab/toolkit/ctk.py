"""`nvidia-ctk`: `--version` and `runtime configure --runtime=docker [--config=PATH] [--set-as-default]`."""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

VERSION = "1.17.8"
RUNTIME_NAME = "nvidia"
RUNTIME_PATH = "nvidia-container-runtime"


def configure_docker(config: dict, set_as_default: bool) -> dict:
    """daemon.json with the nvidia runtime added; other keys are kept."""
    out = dict(config)
    runtimes = dict(out.get("runtimes") or {})
    runtimes[RUNTIME_NAME] = {"args": [], "path": RUNTIME_PATH}
    out["runtimes"] = runtimes
    if set_as_default:
        out["default-runtime"] = RUNTIME_NAME
    elif out.get("default-runtime") == RUNTIME_NAME:
        del out["default-runtime"]
    return out


def runtime_configure(args: argparse.Namespace) -> int:
    if args.runtime != "docker":
        print(f"ERRO[0000] unrecognized runtime '{args.runtime}' (this toolkit configures docker only)",
              file=sys.stderr)
        return 1
    path = Path(args.config)
    try:
        current = json.loads(path.read_text() or "{}") if path.exists() else {}
    except json.JSONDecodeError as err:
        print(f"ERRO[0000] unable to load config for runtime docker: {path}: {err}", file=sys.stderr)
        return 1
    if not isinstance(current, dict):
        print(f"ERRO[0000] unable to load config for runtime docker: {path}: not a JSON object",
              file=sys.stderr)
        return 1
    text = json.dumps(configure_docker(current, args.set_as_default), indent=4, sort_keys=True) + "\n"
    if args.dry_run:
        sys.stdout.write(text)
        return 0
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".nvidia-ctk-tmp")
    tmp.write_text(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
    print(f"INFO[0000] Wrote updated config to {path}", file=sys.stderr)
    print("INFO[0000] It is recommended that docker daemon be restarted.", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nvidia-ctk")
    parser.add_argument("--version", "-v", action="store_true")
    sub = parser.add_subparsers(dest="command")
    runtime = sub.add_parser("runtime").add_subparsers(dest="action")
    conf = runtime.add_parser("configure")
    conf.add_argument("--runtime", default="docker")
    conf.add_argument("--config", default="/etc/docker/daemon.json")
    conf.add_argument("--set-as-default", action="store_true")
    conf.add_argument("--dry-run", action="store_true")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.version:
        print(f"NVIDIA Container Toolkit CLI version {VERSION}\ncommit: migfleet-lab")
        return 0
    if args.command == "runtime" and args.action == "configure":
        return runtime_configure(args)
    parser.print_help(sys.stderr)
    return 1
