"""pyinfra operations converging one GPU's MIG layout to a planner.GpuPlan.

The operation body runs twice in pyinfra 3: at prepare time (change detection, with the snapshot
the task already read) and at execute time, where it re-reads the live snapshot and re-plans, so
what runs is always planned from the state it changes. Commands are the planner's, yielded as is.
"""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace

from pyinfra import host, logger
from pyinfra.api import FunctionCommand, StringCommand, operation
from pyinfra.api.output import format_text
from pyinfra.operations import server

from migfleet.mig import plan as planner
from migfleet.facts.mig import MigSnapshot
from migfleet.mig.geometry import Geometry
from migfleet.mig.state import GpuState

_CGI = re.compile(r"-cgi\s+(\S+)")


# ---------------------------------------------------------------- words (pure)

def gpu_label(gpu: GpuState, with_uuid: bool = True) -> str:
    return f"GPU {gpu.index} ({gpu.name}, {gpu.uuid})" if with_uuid else f"GPU {gpu.index} ({gpu.name})"


def _count(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _sizes(names: list[str]) -> str:
    counts = Counter(names)
    return ", ".join(f"{n} x {name}" for name, n in counts.items())


def layout_words(gpu: GpuState) -> str:
    """What a GPU holds now, e.g. "7 x 1g.5gb", "MIG enabled, no instances", "MIG disabled"."""
    if not gpu.mig_current:
        return "MIG disabled"
    if not gpu.gpu_instances:
        return "MIG enabled, no instances"
    return _sizes([gi.name for gi in gpu.gpu_instances])


def created_profiles(plan: planner.GpuPlan, geometry: Geometry) -> list[str]:
    """Profile names of the GPU instances the plan creates, read off its `-cgi` commands."""
    names: list[str] = []
    for action in plan.actions:
        if action.kind != "create_gi":
            continue
        m = _CGI.search(action.command)
        if not m:
            raise ValueError(f"create_gi action without -cgi: {action.command!r}")
        for item in m.group(1).split(","):
            names.append(geometry.profile(int(item.split(":")[0])).name)
    return names


def change_words(plan: planner.GpuPlan, geometry: Geometry) -> str:
    """One line saying what the plan changes, e.g. "destroy 1 GI, create 7 x 1g.5gb"."""
    kinds = Counter(a.kind for a in plan.actions)
    words = []
    if kinds["stop_process"]:
        n = kinds["stop_process"]
        words.append(f"stop {n} process" if n == 1 else f"stop {n} processes")
    if kinds["enable_mig"]:
        words.append("enable MIG")
    if kinds["disable_mig"]:
        words.append("disable MIG")
    if kinds["reset_gpu"]:
        words.append("reset")
    if kinds["reboot"]:
        words.append("reboot")
    if kinds["destroy_ci"]:
        words.append("destroy " + _count(kinds["destroy_ci"], "CI"))
    if kinds["destroy_gi"]:
        words.append("destroy " + _count(kinds["destroy_gi"], "GI"))
    created = created_profiles(plan, geometry)
    if created:
        words.append("create " + _sizes(created))
    if kinds["create_ci"] and not created:
        words.append("create " + _count(kinds["create_ci"], "CI"))
    return ", ".join(words) or "no change"


def operation_name(gpu: GpuState, plan: planner.GpuPlan, geometry: Geometry) -> str:
    """Name shared by every host making the same change on the same GPU slot (no UUID in it)."""
    label = gpu_label(gpu, with_uuid=False)
    if plan.blocked:
        return f"MIG {label}: blocked"
    if plan.converged:
        return f"MIG {label}: already {layout_words(gpu)}"
    return f"MIG {label}: {change_words(plan, geometry)}"


def blocked_message(gpu: GpuState, plan: planner.GpuPlan) -> str:
    return f"MIG blocked, {gpu.uuid}: {plan.blocked}"


# ---------------------------------------------------------------- execute-time callbacks

def _fail(message: str) -> FunctionCommand:
    def fail(state, host):
        host.log_styled(message, fg="red", log_func=logger.error)
        return False

    return FunctionCommand(fail, (), {})


def _read(host_) -> dict[str, GpuState]:
    return host_.get_fact(MigSnapshot)


def _check_after_reset(gpu_uuid: str, mig_on: bool, label: str) -> FunctionCommand:
    """After a reset, the GPU must be empty in the wanted mode before anything is created on it."""

    def check(state, host):
        gpu = _read(host).get(gpu_uuid)
        if gpu is None:
            problem = "the GPU is no longer listed by nvidia-smi"
        elif gpu.mig_current != mig_on:
            problem = (f"MIG mode is {'enabled' if gpu.mig_current else 'disabled'} "
                       f"(pending {'enabled' if gpu.mig_pending else 'disabled'}), "
                       f"expected {'enabled' if mig_on else 'disabled'}")
        elif gpu.gpu_instances or gpu.compute_instances:
            problem = f"it still holds {layout_words(gpu)}"
        else:
            return True
        host.log_styled(f"MIG {label}: after the reset {problem}; no instance created",
                        fg="red", log_func=logger.error)
        return False

    return FunctionCommand(check, (), {})


def _check_converged(gpu_uuid: str, desired, geometry: Geometry, policy, label: str) -> FunctionCommand:
    """After a reboot the boot unit has applied the layout: the GPU must now match it."""

    def check(state, host):
        gpu = _read(host).get(gpu_uuid)
        if gpu is None:
            host.log_styled(f"MIG {label}: not listed by nvidia-smi after the reboot",
                            fg="red", log_func=logger.error)
            return False
        plan = planner.plan_gpu(gpu, desired, geometry, policy)
        if plan.converged:
            return True
        host.log_styled(f"MIG {label}: after the reboot it holds {layout_words(gpu)}, which does not "
                        f"match; still to do: {change_words(plan, geometry)} "
                        f"(check migfleet-mig.service on the host)", fg="red", log_func=logger.error)
        return False

    return FunctionCommand(check, (), {})


# ---------------------------------------------------------------- the operation

_TEARS_DOWN = {"destroy_ci", "destroy_gi", "reset_gpu", "disable_mig", "reboot"}


def _reset(command: str, gpu_uuid: str, desired, geometry: Geometry, policy, outcome: dict):
    """Runs the reset; a refused one is recorded (for a reboot) or fails with the planner's reason."""

    def reset(state, host):
        ok, output = host.run_shell_command(StringCommand(command), print_output=state.print_output,
                                            print_input=state.print_input)
        if ok:
            return True
        outcome["refused"] = "\n".join(output.stderr_lines or output.stdout_lines).strip()
        refused = replace(policy, reset_refused=True)
        gpu = _read(host).get(gpu_uuid)
        plan = planner.plan_gpu(gpu, desired, geometry, refused) if gpu else None
        if plan is not None and plan.needs_reboot and not plan.blocked:
            host.log_styled(f"MIG GPU {gpu_uuid}: reset refused ({outcome['refused']}); rebooting",
                            fg="yellow", log_func=logger.warning)
            return True
        why = plan.blocked if plan is not None else "the GPU is no longer listed"
        host.log_styled(f"MIG {why} [{gpu_uuid}; nvidia-smi said: {outcome['refused']}]",
                        fg="red", log_func=logger.error)
        return False

    fc = FunctionCommand(reset, (), {})
    fc.command = command        # what it runs, for -vv output and tests
    return fc


def plan_commands(plan: planner.GpuPlan, gpu: GpuState, desired, geometry: Geometry, policy,
                  reboot_args: dict | None = None, own_containers: str | None = None) -> Iterator:
    """The commands of one GPU's plan with their checks: after a reset the GPU must be empty,
    after a reboot it must match (the boot unit built it)."""
    label = gpu_label(gpu)
    if plan.blocked:
        yield _fail(blocked_message(gpu, plan))
        return
    if own_containers and gpu.gpu_instances and any(a.kind in _TEARS_DOWN for a in plan.actions):
        yield StringCommand(own_containers)
    done = 0
    try:
        for action in plan.actions:
            if action.kind == "reboot":
                # The boot unit rebuilds the layout from an empty GPU; nothing follows it here.
                yield from server.reboot._inner(**(reboot_args or {}))
                yield _check_converged(gpu.uuid, desired, geometry, policy, label)
                return
            if action.kind == "reset_gpu":
                outcome: dict = {}
                yield _reset(action.command, gpu.uuid, desired, geometry, policy, outcome)
                done += 1
                if outcome.get("refused"):      # allowed to reboot instead: plan that
                    refused = replace(policy, reset_refused=True)
                    current = _read(host)[gpu.uuid]
                    yield from plan_commands(planner.plan_gpu(current, desired, geometry, refused),
                                             current, desired, geometry, refused, reboot_args)
                    return
                kinds = {a.kind for a in plan.actions}
                yield _check_after_reset(gpu.uuid, "disable_mig" not in kinds, label)
                continue
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
def gpu(gpu_uuid: str, desired, geometry: Geometry, policy, prepared: dict | None = None,
        reboot_args: dict | None = None, own_containers: str | None = None):
    """
    Converge one GPU, found by UUID, to its desired MIG layout.

    + gpu_uuid: the GPU ("GPU-...")
    + desired: its layout.DesiredGpu
    + geometry: its model's Geometry
    + policy: planner.Policy (force, reboot policy, our own PIDs to ignore)
    + prepared: the MigSnapshot the caller already read, used at prepare time only
    + reboot_args: passed to server.reboot when the plan needs one
    + own_containers: command removing migfleet's own containers on this GPU, run before a change
      that destroys its instances
    """
    snapshot = prepared if prepared is not None and not host.state.is_executing else _read(host)
    current = snapshot.get(gpu_uuid)
    if current is None:
        yield _fail(f"MIG GPU {gpu_uuid}: not listed by nvidia-smi on this host")
        return
    plan = planner.plan_gpu(current, desired, geometry, policy)
    if plan.converged and not plan.blocked:
        host.noop(f"MIG {gpu_label(current)} already matches: {layout_words(current)}")
        return
    yield from plan_commands(plan, current, desired, geometry, policy, reboot_args, own_containers)
