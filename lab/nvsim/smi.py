"""`nvidia-smi` of the simulated driver: `python3 -m lab.nvsim.smi ARGS` or /usr/bin/nvidia-smi."""
from __future__ import annotations

import sys
from pathlib import Path

from lab.nvsim import engine, qrender, render, state as st, summary, views
from lab.nvsim.engine import DriverError

BAD_ARGS = "Invalid combination of input arguments. Please run 'nvidia-smi -h' for help.\n"
NO_MIG = "No MIG-enabled devices found.\n"
RESET_IN_USE = ("{n} {dev} currently being used by one or more other processes (e.g., Fabric Manager, "
                "CUDA application, graphics application such as an X server, or a monitoring application "
                "such as another instance of nvidia-smi). Please first kill all processes using {this} "
                "and all compute applications running in the system.\n")
MIG_IN_USE = ("Warning: MIG mode is in pending {what} state for GPU {bus}:In use by another client\n"
              "{bus} is currently being used by one or more other processes (e.g. CUDA application or a "
              "monitoring application such as another instance of nvidia-smi). Please first kill all "
              "processes using the device and retry the command or reboot the system to make MIG mode "
              "effective.\n")
MIG_NO_RESET = ("Warning: MIG mode is in pending {what} state for GPU {bus}:Not Supported\n"
                "Reboot the system or try nvidia-smi --gpu-reset to make MIG mode effective on GPU {bus}\n")


class Usage(Exception):
    """Bad command line: nvidia-smi's message, exit code 2."""


class Result:
    def __init__(self) -> None:
        self.out: list[str] = []
        self.rc = 0

    def say(self, text: str) -> None:
        self.out.append(text if text.endswith("\n") else text + "\n")

    def fail(self, rc: int) -> None:
        if not self.rc:
            self.rc = rc


# ---- argument parsing ----------------------------------------------------------------------

OPTIONAL_VALUE = {"-cci"}
ALIASES = {
    "--list-gpus": "-L", "--query": "-q", "--xml-format": "-x", "--id": "-i",
    "--multi-instance-gpu": "-mig", "--gpu-reset": "-r", "--help": "-h",
    "--gpu-instance-id": "-gi", "--compute-instance-id": "-ci",
    "--list-gpu-instance-profiles": "-lgip", "--list-gpu-instance-possible-placements": "-lgipp",
    "--default-compute-instance": "-C", "--create-gpu-instance": "-cgi",
    "--destroy-gpu-instance": "-dgi", "--list-gpu-instances": "-lgi",
    "--list-compute-instance-profiles": "-lcip", "--create-compute-instance": "-cci",
    "--destroy-compute-instance": "-dci", "--list-compute-instances": "-lci",
}
TAKES_VALUE = {"-i", "-mig", "-gi", "-ci", "-cgi", "--query-gpu", "--format", "--query-compute-apps"}
FLAGS = {"-L", "-q", "-x", "-r", "-h", "-lgip", "-lgipp", "-C", "-dgi", "-lgi", "-lcip", "-dci", "-lci"}


def parse(args: list[str]) -> dict:
    opts: dict = {}
    i = 0
    while i < len(args):
        arg = args[i]
        value = None
        if arg.startswith("--") and "=" in arg:
            arg, value = arg.split("=", 1)
        arg = ALIASES.get(arg, arg)
        if arg in TAKES_VALUE:
            if value is None:
                i += 1
                if i >= len(args):
                    raise Usage(BAD_ARGS)
                value = args[i]
            opts[arg] = value
        elif arg in OPTIONAL_VALUE:
            if value is None and i + 1 < len(args) and not args[i + 1].startswith("-"):
                i += 1
                value = args[i]
            opts[arg] = value or ""
        elif arg in FLAGS and value is None:
            opts[arg] = True
        else:
            raise Usage(BAD_ARGS)
        i += 1
    return opts


def select_gpus(state: dict, ids: str | None) -> list[dict]:
    if ids is None:
        return list(state["gpus"])
    chosen = []
    for ref in ids.split(","):
        ref = ref.strip()
        for gpu in state["gpus"]:
            bus = gpu["pci_bus_id"].lower()
            if (ref.isdigit() and int(ref) == gpu["index"]) or ref == gpu["uuid"] \
                    or ref.lower() == bus or (":" in ref and bus.endswith(ref.lower())):
                if gpu not in chosen:
                    chosen.append(gpu)
                break
        else:
            raise DriverError(engine.NOT_FOUND)
    return chosen


