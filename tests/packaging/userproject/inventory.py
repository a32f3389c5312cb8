"""One lab host (lab-h2 unless MIGFLEET_USERPROJECT_HOST names another), reached as the lab says.

Data beyond connection and the lab's mirrors comes from this project's group_data/ (its MIG layout)
and from migfleet's schema defaults; nothing is read from the migfleet repository. The model
repository is this project's models/ (absolute: relative paths are not resolved against the project).
"""
import json
import os
from pathlib import Path

_PROJECT = Path(__file__).resolve().parent
_HANDOFF = Path(os.environ.get("MIGFLEET_LAB_DIR", "/var/lib/migfleet-lab")) / "inventory.json"
_NAME = os.environ.get("MIGFLEET_USERPROJECT_HOST", "lab-h2")

_lab = json.loads(_HANDOFF.read_text())
_host = next(h for h in _lab["hosts"] if h["name"] == _NAME)
_mirror = _lab["apt_repo"].rstrip("/") + "/"

gpu_hosts = [(_host["name"], {
    "ssh_hostname": _host["address"],
    "ssh_user": _lab["ssh_user"],
    "ssh_key": _lab["ssh_key"],
    "ssh_known_hosts_file": _lab["known_hosts"],
    "ssh_strict_host_key_checking": "yes",
    "gpu_models": list(_host["gpu_models"]),
    "toolkit_repo_url": _mirror,
    "toolkit_key_url": _mirror + "gpgkey",
    "triton_image": f"{_lab['registry']}/migfleet-lab/tritonserver:lab",
    "envoy_image": f"{_lab['registry']}/migfleet-lab/envoy:lab",
    "triton_model_repository": str(_PROJECT / "models"),
})]
