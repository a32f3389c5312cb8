"""Model repository on the host, then one Triton container per MIG device (after the MIG layout).

Tritons are planned from the layouts this run's MIG changes leave (the targets), so `--dry`
already lists which Tritons start; the host starts them on the MIG device at their place.
"""
from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy

from migfleet.deploys import context
from migfleet.operations import files, serving
from migfleet.serving import triton
from migfleet.serving.settings import repo_path

UNIT_NAME = "migfleet-tritons.service"


def local_tree(root) -> dict[str, bytes]:
    """The local model repository: relative path -> content (caches skipped)."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"}


def models_digest(tree: dict[str, bytes]) -> str:
    return files.sha256(b"".join(k.encode() + b"\0" + files.sha256(v).encode() for k, v in sorted(tree.items())))[:16]


@deploy("Triton per MIG device")
def deploy_tritons():
    try:
        context.mig_work()
    except context.HostMigError:
        return      # the MIG deploy has failed this host already
    s, v = context.settings(), context.view()
    local = repo_path(s["triton_model_repository"])
    if not local.is_dir():
        raise FileNotFoundError(f"triton_model_repository {local} is not a directory")
    models = local_tree(local)
    files.tree(name="Model repository", remote_dir=s["triton_model_dir"], files=models,
               digests_now=v.trees.get(s["triton_model_dir"]))
    serving.image_present(name="Triton image", image=s["triton_image"], present=s["triton_image"] in v.images,
                          registry_user=s["triton_registry_user"], key_env=s["triton_ngc_key_env"])
    specs = triton.specs_for(context.layouts_after(), s, models_digest(models))
    files.tree(name="Triton run files", remote_dir=triton.RUN_DIR,
               files={f"{spec.name}{triton.RUN_SUFFIX}": spec.run_file().encode() for spec in specs},
               digests_now=v.trees.get(triton.RUN_DIR))
    plan = triton.plan_tritons(specs, v.containers, context.stable_devices())
    serving.tritons(name="Triton containers", plan=plan, timeout=s["triton_ready_timeout"], lib_dir=context.LIB_DIR)
    unit_text = (context.PACKAGE / "files" / "systemd" / UNIT_NAME).read_text()
    files.unit(name="Triton re-bind unit", unit=UNIT_NAME, text=unit_text,
               digest_now=v.files.get(f"/etc/systemd/system/{UNIT_NAME}"), enabled_now=v.enabled.get(UNIT_NAME, ""))
