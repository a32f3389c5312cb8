"""MIG layouts: plan every GPU of the host against host.data.mig_layout, then converge each GPU.

One snapshot read per host at prepare time; each GPU's operation re-reads at execute time.
A host with a blocked GPU is failed before anything is queued for it.
"""
from __future__ import annotations

import zlib
from contextlib import contextmanager
from io import StringIO
from pathlib import Path

from pyinfra import host, logger
from pyinfra.api import deploy
from pyinfra.operations import files, systemd

from migfleet import catalog, layout, planner
from migfleet.facts import MigGeometry, MigSnapshot
from migfleet.geometry import Geometry
from migfleet.operations import mig

REPO = Path(__file__).resolve().parents[1]
UNIT_NAME = "migfleet-mig.service"
UNIT_SOURCE = REPO / "files" / "systemd" / UNIT_NAME
UNIT_PATH = f"/etc/systemd/system/{UNIT_NAME}"
APPLY_SCRIPT = "/usr/local/sbin/migfleet-mig-apply"


def policy_from(data) -> planner.Policy:
    return planner.Policy(force=bool(data.get("mig_force", False)),
                          reboot=data.get("mig_reboot_policy", "never"))


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
        if host not in host.state.failed_hosts:
            _fail_host("MIG: nvidia-smi lists no GPU on this host")
        return

    try:
        desired = layout.resolve(host.data.get("mig_layout") or [], snapshot)
    except layout.RuleError as e:
        return _fail_host(f"MIG: {e}")
    policy = policy_from(host.data)
    geometries = {uuid: geometry_for(snapshot[uuid]) for uuid in desired}
    if not all(geometries.values()):
        return _fail_host("MIG: could not read the MIG geometry of "
                          + ", ".join(mig.gpu_label(snapshot[u]) for u, g in geometries.items() if not g))
    plans = {uuid: planner.plan_gpu(snapshot[uuid], want, geometries[uuid], policy)
             for uuid, want in desired.items()}

    blocked = [uuid for uuid, plan in plans.items() if plan.blocked]
    if blocked:
        for uuid in blocked:
            host.log_styled(mig.blocked_message(snapshot[uuid], plans[uuid]), fg="red", log_func=logger.error)
        return _fail_host("MIG: host left untouched, no GPU changed; free the GPU or set mig_force "
                          "(or allow a reboot), then re-run")

    for uuid, plan in plans.items():
        _log_plan(snapshot[uuid], plan, geometries[uuid])

    install_boot_unit(planner.boot_script(desired, geometries))

    for uuid, plan in plans.items():
        name = mig.operation_name(snapshot[uuid], plan, geometries[uuid])
        with shared_slot(name):
            mig.gpu(name=name, gpu_uuid=uuid, desired=desired[uuid], geometry=geometries[uuid],
                    policy=policy, prepared=snapshot)


def _fail_host(message: str) -> None:
    """Fail this host at prepare time: nothing queued for it runs, other hosts go on."""
    host.log_styled(message, fg="red", log_func=logger.error)
    host.state.fail_hosts({host})


def install_boot_unit(script: str) -> None:
    """The boot-time apply: the layout from an empty GPU, before docker starts (not started now)."""
    files.put(name="MIG boot script", src=StringIO(script), dest=APPLY_SCRIPT, mode="755",
              user="root", group="root")
    unit = files.put(name="MIG boot unit", src=str(UNIT_SOURCE), dest=UNIT_PATH, mode="644",
                     user="root", group="root")
    systemd.daemon_reload(name="Reload systemd units", _if=unit.did_change)
    systemd.service(name="Enable MIG boot unit", service=UNIT_NAME, running=None, enabled=True)
