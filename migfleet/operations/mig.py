"""pyinfra operation converging one GPU's MIG layout to its plan (mig.plan.GpuPlan).

The plan is made once per run from the one host read; the operation yields its commands at
prepare time (what --dry shows) and the same ones at execute time. The GPU is read again only
where it did something other than planned: a refused reset, or after a reboot; and its MIG mode
right after a Hopper (or later) mode change, which needs a reset only if it stays pending
(mig.plan's docstring cites NVIDIA's guide).
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import replace

from pyinfra import host, logger
from pyinfra.api import FunctionCommand, StringCommand, operation
from pyinfra.operations import server

from migfleet.facts.mig import MigSnapshot
from migfleet.mig import placed, smi
from migfleet.mig.geometry import Geometry
from migfleet.mig.plan import GpuPlan, plan_gpu
from migfleet.mig.state import GpuState


# ---------------------------------------------------------------- words (pure)

def gpu_label(gpu: GpuState, with_uuid: bool = True) -> str:
    head = f"GPU {gpu.index} ({gpu.name}, {gpu.pci_bus_id}"
    return f"{head}, {gpu.uuid})" if with_uuid else f"GPU {gpu.index} ({gpu.name})"


def _count(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def change_words(plan: GpuPlan, geometry: Geometry | None) -> str:
    """One line saying what the plan changes, e.g. "destroy 1 GI, create 7 x 1g.5gb"."""
    kinds = Counter(a.kind for a in plan.actions)
    words = []
    if kinds["stop_process"]:
        n = kinds["stop_process"]
        words.append(f"stop {n} process" if n == 1 else f"stop {n} processes")
    words += mode_words(kinds, geometry)
    if kinds["reboot"]:
        words.append("reboot")
    if kinds["destroy_ci"]:
        words.append("destroy " + _count(kinds["destroy_ci"], "CI"))
    if kinds["destroy_gi"]:
        words.append("destroy " + _count(kinds["destroy_gi"], "GI"))
    if plan.created:
        words.append("create " + placed.summary(placed.GpuLayout(placed.ENABLED, plan.created), geometry))
    elif kinds["create_ci"]:
        words.append("create " + _count(kinds["create_ci"], "CI set"))
    return ", ".join(words) or "no change"


def mode_words(kinds: Counter, geometry: Geometry | None) -> list[str]:
    """How the MIG mode changes, in words: "enable MIG, then reset the GPU (Ampere)", or "enable MIG
    (Hopper: effective at once when idle; reset only if it stays pending)"."""
    arch = geometry.architecture if geometry is not None and geometry.architecture != "unknown" else ""
    mode = "enable MIG" if kinds["enable_mig"] else "disable MIG" if kinds["disable_mig"] else ""
    if kinds["settle_mig"]:
        return [f"{mode} ({arch + ': ' if arch else ''}effective at once when idle; reset only if it stays pending)"]
    if kinds["reset_gpu"]:
        reset = f"reset the GPU ({arch})" if arch else "reset the GPU"
        return [f"{mode}, then {reset}" if mode else reset]
    return [mode] if mode else []


def operation_name(plan: GpuPlan, geometry: Geometry | None) -> str:
    """Name shared by every host making the same change on the same GPU slot (no UUID in it)."""
    label = gpu_label(plan.gpu, with_uuid=False)
    if plan.blocked:
        return f"MIG {label}: blocked"
    if plan.converged:
        return f"MIG {label}: already {placed.summary(plan.live, geometry)}"
    return f"MIG {label}: {change_words(plan, geometry)}"


def blocked_message(plan: GpuPlan) -> str:
    return f"MIG blocked, {plan.gpu.uuid}: {plan.blocked}"


# ---------------------------------------------------------------- execute-time callbacks

def _fail(message: str) -> FunctionCommand:
    def fail(state, host):
        host.log_styled(message, fg="red", log_func=logger.error)
        return False

    return FunctionCommand(fail, (), {})


