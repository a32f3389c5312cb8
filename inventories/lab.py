"""The lab's hosts, read from the hand-off file `python -m lab up` writes.

    pyinfra -y inventories/lab.py deploy.py

Layouts are in group_data/lab.py (every host here is in the `lab` group, named after this file).
"""
import json
import os
from pathlib import Path

_STATE_DIR = Path(os.environ.get("MIGFLEET_LAB_DIR", "/var/lib/migfleet-lab"))
_HANDOFF = _STATE_DIR / "inventory.json"

if not _HANDOFF.is_file():
    raise RuntimeError(f"no lab is up: {_HANDOFF} does not exist; bring it up with "
                       "`python -m lab up` (or bin/lab-deploy)")
try:
    _lab = json.loads(_HANDOFF.read_text())
    _hosts = _lab["hosts"]
    _ssh = {
        "ssh_user": _lab["ssh_user"],
        "ssh_key": _lab["ssh_key"],
        "ssh_known_hosts_file": _lab["known_hosts"],
        "ssh_strict_host_key_checking": "yes",
    }
    _apt_repo = _lab["apt_repo"].rstrip("/") + "/"
    _registry = _lab["registry"]
except (ValueError, KeyError, TypeError) as _e:
    raise RuntimeError(f"lab hand-off {_HANDOFF} is not what `python -m lab up` writes: {_e!r}") from None
_bench = Path(os.environ.get("MIGFLEET_BENCH_CACHE", "/var/cache/migfleet-bench"))
_trixie = _bench / "trixie-root" / "usr" / "lib" / "x86_64-linux-gnu"
if not _hosts:
    raise RuntimeError(f"no lab is up: {_HANDOFF} lists no hosts")

lab = (
    [(h["name"], {"ssh_hostname": h["address"], "gpu_models": list(h["gpu_models"]), **_ssh})
     for h in _hosts],
    {
        # The lab's flat apt repository, signed by the lab key (served as `gpgkey`, like NVIDIA's).
        "toolkit_repo_url": _apt_repo,
        "toolkit_key_url": _apt_repo + "gpgkey",
        "triton_image": f"{_registry}/migfleet-lab/tritonserver:lab",
        "envoy_image": f"{_registry}/migfleet-lab/envoy:lab",
        # The lab's model repository, absolute so that inventories elsewhere that reuse these hosts
        # (tests write them in temporary folders) find it too.
        "triton_model_repository": str(Path(__file__).resolve().parents[1] / "files" / "models"),
        # `migfleet measure`'s perf_analyzer: bench/perftools' cached one (`python bench/perftools.py`
        # fetches it), which a lab host sees through its overlay of this machine's root.
        "measure_perf_analyzer": [str(_trixie / "ld-linux-x86-64.so.2"), "--library-path", str(_trixie),
                                  str(_bench / "perf_analyzer" / "perf_analyzer" / "bin" / "perf_analyzer")],
    },
)
