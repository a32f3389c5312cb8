"""`nvsim-ctl`: set up and steer the simulated driver (tests, lab, container runtime).

  init --model M[,M...] --hostname H [--uuid U[,U...]] [--bus-id B[,B...]]
  show                                   state as JSON
  attach --pid PID (--gpu IDX|UUID | --mig MIG-UUID) [--name NAME] [--used-memory MIB]
  detach --pid PID
  spawn (--gpu IDX|UUID | --mig MIG-UUID) [--name NAME]   start a long sleeper, attach it, print PID
  reset-policy ok|refuse|unsupported [--gpu IDX|UUID]
  boot                                   what the host's boot does to the driver state
  mig-uuids                              one live MIG device UUID per line
  lookup-mig MIG-UUID                    exit 0 + JSON when it exists, 1 otherwise
  service install NAME... [--enable] [--start]   simulated GPU services (services.py)
  hold --name NAME                       a service daemon: holds every GPU until SIGTERM
  module load|unload nvidia_drm          simulated kernel modules (kmod.py); `module list`
  pci-sysfs [--mount]                    GPUs as PCI devices in /sys/bus/pci/devices (sysfs.py)
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

from lab.nvsim import engine, kmod, services, smi, state as st, sysfs


class CtlError(Exception):
    pass


def _gpu(state: dict, ref: str) -> dict:
    for gpu in state["gpus"]:
        if ref == gpu["uuid"] or (ref.isdigit() and int(ref) == gpu["index"]):
            return gpu
    raise CtlError(f"no GPU {ref!r} (have indexes 0..{len(state['gpus']) - 1})")


def find_mig(state: dict, mig_uuid: str) -> dict | None:
    for gpu in state["gpus"]:
        for dev in engine.mig_devices(gpu):
            if dev["uuid"] == mig_uuid:
                return {"gpu_index": gpu["index"], "gpu_uuid": gpu["uuid"], "gi_id": dev["gi_id"],
                        "ci_id": dev["ci_id"], "mig_index": dev["index"], "uuid": dev["uuid"],
                        "name": "MIG " + dev["name"], "memory_mib": dev["memory_mib"]}
    return None


def attach(state: dict, pid: int, gpu_ref: str | None, mig: str | None, name: str | None,
           used_memory_mib: int = 0) -> dict:
    start_time = st.process_identity(pid)
    if start_time is None:
        raise CtlError(f"process {pid} does not exist")
    if mig:
        dev = find_mig(state, mig)
        if dev is None:
            raise CtlError(f"no MIG device {mig}")
        gpu_uuid, gi, ci = dev["gpu_uuid"], dev["gi_id"], dev["ci_id"]
    else:
        gpu = _gpu(state, gpu_ref)
        gpu_uuid, gi, ci = gpu["uuid"], None, None
    state["processes"] = [p for p in state["processes"] if p["pid"] != pid]
    record = {"pid": pid, "name": name or st.process_name(pid), "gpu_uuid": gpu_uuid, "gi_id": gi,
              "ci_id": ci, "used_memory_mib": used_memory_mib, "start_time": start_time}
    state["processes"].append(record)
    return record


def spawn_sleeper() -> int:
    """A detached, long-sleeping process in its own session (init reaps it when it ends)."""
    proc = subprocess.Popen(["sleep", "2147483647"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True, close_fds=True)
    return proc.pid


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nvsim-ctl", description="control the simulated NVIDIA driver")
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("init")
    p.add_argument("--model", required=True)
    p.add_argument("--hostname", required=True)
    p.add_argument("--uuid")
    p.add_argument("--bus-id")
    sub.add_parser("show")
    for name in ("attach", "spawn"):
        p = sub.add_parser(name)
        if name == "attach":
            p.add_argument("--pid", type=int, required=True)
        target = p.add_mutually_exclusive_group(required=True)
        target.add_argument("--gpu")
        target.add_argument("--mig")
        p.add_argument("--name")
        p.add_argument("--used-memory", type=int, default=0)
    p = sub.add_parser("detach")
    p.add_argument("--pid", type=int, required=True)
    p = sub.add_parser("reset-policy")
    p.add_argument("policy", choices=["ok", "refuse", "unsupported"])
    p.add_argument("--gpu")
    sub.add_parser("boot")
    sub.add_parser("mig-uuids")
    p = sub.add_parser("lookup-mig")
    p.add_argument("uuid")
    p = sub.add_parser("service")
    p.add_argument("action", choices=["install"])
    p.add_argument("names", nargs="+", choices=sorted(services.SERVICES))
    p.add_argument("--enable", action="store_true")
    p.add_argument("--start", action="store_true")
    p = sub.add_parser("hold")
    p.add_argument("--name", required=True)
    p = sub.add_parser("module")
    p.add_argument("action", choices=["load", "unload", "list"])
    p.add_argument("name", nargs="?")
    p = sub.add_parser("pci-sysfs")
    p.add_argument("--mount", action="store_true")
    args = parser.parse_args(argv)

    try:
        if args.cmd == "init":
            models = [m.strip() for m in args.model.split(",")]
            uuids = args.uuid.split(",") if args.uuid else None
            buses = args.bus_id.split(",") if args.bus_id else None
            for given, what in ((uuids, "--uuid"), (buses, "--bus-id")):
                if given is not None and len(given) != len(models):
                    raise CtlError(f"{what} needs one value per model ({len(models)})")
            fresh = st.new_state(args.hostname, models, uuids, buses)
            with smi.locked(create=fresh):
                pass
            return 0
        if args.cmd == "service":
            print("\n".join(services.install(args.names, args.enable, args.start)))
            return 0
        if args.cmd == "hold":
            return services.hold(args.name)
        if args.cmd == "pci-sysfs":
            with smi.locked() as state:
                sysfs.populate(state, mount=args.mount)
            return 0
        with smi.locked() as state:
            if args.cmd == "show":
                print(json.dumps(state, indent=1))
            elif args.cmd in ("attach", "spawn"):
                pid = args.pid if args.cmd == "attach" else spawn_sleeper()
                try:
                    attach(state, pid, args.gpu, args.mig, args.name, args.used_memory)
                except CtlError:
                    if args.cmd == "spawn":
                        os.kill(pid, 9)
                    raise
                if args.cmd == "spawn":
                    print(pid)
            elif args.cmd == "detach":
                state["processes"] = [p for p in state["processes"] if p["pid"] != args.pid]
            elif args.cmd == "reset-policy":
                targets = [_gpu(state, args.gpu)] if args.gpu else state["gpus"]
                for gpu in targets:
                    gpu["reset_policy"] = args.policy
            elif args.cmd == "boot":
                engine.boot(state, kmod.boot_modules(st.root(), st.DRIVER_MODULES))
            elif args.cmd == "module":
                loaded = state.get("modules", list(st.DRIVER_MODULES))
                if args.action == "list":
                    print(kmod.lsmod(kmod.proc_modules(loaded)), end="")
                elif not args.name:
                    raise CtlError(f"module {args.action} needs a module name")
                else:
                    change = kmod.load if args.action == "load" else kmod.unload
                    state["modules"] = change(loaded, args.name.replace("-", "_"))
            elif args.cmd == "mig-uuids":
                for gpu in state["gpus"]:
                    for dev in engine.mig_devices(gpu):
                        print(dev["uuid"])
            elif args.cmd == "lookup-mig":
                found = find_mig(state, args.uuid)
                if found is None:
                    print(f"no MIG device {args.uuid}", file=sys.stderr)
                    return 1
                print(json.dumps(found))
    except (CtlError, st.StateError, kmod.ModuleError, services.ServiceError, sysfs.SysfsError) as err:
        print(f"nvsim-ctl: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
