"""MIG layouts: plan every GPU of the host from the run's one host read, then converge each GPU.

A host whose layout cannot be planned, with a blocked GPU, or lacking a prerequisite
(migfleet.facts.preflight: its plan is still shown) is failed before anything is queued for it. The boot record (the planned target layouts) and the unit replaying it at boot
are written before any GPU changes, so a host that reboots mid-change comes back as planned.
"""
from __future__ import annotations

import zlib
from contextlib import contextmanager

from pyinfra import host, logger
from pyinfra.api import deploy

from migfleet.deploys import context, serving_plan
from migfleet.mig import boot, placed
from migfleet.operations import files, mig, serving

UNIT_NAME = "migfleet-mig.service"


@contextmanager
def shared_slot(key: str):
    """Hosts making the same change share one operation (one row in --dry, run in parallel);
    different changes on the same GPU slot get their own rows, named for what they do."""
    host.loop_position.append(zlib.crc32(key.encode()))
    try:
        yield
    finally:
        host.loop_position.pop()


def _log(work) -> None:
    plan, geo = work.plan, work.geometry
    if plan.converged:
        return
    host.log(f"MIG {mig.gpu_label(plan.gpu)}: {placed.summary(plan.live, geo)} -> {mig.change_words(plan, geo)}")
    if host.state.print_noop_info:          # -v: the commands too
        for action in plan.actions:
            host.log(f"    {action.command}")


def _fail_lacking(e: context.HostLacks) -> None:
    """A host that lacks a prerequisite: its MIG plan is still shown, then one line per lack."""
    changing = [w for w in (e.work or {}).values() if not w.plan.converged]
    if changing:
        host.log("MIG plan, not applied while the host lacks what follows:")
        for w in changing:
            _log(w)
    for line in e.lines[:-1]:
        host.log_styled(line, fg="red", log_func=logger.error)
    context.fail_host(e.lines[-1])


@deploy("Configure MIG")
def configure_mig() -> None:
    try:
        work = context.mig_work()
    except context.HostLacks as e:
        return _fail_lacking(e)
    except context.HostMigError as e:
        return context.fail_host(str(e))
    blocked = [w for w in work.values() if w.plan.blocked]
    if blocked:
        for w in blocked:
            host.log_styled(mig.blocked_message(w.plan), fg="red", log_func=logger.error)
        return context.fail_host("MIG: host left untouched, no GPU changed; free the GPU or set mig_force "
                          "(or allow a reboot), then re-run")
    for w in work.values():
        _log(w)

    v = context.view()
    if context.mig_setting("mig_only"):     # else the toolkit deploy syncs it: the boot unit runs this code
        if not context.queue_tree("migfleet host code", context.LIB_DIR, context.host_code()):
            return
    context.queue(files.content, name="MIG boot record", path=boot.RECORD_PATH, text=context.record(),
                  digest_now=v.files.get(boot.RECORD_PATH))
    unit_text = (context.PACKAGE / "files" / "systemd" / UNIT_NAME).read_text()
    context.queue(files.unit, name="MIG boot unit", unit=UNIT_NAME, text=unit_text,
               digest_now=v.files.get(f"/etc/systemd/system/{UNIT_NAME}"), enabled_now=v.enabled.get(UNIT_NAME, ""))

    # mig_only: nothing of migfleet serves on the host, no Triton to take out of rotation
    serving_work = None if context.mig_setting("mig_only") else serving_plan.serving_work()
    if serving_work is not None and serving_work.host_drain:
        s = context.settings()
        host.log("the change takes all of this host's serving capacity: its health endpoint fails first")
        context.queue(serving.host_leaves, name="Host leaves the load balancer", admin_port=s["envoy_admin_port"],
                            drain_seconds=s["envoy_drain_seconds"])
    holders = context.services_to_stop()
    if holders:
        host.log(f"MIG: {', '.join(holders)} hold the GPUs: stopped for the MIG mode change or reset, "
                 "started again after")
        context.queue(serving.services_stopped, name="Stop the services holding the GPUs", services=holders)
    for uuid, w in work.items():
        name = mig.operation_name(w.plan, w.geometry)
        leaving = serving_work.at_once.get(uuid, ()) if serving_work is not None else ()
        if leaving and not w.plan.converged:
            host.log(f"MIG {mig.gpu_label(w.plan.gpu)}: Tritons leaving Envoy's rotation first: {', '.join(leaving)}")
        with shared_slot(name):
            context.queue(mig.gpu, name=name, plan=w.plan, desired=w.desired, geometry=w.geometry, policy=w.policy,
                    leave_first=serving.rotation_command("drain", leaving, context.LIB_DIR) if leaving else None)
    if holders:
        context.queue(serving.services_started, name="Start the services holding the GPUs again", services=holders)