def _read(host_) -> dict[str, GpuState]:
    """A fresh snapshot: only on the paths where the GPU did something other than planned
    (a refused reset, a reboot), never on the way to a planned result."""
    return host_.get_fact(MigSnapshot)


def _create_cis(action) -> FunctionCommand:
    """-cci in a GPU instance created moments ago (mig.plan.Action.command_now finds its ID)."""

    def create(state, host):
        def run(command: str) -> tuple[int, str]:
            ok, out = host.run_shell_command(StringCommand(command), print_output=state.print_output)
            return (0 if ok else 1), "\n".join(out.stdout_lines)

        try:
            command = action.command_now(run)
        except smi.ParseError as e:
            host.log_styled(f"MIG {action.description}: {e}", fg="red", log_func=logger.error)
            return False
        ok, out = host.run_shell_command(StringCommand(command),
                                         print_output=state.print_output, print_input=state.print_input)
        if not ok:
            host.log_styled(f"MIG {action.description}: {' '.join(out.stderr_lines)}", fg="red",
                            log_func=logger.error)
        return ok

    fc = FunctionCommand(create, (), {})
    fc.command = action.command
    return fc


def _check_after_reboot(plan: GpuPlan, geometry: Geometry, label: str) -> FunctionCommand:
    """After a reboot the boot unit has replayed the record: the GPU must now hold the target."""

    def check(state, host):
        gpu = _read(host).get(plan.gpu.uuid)
        found = placed.live(gpu) if gpu else None
        if found == plan.target:
            return True
        host.log_styled(f"MIG {label}: after the reboot it holds "
                        f"{placed.summary(found, geometry) if found else 'nothing (not listed)'}, expected "
                        f"{placed.summary(plan.target, geometry)} (check migfleet-mig.service on the host)",
                        fg="red", log_func=logger.error)
        return False

    return FunctionCommand(check, (), {})


def _run_reset(state, host, command: str, plan: GpuPlan, desired, geometry: Geometry, policy,
               outcome: dict) -> bool:
    """Runs a reset; a refused one is recorded (the generator then plans a reboot where the policy
    allows) or fails with the planner's reason."""
    ok, output = host.run_shell_command(StringCommand(command), print_output=state.print_output,
                                        print_input=state.print_input)
    if ok:
        return True
    outcome["refused"] = "\n".join(output.stderr_lines or output.stdout_lines).strip()
    gpu = _read(host).get(plan.gpu.uuid)
    again = plan_gpu(gpu, desired, geometry, replace(policy, reset_refused=True)) if gpu else None
    if again is not None and again.converged:     # the mode change took effect without it
        host.log(f"MIG GPU {plan.gpu.uuid}: reset refused ({outcome.pop('refused')}), and not needed: "
                 "the GPU is already as planned")
        return True
    outcome["plan"] = again
    if again is not None and again.needs_reboot and not again.blocked:
        host.log_styled(f"MIG GPU {plan.gpu.uuid}: reset refused ({outcome['refused']}); rebooting",
                        fg="yellow", log_func=logger.warning)
        return True
    why = again.blocked if again is not None else "the GPU is no longer listed"
    host.log_styled(f"MIG {why} [{plan.gpu.uuid}; nvidia-smi said: {outcome['refused']}]",
                    fg="red", log_func=logger.error)
    return False


def _reset(action, plan: GpuPlan, desired, geometry: Geometry, policy, outcome: dict) -> FunctionCommand:
    """The planned reset (Ampere): refused, it goes as `_run_reset` says."""

    def reset(state, host):
        return _run_reset(state, host, action.command, plan, desired, geometry, policy, outcome)

    fc = FunctionCommand(reset, (), {})
    fc.command = action.command
    return fc


