"""MIG layouts: plan every GPU of the host against host.data.mig_layout, then converge each GPU.

One snapshot read per host at prepare time; each GPU's operation re-reads at execute time.
A host with a blocked GPU is failed before anything is queued for it.
"""
from __future__ import annotations

import zlib
from contextlib import contextmanager
from dataclasses import replace
from io import StringIO
from pathlib import Path

from pyinfra import host, logger
from pyinfra.api import deploy
from pyinfra.context import ctx_host
from pyinfra.operations import files, systemd

from migfleet.mig import catalog
from migfleet.mig import desired as layout
from migfleet.mig import plan as planner
from migfleet.serving import triton
from migfleet.serving.containers import LABEL_ROLE
from migfleet.facts.mig import ContainerPids, MigGeometry, MigSnapshot
from migfleet.mig.geometry import Geometry
from migfleet.operations import mig

REPO = Path(__file__).resolve().parents[2]
UNIT_NAME = "migfleet-mig.service"
UNIT_SOURCE = Path(__file__).resolve().parents[1] / "files" / "systemd" / UNIT_NAME
UNIT_PATH = f"/etc/systemd/system/{UNIT_NAME}"
APPLY_SCRIPT = "/usr/local/sbin/migfleet-mig-apply"
OWN_CONTAINERS_LABEL = f"{LABEL_ROLE}={triton.ROLE}"


# The unit re-run while instances exist (they never survive a reboot) must not touch them.
BOOT_GUARD = ("if nvidia-smi mig -lgi 2>/dev/null | grep -q 'MIG [0-9]'; then\n"
              "  echo 'migfleet-boot: MIG instances exist already, nothing to do'; exit 0\n"
              "fi")


def boot_script(desired, geometries) -> str:
    """planner.boot_script, made idempotent: a no-op once any GPU instance exists."""
    script = planner.boot_script(desired, geometries)
    head, sep, rest = script.partition("set -eu\n")
    if not sep:
        raise ValueError("planner.boot_script output has no 'set -eu' line to guard")
    return head + sep + BOOT_GUARD + "\n" + rest


def geometry_for(gpu) -> Geometry:
    """The built-in geometry of the GPU's model, else the one read off the GPU (-lgip/-lgipp)."""
    return catalog.lookup(gpu.name) or host.get_fact(MigGeometry, gpu_index=gpu.index)


@contextmanager
def shared_slot(key: str):
    """Hosts making the same change share one operation (one row in --dry, run in parallel);
    different changes on the same GPU slot get their own rows, named for what they do."""
    host.loop_position.append(zlib.crc32(key.encode()))
    try:
        yield
    finally:
        host.loop_position.pop()


def _log_plan(gpu, plan, geometry) -> None:
    if plan.converged:
        host.noop(f"MIG {mig.gpu_label(gpu)} already matches: {mig.layout_words(gpu)}")
        return
    host.log(f"MIG {mig.gpu_label(gpu)}: {mig.layout_words(gpu)} -> {mig.change_words(plan, geometry)}")
    if host.state.print_noop_info:          # -v: the commands too
        for action in plan.actions:
            host.log(f"    {action.command}")


@deploy("Configure MIG")
def configure_mig() -> None:
    snapshot = host.get_fact(MigSnapshot)
    if not snapshot:
        # An unreadable snapshot has already failed the host (pyinfra logged why); else no GPU.
        if ctx_host.get() not in host.state.failed_hosts:
            _fail_host("MIG: nvidia-smi lists no GPU on this host")
        return

    try:
        desired = layout.resolve(host.data.get("mig_layout") or [], snapshot)
    except layout.RuleError as e:
        return _fail_host(f"MIG: {e}")
    policy = planner.Policy.from_host_data(host.data)
    if any(gpu.processes for gpu in snapshot.values()):
        policy = replace(policy, ignore_pids=host.get_fact(ContainerPids, label=OWN_CONTAINERS_LABEL))
    geometries = {uuid: geometry_for(snapshot[uuid]) for uuid in desired}
    if not all(geometries.values()):
        return _fail_host("MIG: could not read the MIG geometry of "
                          + ", ".join(mig.gpu_label(snapshot[u]) for u, g in geometries.items() if not g))
    try:
        plans = {uuid: planner.plan_gpu(snapshot[uuid], want, geometries[uuid], policy)
                 for uuid, want in desired.items()}
    except planner.LayoutError as e:
        return _fail_host(f"MIG: {e.where}: {e.reason}" if e.where else f"MIG: {e.reason}")

    blocked = [uuid for uuid, plan in plans.items() if plan.blocked]
    if blocked:
        for uuid in blocked:
            host.log_styled(mig.blocked_message(snapshot[uuid], plans[uuid]), fg="red", log_func=logger.error)
        return _fail_host("MIG: host left untouched, no GPU changed; free the GPU or set mig_force "
                          "(or allow a reboot), then re-run")

    for uuid, plan in plans.items():
        _log_plan(snapshot[uuid], plan, geometries[uuid])

    install_boot_unit(boot_script(desired, geometries))

    for uuid, plan in plans.items():
        name = mig.operation_name(snapshot[uuid], plan, geometries[uuid])
        with shared_slot(name):
            mig.gpu(name=name, gpu_uuid=uuid, desired=desired[uuid], geometry=geometries[uuid],
                    policy=policy, prepared=snapshot, own_containers=triton.remove_gpu_command(uuid))


def _fail_host(message: str) -> None:
    """Fail this host at prepare time: nothing queued for it runs, other hosts go on."""
    host.log_styled(message, fg="red", log_func=logger.error)
    host.state.fail_hosts({ctx_host.get()})       # the Host itself, not the context proxy


def install_boot_unit(script: str) -> None:
    """The boot-time apply: the layout from an empty GPU, before docker starts (not started now)."""
    files.put(name="MIG boot script", src=StringIO(script), dest=APPLY_SCRIPT, mode="755",
              user="root", group="root")
    unit = files.put(name="MIG boot unit", src=str(UNIT_SOURCE), dest=UNIT_PATH, mode="644",
                     user="root", group="root")
    systemd.daemon_reload(name="Reload systemd units", _if=unit.did_change)
    systemd.service(name="Enable MIG boot unit", service=UNIT_NAME, running=None, enabled=True)
