"""Host-side start of Tritons on the MIG device now at their place (standard library only).

From the run files the deploy wrote (`triton.RUN_DIR`, each with its arguments and config hash)
it finds the MIG UUID at each place and runs the container there, unless it already runs on that
device with that config. Used by `migfleet.serving.rotation` (at boot, after the MIG layout is
restored with new MIG UUIDs, and for the Tritons a deploy starts).
"""
from __future__ import annotations

import json
import subprocess
import time
import urllib.request

from migfleet.serving.containers import LABEL_CONFIG, LABEL_MIG_UUID
from migfleet.serving.triton import READY_PATH, live_devices, run_args_for


def _docker(*args: str) -> tuple[int, str]:
    proc = subprocess.run(["docker", *args], capture_output=True, text=True)
    return proc.returncode, (proc.stdout + proc.stderr).strip()


def _labels(name: str) -> tuple[dict, str] | None:
    rc, out = _docker("inspect", "--format", "{{json .Config.Labels}} {{.State.Status}}", name)
    if rc != 0:
        return None
    labels, _, status = out.rpartition(" ")
    return json.loads(labels or "{}"), status


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{READY_PATH}", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def rebind(run_files: list[dict], gpus: dict, say=print) -> tuple[list[dict], list[str]]:
    """(started run files, names that failed)."""
    started, failed = [], []
    for rf in run_files:
        name = rf["name"]
        gpu = gpus.get(rf["gpu_uuid"])
        uuid = live_devices(gpu).get((rf["gi_start"], rf["ci_start"])) if gpu else None
        if uuid is None:
            say(f"{name}: no MIG device at its place (GPU {rf['gpu_uuid']}, GPU instance at slice "
                f"{rf['gi_start']}, compute instance at slice {rf['ci_start']})")
            failed.append(name)
            continue
        now = _labels(name)
        if now and now[1] == "running" and now[0].get(LABEL_MIG_UUID) == uuid and now[0].get(LABEL_CONFIG) == rf["config"]:
            continue
        if now:
            _docker("rm", "-f", name)
        rc, out = _docker("run", *run_args_for(rf["args"], rf["config"], uuid))
        if rc != 0:
            say(f"{name}: docker run failed: {out}")
            failed.append(name)
            continue
        say(f"{name}: started on {uuid}")
        started.append(rf)
    return started, failed


def wait_ready(started: list[dict], timeout: float, say=print) -> list[str]:
    """Names of the started Tritons not ready within `timeout` (0: do not wait)."""
    if timeout <= 0:
        return []
    deadline = time.monotonic() + timeout
    pending = list(started)
    while pending and time.monotonic() < deadline:
        pending = [rf for rf in pending if not _ready(rf["http_port"])]
        if pending:
            time.sleep(0.5)
    for rf in pending:
        _, logs = _docker("logs", "--tail", "30", rf["name"])
        say(f"{rf['name']}: not ready on 127.0.0.1:{rf['http_port']}{READY_PATH} after {timeout:g} s; last log "
            f"lines:\n{logs}")
    return [rf["name"] for rf in pending]
