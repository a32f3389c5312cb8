"""Model repository on the host, then one Triton container per MIG device (after the MIG layout).

Tritons are planned from the layouts this run's MIG changes leave (the targets), so `--dry`
already lists which Tritons start, which are replaced and which leave Envoy's rotation; the
host starts them on the MIG device at their place and puts them into rotation once ready.
"""
from __future__ import annotations


from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import server

from migfleet.deploys import context, serving_plan
from migfleet.digest import sha256
from migfleet.operations import files, serving
from migfleet.serving import endpoints, triton

UNIT_NAME = "migfleet-tritons.service"


def _endpoints_differ(v, plan) -> bool:
    """Envoy's endpoint files on the host are not those of the Tritons that stay."""
    want = endpoints.eds_docs(plan.unchanged, endpoints.models_of(plan.unchanged))
    # (the host read holds the two Triton clusters' files; the models' follow them in every sync)
    return any(v.files.get(context.envoy_path(n)) != sha256(t) for n, t in want.items() if n in context.ENVOY_FILES)


def _models_change(v, plan) -> list[str]:
    """Tritons that stay whose run file on the host lists other models: their config hash is the
    same, so only what they load changes."""
    now = v.trees.get(triton.RUN_DIR)
    digests = now.digests() if now else {}
    return [t.name for t in plan.unchanged if t.models and digests.get(f"{t.name}{triton.RUN_SUFFIX}")
            != sha256(t.to_json())]


@deploy("Triton per MIG device")
def deploy_tritons():
    try:
        context.mig_work()
    except context.HostMigError:
        return      # the MIG deploy has failed this host already
    s, v = context.settings(), context.view()
    if not context.queue_tree("Model repository", s["triton_model_dir"], serving_plan.local_models(),
                              setting="triton_model_dir"):
        return
    context.queue(serving.image_present, name="Triton image", image=s["triton_image"], present=s["triton_image"] in v.images,
                          registry_user=s["triton_registry_user"], key_env=s["triton_ngc_key_env"])
    specs = serving_plan.triton_specs()
    context.queue_tree("Triton run files", triton.RUN_DIR,
                       {f"{spec.name}{triton.RUN_SUFFIX}": spec.to_json().encode() for spec in specs})
    work = serving_plan.serving_work()
    if work.plan.to_remove:
        host.log(f"Tritons leaving Envoy's rotation, drained, then stopped: {', '.join(work.plan.to_remove)}")
    if work.rolling:
        host.log(f"Tritons replaced one at a time, each drained first: {', '.join(work.rolling)}")
    fresh = [t.name for t in work.plan.to_start if t.name not in work.rolling]
    if fresh:
        host.log(f"Tritons started, then into Envoy's rotation: {', '.join(fresh)}")
    for model, lender, going in work.lends:
        host.log(f"lend: {model} loaded into {lender} and healthy in its clusters before {going} stop(s); "
                 "given back once the new Tritons serve it")
    if work.drains:
        host.log(f"drain: no Triton that stays can take {', '.join(work.drains)}: the host's health endpoint "
                 "answers 503 before the first Triton goes, 200 again once every model is served")
    moving = _models_change(v, work.plan)
    lenders = sorted({lender for _, lender, _ in work.lends} - set(work.rolling) - set(moving))
    if moving:
        host.log(f"Tritons whose models change (new ones loaded and in rotation before old ones leave): "
                 f"{', '.join(moving)}")
    context.queue(serving.tritons, name="Triton containers", plan=work.plan, rolling=work.rolling, lib_dir=context.LIB_DIR,
                    sync=_endpoints_differ(v, work.plan), moving=sorted({*moving, *lenders}))
    measured = context.MEASURE_MARKER in v.files      # an interrupted `migfleet measure` left the host drained
    if measured:
        host.log("a `migfleet measure` run was interrupted here: its layout and Triton are replaced by the "
                 "inventory's, then the host rejoins its load balancer")
    if work.host_drain or measured:
        context.queue(serving.host_rejoins, name="Host back in the load balancer", admin_port=s["envoy_admin_port"])
    if measured:
        context.queue(server.shell, name="Interrupted measure run cleared", commands=[f"rm -f {context.MEASURE_MARKER}"])
    unit_text = (context.PACKAGE / "files" / "systemd" / UNIT_NAME).read_text()
    context.queue(files.unit, name="Triton re-bind unit", unit=UNIT_NAME, text=unit_text,
               digest_now=v.files.get(f"/etc/systemd/system/{UNIT_NAME}"), enabled_now=v.enabled.get(UNIT_NAME, ""))
