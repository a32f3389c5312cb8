"""Host-side start of Tritons on the MIG device now at their place (standard library only).

From the run files the deploy wrote (`triton.RUN_DIR`, each with its arguments and config hash)
it finds the MIG UUID at each place and runs the container there, unless it already runs on that
device with that config. Used by `migfleet.serving.rotation` (at boot, after the MIG layout is
restored with new MIG UUIDs, and for the Tritons a deploy starts).
"""
from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.error
import urllib.request

from migfleet.serving.containers import LABEL_CONFIG, LABEL_MIG_UUID
from migfleet.serving.models import SERVED_DIR, parse_served, served_text, settings_config, settings_differences
from migfleet.serving.triton import READY_PATH, Triton, live_devices, run_args_for


def _docker(*args: str) -> tuple[int, str]:
    proc = subprocess.run(["docker", *args], capture_output=True, text=True)
    return proc.returncode, (proc.stdout + proc.stderr).strip()


def _labels(name: str) -> tuple[dict, str] | None:
    rc, out = _docker("inspect", "--format", "{{json .Config.Labels}} {{.State.Status}}", name)
    if rc != 0:
        return None
    labels, _, status = out.rpartition(" ")
    return json.loads(labels or "{}"), status


def ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{READY_PATH}", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def rebind(tritons: list[Triton], gpus: dict, say=print, served_dir: str = SERVED_DIR) -> tuple[list[Triton], list[str]]:
    """(started Tritons, bound to their device; names that failed). Each starts with its run file's
    models, written to its served file first."""
    started, failed = [], []
    for t in tritons:
        p = t.place
        gpu = gpus.get(p.gpu_uuid)
        device = live_devices(gpu).get((p.gi_start, p.ci_start)) if gpu else None
        if device is None:
            say(f"{t.name}: no MIG device at its place (GPU {p.gpu_uuid}, GPU instance at slice "
                f"{p.gi_start}, compute instance at slice {p.ci_start})")
            failed.append(t.name)
            continue
        now = _labels(t.name)
        if now and now[1] == "running" and now[0].get(LABEL_MIG_UUID) == device.uuid \
                and now[0].get(LABEL_CONFIG) == t.config_hash:
            continue
        if now:
            _docker("rm", "-f", t.name)
        write_served(t.name, t.models, served_dir)
        rc, out = _docker("run", *run_args_for(t.run_args, t.config_hash, device.uuid, t.models))
        if rc != 0:
            say(f"{t.name}: docker run failed: {out}")
            failed.append(t.name)
            continue
        say(f"{t.name}: started on {device.uuid}")
        started.append(t.bound(device))
    return started, failed


def read_served(name: str, served_dir: str = SERVED_DIR) -> tuple[str, ...] | None:
    """The models a Triton serves now (its served file); None when it has none."""
    try:
        with open(os.path.join(served_dir, name), encoding="utf-8") as fh:
            return parse_served(fh.read())
    except FileNotFoundError:
        return None


def write_served(name: str, models, served_dir: str = SERVED_DIR) -> None:
    """What the Triton loads when its container starts again (renamed into place: a start never reads
    half a file)."""
    os.makedirs(served_dir, exist_ok=True)
    tmp = os.path.join(served_dir, f".{name}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(served_text(list(models)))
    os.replace(tmp, os.path.join(served_dir, name))


def wait_ready(started: list[Triton], timeout: float, say=print) -> list[str]:
    """Names of the started Tritons not ready within `timeout` (0: do not wait)."""
    if timeout <= 0:
        return []
    deadline = time.monotonic() + timeout
    pending = list(started)
    while pending and time.monotonic() < deadline:
        pending = [t for t in pending if not ready(t.ports.http)]
        if pending:
            time.sleep(0.5)
    for t in pending:
        _, logs = _docker("logs", "--tail", "30", t.name)
        say(f"{t.name}: not ready on 127.0.0.1:{t.ports.http}{READY_PATH} after {timeout:g} s; last log "
            f"lines:\n{logs}")
    return [t.name for t in pending]


# -- models, through Triton's model repository API (explicit model control) ---------------------
# https://github.com/triton-inference-server/server/blob/main/docs/protocol/extension_model_repository.md

def triton_http(port: int, method: str, path: str, body: dict | None = None, timeout: float = 5) -> tuple[int, str]:
    """One request to a Triton on this host: (status, text), status 0 when it does not answer."""
    data = json.dumps(body or {}).encode() if method == "POST" else None
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:
            return r.status, r.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")
    except OSError as e:
        return 0, str(e)


def loaded(t: Triton) -> set[str] | None:
    """The models this Triton has loaded and ready; None when it does not answer."""
    status, text = triton_http(t.ports.http, "POST", "/v2/repository/index", {"ready": True})
    if status != 200:
        return None
    try:
        return {m["name"] for m in json.loads(text) if m.get("state", "READY") == "READY"}
    except (ValueError, TypeError, KeyError):
        return None


def load(t: Triton, model: str, timeout: float, config: dict | None = None) -> str | None:
    """Load a model into a running Triton (it answers once the model is ready), with `config` as its
    config override where given (a model loaded already is swapped in place); why not, or None."""
    body = {"parameters": {"config": json.dumps(config)}} if config is not None else None
    status, text = triton_http(t.ports.http, "POST", f"/v2/repository/models/{model}/load", body, timeout=max(timeout, 1))
    return None if status == 200 else f"{t.name}: loading {model} failed (HTTP {status}): {text.strip()[:300]}"


def live_config(t: Triton, model: str) -> dict | None:
    """A loaded model's config as the Triton runs it (GET /v2/models/NAME/config); None without an answer."""
    status, text = triton_http(t.ports.http, "GET", f"/v2/models/{model}/config")
    try:
        found = json.loads(text) if status == 200 else None
    except ValueError:
        return None
    return found if isinstance(found, dict) else None


def apply_settings(t: Triton, timeout: float, models=None) -> tuple[list[str], list[str]]:
    """Each loaded model of `t` (of `models`) with Triton settings in its run file runs with them: one
    whose live config differs is loaded again with the override (Triton swaps it in place, requests in
    flight finish on the old copy). (models loaded again, why a model could not be)."""
    changed, errors = [], []
    for want in t.settings:
        if models is not None and want.name not in models:
            continue
        live = live_config(t, want.name)
        if live is None:
            errors.append(f"{t.name}: reading {want.name}'s config failed")
        elif settings_differences(want, live):
            error = load(t, want.name, timeout, settings_config(live, want.max_batch_size, want.instance_count))
            errors += [error] if error else []
            changed += [] if error else [want.name]
    return changed, errors


def unload(t: Triton, model: str) -> str | None:
    status, text = triton_http(t.ports.http, "POST", f"/v2/repository/models/{model}/unload")
    return None if status == 200 else f"{t.name}: unloading {model} failed (HTTP {status}): {text.strip()[:300]}"