def _ids(value: str | None) -> list[int] | None:
    if value is None:
        return None
    try:
        return [int(v) for v in value.split(",")]
    except ValueError:
        raise Usage(BAD_ARGS) from None


# ---- top-level commands --------------------------------------------------------------------

def _format(opts: dict) -> tuple[bool, bool]:
    fmt = opts.get("--format")
    if fmt is None:
        raise Usage("--format is a required argument for --query-gpu.\n")
    parts = [p.strip() for p in fmt.split(",")]
    if parts[0] != "csv" or any(p not in ("csv", "noheader", "nounits") for p in parts):
        raise Usage(f'"{fmt}" is not a valid format.\n')
    return "noheader" not in parts, "nounits" not in parts


def cmd_mig_mode(state: dict, gpus: list[dict], value: str, res: Result) -> None:
    if value not in ("0", "1"):
        raise Usage(BAD_ARGS)
    enable = value == "1"
    what = "enable" if enable else "disable"
    for gpu in gpus:
        outcome = engine.set_mig_mode(state, gpu, enable)
        bus = gpu["pci_bus_id"]
        if outcome in ("unchanged", "applied"):
            res.say(f"{'Enabled' if enable else 'Disabled'} MIG Mode for GPU {bus}")
        elif outcome == engine.IN_USE:
            res.say(MIG_IN_USE.format(what=what, bus=bus))
        else:
            # NOT_SUPPORTED, or an idle Ampere GPU: the lab models the driver not resetting the
            # GPU by itself (as under a hypervisor), so the change waits for --gpu-reset or a boot.
            res.say(MIG_NO_RESET.format(what=what, bus=bus))
    res.say("All done.")


def cmd_reset(state: dict, gpus: list[dict], res: Result) -> None:
    failed = []
    for gpu in gpus:
        reason = engine.reset_refusal(state, gpu)
        if reason:
            failed.append((gpu, reason))
            continue
        engine.reset(gpu)
        res.say(f"GPU {gpu['pci_bus_id']} was successfully reset.")
    if failed:
        res.say("The following GPUs could not be reset:")
        for gpu, reason in failed:
            res.say(f"  GPU {gpu['pci_bus_id']}: {reason}")
        busy = sum(1 for _, reason in failed if reason == engine.IN_USE)
        if busy:
            res.say("")
            res.say(RESET_IN_USE.format(n=busy, dev="device is" if busy == 1 else "devices are",
                                        this="this device" if busy == 1 else "these devices"))
        reasons = {reason for _, reason in failed}
        res.fail(engine.RC_NOT_SUPPORTED if reasons == {engine.NOT_SUPPORTED} else engine.RC_OTHER)


def run_top(state: dict, opts: dict, res: Result) -> None:
    if opts.get("-h"):
        res.say("NVIDIA System Management Interface -- v" + state["driver_version"] + " (simulated)")
        return
    gpus = select_gpus(state, opts.get("-i"))
    if "--query-gpu" in opts:
        header, units = _format(opts)
        fields = [f.strip() for f in opts["--query-gpu"].split(",")]
        res.say(render.query_gpu(state, gpus, fields, header, units))
    elif "--query-compute-apps" in opts:
        header, units = _format(opts)
        fields = [f.strip() for f in opts["--query-compute-apps"].split(",")]
        res.out.append(render.query_compute_apps(state, gpus, fields, header, units))
    elif opts.get("-L"):
        res.out.append(render.list_gpus(gpus))
    elif opts.get("-q"):
        res.out.append(qrender.render_xml(state, gpus) if opts.get("-x") else qrender.render_text(state, gpus))
    elif "-mig" in opts:
        cmd_mig_mode(state, gpus, opts["-mig"], res)
    elif opts.get("-r"):
        cmd_reset(state, gpus, res)
    elif set(opts) <= {"-i"}:
        res.out.append(summary.render(state, gpus))
    else:
        raise Usage(BAD_ARGS)


# ---- nvidia-smi mig ------------------------------------------------------------------------

def _split_profile(token: str) -> tuple[str, int | None]:
    if ":" in token:
        ref, start = token.rsplit(":", 1)
        if not start.strip().isdigit():
            raise Usage(BAD_ARGS)
        return ref.strip(), int(start)
    return token.strip(), None