def _settle(action, plan: GpuPlan, desired, geometry: Geometry, policy, outcome: dict) -> FunctionCommand:
    """Hopper and later, right after `-mig`: the MIG mode read again; in effect, nothing more is
    done; still pending, the GPU is reset (refused, it goes as `_run_reset` says)."""
    want = plan.target.mig
    word = "Enabled" if want else "Disabled"

    def settle(state, host):
        ok, out = host.run_shell_command(StringCommand(action.command), print_output=state.print_output,
                                         print_input=state.print_input)
        try:
            current, pending = smi.parse_mig_mode("\n".join(out.stdout_lines))
        except smi.ParseError as e:
            said = " ".join(out.stderr_lines).strip()
            host.log_styled(f"MIG GPU {plan.gpu.uuid}: reading MIG mode again: {e}{'; ' + said if said else ''}",
                            fg="red", log_func=logger.error)
            return False
        if current == want:
            host.log(f"MIG GPU {plan.gpu.uuid}: MIG mode {word} in effect at once; no GPU reset")
            return True
        host.log(f"MIG GPU {plan.gpu.uuid}: MIG mode {word} still pending; resetting the GPU")
        return _run_reset(state, host, smi.reset_gpu(plan.gpu.index), plan, desired, geometry, policy, outcome)

    fc = FunctionCommand(settle, (), {})
    fc.command = action.command
    return fc


# ---------------------------------------------------------------- the operation

def plan_commands(plan: GpuPlan, desired, geometry: Geometry, policy, reboot_args: dict | None = None,
                  leave_first: str | None = None) -> Iterator:
    """The commands of one GPU's plan: our own containers on what changes leave first; a reset that
    is refused reboots (where allowed), as does a Hopper mode change that stays pending and whose
    reset is refused; custom compute instances go into the new GPU instances."""
    label = gpu_label(plan.gpu)
    if plan.blocked:
        yield _fail(blocked_message(plan))
        return
    if leave_first:
        yield leave_first
    done = 0
    try:
        for action in plan.actions:
            if action.kind == "reboot":
                yield from server.reboot._inner(**(reboot_args or {}))
                yield _check_after_reboot(plan, geometry, label)
                return
            if action.kind in ("reset_gpu", "settle_mig"):
                outcome: dict = {}
                yield (_reset if action.kind == "reset_gpu" else _settle)(action, plan, desired, geometry, policy,
                                                                          outcome)
                if outcome.get("plan") is not None:     # refused, and allowed to reboot instead
                    yield from plan_commands(outcome["plan"], desired, geometry,
                                             replace(policy, reset_refused=True), reboot_args)
                    return
            elif action.gi_start is not None:
                yield _create_cis(action)
            else:
                yield StringCommand(action.command)
            done += 1
    except GeneratorExit:
        # pyinfra closes the generator when a command fails; at execute time the GPU may be
        # half-way between its old and new layout: say so, with what was done.
        if host.state.is_executing and done:
            host.log_styled(
                f"MIG {label}: stopped after {done} of {len(plan.actions)} steps "
                f"(last done: {plan.actions[done - 1].description}); the GPU is partly changed. "
                f"Fix the cause and re-run the deploy: it plans again from the GPU's state.",
                fg="red", log_func=logger.error)
        raise


@operation()
def gpu(plan: GpuPlan, desired, geometry: Geometry, policy, reboot_args: dict | None = None,
        leave_first: str | None = None):
    """
    Converge one GPU to its planned MIG layout (planned once, from the run's one host read).

    + plan: its mig.plan.GpuPlan (target layout and actions)
    + desired: its mig.desired.DesiredGpu, to plan again if a reset is refused
    + geometry: its model's Geometry
    + policy: mig.plan.Policy (force, reboot policy, our own PIDs to ignore)
    + reboot_args: passed to server.reboot when the plan needs one
    + leave_first: command taking migfleet's Tritons on instances the plan destroys out of Envoy's
      rotation, draining and stopping them (the driver refuses to destroy a busy instance)
    """
    if plan.converged:
        host.noop(f"MIG {gpu_label(plan.gpu)} already matches: {placed.summary(plan.live, geometry)}")
        return
    yield from plan_commands(plan, desired, geometry, policy, reboot_args, leave_first)
