"""Model repository on the host, then one Triton container per MIG device (after the MIG layout)."""
from __future__ import annotations

import hashlib
from io import StringIO
from pathlib import Path

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import files, systemd

from migfleet.serving import triton
from migfleet.operations import serving
from migfleet.serving.settings import repo_path, resolve

REPO = Path(__file__).resolve().parents[2]
REBIND_UNIT = "migfleet-tritons.service"
REBIND_UNIT_SOURCE = Path(__file__).resolve().parents[1] / "files" / "systemd" / REBIND_UNIT


def models_digest(root) -> str:
    """Digest of the local model repository (paths and contents, caches skipped)."""
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if "__pycache__" in path.parts or path.suffix == ".pyc":
            continue
        h.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


@deploy("Triton per MIG device")
def deploy_tritons():
    settings = resolve(host.data)
    local_models = repo_path(settings["triton_model_repository"])
    if not local_models.is_dir():
        raise FileNotFoundError(f"triton_model_repository {local_models} is not a directory")
    files.sync(name="Model repository", src=str(local_models), dest=settings["triton_model_dir"],
               delete=True, exclude=["*.pyc"], exclude_dir=["__pycache__"], mode="644", dir_mode="755")
    serving.image_present(name="Triton image", image=settings["triton_image"],
                          registry_user=settings["triton_registry_user"],
                          key_env=settings["triton_ngc_key_env"])
    digest = models_digest(local_models)
    serving.tritons(name="Triton containers", settings=settings, models_digest=digest)
    install_rebind(settings, digest)


def install_rebind(settings, digest: str) -> None:
    """At boot, after the MIG unit re-created the instances: each Triton runs again on the MIG
    device now at its place (new MIG UUIDs), from the run files written here."""
    serving.triton_run_files(name="Triton run files for the boot-time re-bind", settings=settings,
                             models_digest=digest)
    files.put(name="Triton re-bind script", src=StringIO(triton.rebind_script()), dest=triton.REBIND_SCRIPT,
              mode="755", user="root", group="root")
    unit = files.put(name="Triton re-bind unit", src=str(REBIND_UNIT_SOURCE),
                     dest=f"/etc/systemd/system/{REBIND_UNIT}", mode="644", user="root", group="root")
    systemd.daemon_reload(name="Reload systemd units for the Triton re-bind", _if=unit.did_change)
    systemd.service(name="Enable the Triton re-bind unit", service=REBIND_UNIT, running=None, enabled=True)