def cmd_create_gi(state: dict, gpus: list[dict], spec: str, with_ci: bool, res: Result) -> None:
    for gpu in gpus:
        for token in spec.split(","):
            ref, start = _split_profile(token)
            try:
                profile = engine.geometry(gpu).profile(ref)
            except KeyError:
                profile = None
            try:
                if profile is None:
                    raise DriverError(engine.INVALID)
                gi = engine.create_gpu_instance(gpu, profile, start)
            except DriverError as err:
                res.say(f"Unable to create a GPU instance on GPU {gpu['index']:>2} using profile {ref}: "
                        f"{err.reason}")
                res.say(f"Failed to create GPU instances: {err.reason}")
                res.fail(err.rc)
                return
            res.say(f"Successfully created GPU instance ID {gi['gi_id']:>2} on GPU {gpu['index']:>2} "
                    f"using profile MIG {profile.name} (ID {profile.id:>2})")
            if with_ci:
                if not _create_ci(gpu, gi, None, "", res):
                    return


def _create_ci(gpu: dict, gi: dict, ref: str | None, shown: str, res: Result) -> bool:
    try:
        profile = engine.ci_profile(gpu, gi, ref)
        ci = engine.create_compute_instance(gpu, gi, profile)
    except DriverError as err:
        res.say(f"Unable to create a compute instance on GPU {gpu['index']:>2} GPU instance ID "
                f"{gi['gi_id']:>2} using profile {shown or ref}: {err.reason}")
        res.say(f"Failed to create compute instances: {err.reason}")
        res.fail(err.rc)
        return False
    res.say(f"Successfully created compute instance ID {ci['ci_id']:>2} on GPU {gpu['index']:>2} "
            f"GPU instance ID {gi['gi_id']:>2} using profile MIG {profile.name} (ID {profile.id:>2})")
    return True


def _target_gis(gpu: dict, gi_ids: list[int] | None) -> list[dict]:
    if gi_ids is None:
        return list(gpu["gpu_instances"])
    return [engine.find_gi(gpu, g) for g in gi_ids]


def cmd_create_ci(gpus: list[dict], spec: str, gi_ids: list[int] | None, res: Result) -> None:
    refs = [r.strip() for r in spec.split(",")] if spec else [None]
    for gpu in gpus:
        try:
            gis = _target_gis(gpu, gi_ids)
        except DriverError as err:
            res.say(f"Failed to create compute instances: {err.reason}")
            res.fail(err.rc)
            return
        if not gis:
            res.say(f"No GPU instances found: {engine.NOT_FOUND}")
            res.fail(engine.RC_NOT_FOUND)
            return
        for gi in gis:
            for ref in refs:
                if not _create_ci(gpu, gi, ref, ref or "", res):
                    return


def cmd_destroy_ci(state: dict, gpus: list[dict], gi_ids, ci_ids, res: Result) -> None:
    targets = []
    for gpu in gpus:
        for gi in gpu["gpu_instances"]:
            if gi_ids is not None and gi["gi_id"] not in gi_ids:
                continue
            for ci in gi["compute_instances"]:
                if ci_ids is None or ci["ci_id"] in ci_ids:
                    targets.append((gpu, gi, ci))
    if not targets:
        res.say(f"Failed to destroy compute instances: {engine.NOT_FOUND}")
        res.fail(engine.RC_NOT_FOUND)
        return
    failure = None
    for gpu, gi, ci in targets:
        try:
            engine.destroy_compute_instance(state, gpu, gi, ci)
        except DriverError as err:
            res.say(f"Unable to destroy compute instance ID {ci['ci_id']:>2} from GPU {gpu['index']:>2} "
                    f"GPU instance ID {gi['gi_id']:>2}: {err.reason}")
            failure = failure or err
            continue
        res.say(f"Successfully destroyed compute instance ID {ci['ci_id']:>2} from GPU {gpu['index']:>2} "
                f"GPU instance ID {gi['gi_id']:>2}")
    if failure:
        res.say(f"Failed to destroy compute instances: {failure.reason}")
        res.fail(failure.rc)


