"""Model repository on the host, then one Triton container per MIG device (after the MIG layout)."""
from __future__ import annotations

import hashlib

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import files

from migfleet.operations import serving
from migfleet.serving_settings import repo_path, resolve



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
    serving.tritons(name="Triton containers", settings=settings, models_digest=models_digest(local_models))
