"""The thin lab's hosts (`python -m lab up --hosts N --thin`), MIG part only.

    pyinfra -y inventories/thin.py deploy.py
    python -m migfleet rollout inventories/thin.py

Every host is in the `thin` group, with `mig_only: true`: the deploy runs the inventory check and the
MIG layouts (boot record and unit included), nothing of serving; the spec suite skips its serving
tests and drift its serving checks. Rollout: one canary, then batches of 10 % of the hosts, stopping
once more than 2 % of them failed.
"""
import json
import os
from pathlib import Path

_STATE_DIR = Path(os.environ.get("MIGFLEET_THIN_DIR", "/var/lib/migfleet-thin"))
_HANDOFF = _STATE_DIR / "inventory.json"

if not _HANDOFF.is_file():
    raise RuntimeError(f"no thin lab is up: {_HANDOFF} does not exist; bring it up with "
                       "`python -m lab up --hosts N --thin`")
try:
    _lab = json.loads(_HANDOFF.read_text())
    _hosts = _lab["hosts"]
    _ssh = {
        "ssh_user": _lab["ssh_user"],
        "ssh_key": _lab["ssh_key"],
        "ssh_known_hosts_file": _lab["known_hosts"],
        "ssh_strict_host_key_checking": "yes",
    }
except (ValueError, KeyError, TypeError) as _e:
    raise RuntimeError(f"thin lab hand-off {_HANDOFF} is not what `python -m lab up --thin` writes: {_e!r}") from None
if not _hosts:
    raise RuntimeError(f"no thin lab is up: {_HANDOFF} lists no hosts")

thin = (
    [(h["name"], {"ssh_hostname": h["address"], "gpu_models": list(h["gpu_models"]), **_ssh})
     for h in _hosts],
    {
        "mig_only": True,
        "mig_layout": [
            {"gpus": {"model": "NVIDIA A100-SXM4-40GB"}, "instances": [{"profile": "1g.5gb", "count": 7}]},
            {"gpus": {"model": "NVIDIA A100-SXM4-80GB"},
             "instances": [{"profile": "3g.40gb", "count": 1}, {"profile": "2g.20gb", "count": 1},
                           {"profile": "1g.10gb", "count": 2}]},
            {"gpus": {"model": "NVIDIA H100 80GB HBM3"}, "instances": [{"profile": "3g.40gb", "count": 2}]},
            {"gpus": {"model": "NVIDIA H200"}, "instances": [{"profile": "3g.71gb", "count": 2}]},
        ],
        "rollout_canary": 1,
        "rollout_batch_percent": 10,
        "rollout_max_failures": "2%",
    },
)