def cmd_destroy_gi(state: dict, gpus: list[dict], gi_ids, res: Result) -> None:
    targets = [(gpu, gi) for gpu in gpus for gi in list(gpu["gpu_instances"])
               if gi_ids is None or gi["gi_id"] in gi_ids]
    if not targets:
        res.say(f"Failed to destroy GPU instances: {engine.NOT_FOUND}")
        res.fail(engine.RC_NOT_FOUND)
        return
    failure = None
    for gpu, gi in targets:
        try:
            engine.destroy_gpu_instance(state, gpu, gi)
        except DriverError as err:
            res.say(f"Unable to destroy GPU instance ID {gi['gi_id']:>2} from GPU {gpu['index']:>2}: "
                    f"{err.reason}")
            failure = failure or err
            continue
        res.say(f"Successfully destroyed GPU instance ID {gi['gi_id']:>2} from GPU {gpu['index']:>2}")
    if failure:
        res.say(f"Failed to destroy GPU instances: {failure.reason}")
        res.fail(failure.rc)


def run_mig(state: dict, opts: dict, res: Result) -> None:
    gpus = select_gpus(state, opts.get("-i"))
    gi_ids, ci_ids = _ids(opts.get("-gi")), _ids(opts.get("-ci"))
    actions = [a for a in ("-lgip", "-lgipp", "-lgi", "-lci", "-lcip", "-cgi", "-cci", "-dci", "-dgi")
               if a in opts]
    if len(actions) != 1:
        raise Usage(BAD_ARGS)
    action = actions[0]
    if action == "-lgip":
        res.out.append(render.list_gi_profiles(gpus))
        return
    if action == "-lgipp":
        res.out.append(render.list_gi_placements(gpus))
        return
    mig_gpus = [g for g in gpus if g["mig_current"]]
    if not mig_gpus:
        res.say(NO_MIG)
        if action in ("-cgi", "-cci", "-dci", "-dgi"):
            res.fail(engine.RC_NOT_FOUND)
        return
    if action in ("-lgi", "-lci", "-lcip"):
        has_gi = any(render.gis_in_listing_order(g, gi_ids) for g in mig_gpus)
        text = {"-lgi": lambda: render.list_gpu_instances(mig_gpus, gi_ids),
                "-lci": lambda: render.list_compute_instances(mig_gpus, gi_ids, ci_ids),
                "-lcip": lambda: render.list_ci_profiles(mig_gpus, gi_ids)}[action]()
        if text:
            res.out.append(text)
        else:
            what = "compute instances" if has_gi and action == "-lci" else "GPU instances"
            res.say(f"No {what} found: {engine.NOT_FOUND}")
            res.fail(engine.RC_NOT_FOUND)
    elif action == "-cgi":
        cmd_create_gi(state, mig_gpus, opts["-cgi"], bool(opts.get("-C")), res)
    elif action == "-cci":
        cmd_create_ci(mig_gpus, opts["-cci"], gi_ids, res)
    elif action == "-dci":
        cmd_destroy_ci(state, mig_gpus, gi_ids, ci_ids, res)
    else:
        cmd_destroy_gi(state, mig_gpus, gi_ids, res)


def locked(base: Path | None = None, create: dict | None = None):
    """The driver's state under its lock (state.locked), its views written again when it changed."""
    return st.locked(lambda state: views.write(state, base, run_on), base, create)


def run(args: list[str]) -> tuple[str, int]:
    """Run one nvidia-smi command line against the state; returns (stdout, exit code)."""
    try:
        with locked() as state:
            return run_on(state, args)
    except st.StateError as err:
        return f"NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. {err}\n", 9


def run_on(state: dict, args: list[str]) -> tuple[str, int]:
    """One command line against a state already loaded (and locked by the caller)."""
    res = Result()
    try:
        mig = bool(args) and args[0] == "mig"
        opts = parse(args[1:] if mig else args)
        try:
            (run_mig if mig else run_top)(state, opts, res)
        except DriverError as err:
            if err.reason == engine.NOT_FOUND and not res.out:
                res.say("No devices were found")
            else:
                res.say(err.reason)
            res.fail(err.rc)
    except Usage as err:
        return "".join(res.out) + str(err), engine.RC_INVALID_ARGUMENT
    except render.QueryError as err:
        return str(err), engine.RC_INVALID_ARGUMENT
    return "".join(res.out), res.rc


def main(argv: list[str] | None = None) -> int:
    out, rc = run(sys.argv[1:] if argv is None else argv)
    sys.stdout.write(out)
    sys.stdout.flush()
    return rc


if __name__ == "__main__":
    sys.exit(main())
