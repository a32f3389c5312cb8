"""`migfleet measure` on the host (standard library only; shipped with the deploy's host code).

    python3 -m migfleet.measure.host ACTION 'JSON'      one JSON answer on stdout, exit 1 with
                                                        {"error": ...} when the action failed

begin    the host leaves its load balancer (Envoy's health answers 503), the Tritons of the GPU
         measured are drained (rotation's drain: out of Envoy, in-flight requests finish) and
         stopped; MARKER keeps the boot record as it was, so `end`, or the next deploy, restores it
layout   the GPU laid out as asked, through the boot record and its replay (the deploy's executor)
triton   one Triton from its run file (serving.triton.spec_for's), loading nothing, ready
load     a model alone, under a Triton setting: its own config with max_batch_size (dynamic
         batching) and the instance-group count overridden at load time (repository API)
perf     one perf_analyzer run against the Triton (Triton listens on 127.0.0.1 only)
memory   the GPU memory the processes of one MIG instance hold (nvidia-smi -q -x)
end      the measuring Triton removed, the boot record and the GPU's layout as before, the host's
         Tritons started again and in rotation, the host back in its load balancer; MARKER removed
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET

from migfleet.measure import perf
from migfleet.mig import boot
from migfleet.mig.placed import GpuLayout
from migfleet.serving import rebind, rotation
from migfleet.serving.models import settings_config
from migfleet.serving.triton import Triton

MARKER = "/etc/migfleet/measure.json"     # deploys.context.MEASURE_MARKER: the next deploy clears it


class MeasureError(RuntimeError):
    pass


def _write(path: str, text: str) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except FileNotFoundError:
        return None


def _admin(port: int, what: str) -> None:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/healthcheck/{what}", data=b"", method="POST")
    try:
        urllib.request.urlopen(request, timeout=5).close()
    except OSError:
        pass        # no Envoy on the host: nothing routes to it


def _host(config: dict, say) -> rotation.Host:
    return rotation.Host(config, say=say)


def begin(args: dict, config: dict, say) -> dict:
    marker = _read(MARKER)
    if marker is None:      # a re-run after an interruption keeps the first run's record
        _write(MARKER, json.dumps({"gpu_uuid": args["gpu_uuid"], "record": _read(boot.RECORD_PATH),
                                   "started": time.time(), "by": args.get("by", "")}) + "\n")
    host = _host(config, say)
    _admin(int(config["admin_port"]), "fail")
    time.sleep(float(config["drain_seconds"]))
    going = {t.name for t in host.run_files() if t.place.gpu_uuid == args["gpu_uuid"]}
    going |= {n for n in host.containers(stopped=True) if n.startswith(f"triton-gpu{args['gpu_index']}-")}
    host.drain(going, stop=False)
    present = sorted(going & host.containers(stopped=True))
    if present:
        subprocess.run(["docker", "rm", "-f", *present], capture_output=True)
    return {"stopped": present, "resumed": marker is not None}


def layout(args: dict, config: dict, say) -> dict:
    if args.get("remove"):      # the previous profile's Triton holds its instance
        subprocess.run(["docker", "rm", "-f", *args["remove"]], capture_output=True)
    text = _read(boot.RECORD_PATH)
    record = boot.parse_record(text) if text else {}
    gpus = boot.read_gpus()
    gpu = gpus.get(args["gpu_uuid"])
    if gpu is None:
        raise MeasureError(f"no GPU {args['gpu_uuid']} on this host")
    want = boot.RecordedGpu(gpu.uuid, gpu.index, gpu.name, GpuLayout.from_json(args["layout"]))
    record[gpu.uuid] = want
    os.makedirs(os.path.dirname(boot.RECORD_PATH), exist_ok=True)
    _write(boot.RECORD_PATH, boot.record_text(record))
    lines: list[str] = []
    if not boot.replay({gpu.uuid: want}, say=lines.append):
        raise MeasureError("the layout was not placed: " + "; ".join(lines[-5:]))
    now = boot.read_gpus()[gpu.uuid]
    return {"log": lines, "gis": [{"gi_id": g.gi_id, "start": g.start} for g in now.gpu_instances]}


def triton(args: dict, config: dict, say) -> dict:
    t = Triton.from_json(args["run"])
    started, failed = rebind.rebind([t], boot.read_gpus(), say)
    failed += rebind.wait_ready(started, float(config["ready_timeout"]), say)
    if failed:
        raise MeasureError(f"{t.name} did not start or is not ready")
    return {"name": t.name}


def _triton(port: int, method: str, path: str, body: dict | None = None) -> tuple[int, str]:
    return rebind.triton_http(port, method, path, body, timeout=120)     # a load can take minutes


def load(args: dict, config: dict, say) -> dict:
    port, model = int(args["port"]), args["model"]
    for name in json.loads(_triton(port, "POST", "/v2/repository/index", {"ready": True})[1] or "[]"):
        _triton(port, "POST", f"/v2/repository/models/{name['name']}/unload")     # the model alone
    status, text = _triton(port, "POST", f"/v2/repository/models/{model}/load")
    if status != 200:
        raise MeasureError(f"loading {model} failed (HTTP {status}): {text.strip()[:300]}")
    status, text = _triton(port, "GET", f"/v2/models/{model}/config")
    if status != 200:
        raise MeasureError(f"reading {model}'s config failed (HTTP {status}): {text.strip()[:300]}")
    cfg = settings_config(json.loads(text), int(args["max_batch_size"]), int(args["instance_count"]))
    status, text = _triton(port, "POST", f"/v2/repository/models/{model}/load",
                          {"parameters": {"config": json.dumps(cfg)}})
    if status != 200:
        raise MeasureError(f"loading {model} with max_batch_size {cfg['max_batch_size']} and "
                           f"{args['instance_count']} instance(s) failed (HTTP {status}): {text.strip()[:300]}")
    got = json.loads(_triton(port, "GET", f"/v2/models/{model}/config")[1])
    counts = sorted({int(g.get("count", 1)) for g in got.get("instance_group", [])})
    return {"max_batch_size": int(got.get("max_batch_size", 0)), "instance_counts": counts,
            "dynamic_batching": "dynamic_batching" in got}


def run_perf(args: dict, config: dict, say) -> dict:
    with tempfile.TemporaryDirectory(prefix="migfleet-measure-") as work:
        try:
            return perf.measure(args["model"], f"127.0.0.1:{int(args['port'])}", "http", int(args["concurrency"]),
                                int(args["window_ms"]), work, prefix=args.get("prefix") or perf.DEFAULT_PREFIX)
        except (RuntimeError, ValueError) as e:
            raise MeasureError(str(e)) from None


def gi_memory_mib(xml_text: str, gi_id: int) -> float:
    """MiB the processes on GPU instance `gi_id` hold, from `nvidia-smi -q -x` of its GPU."""
    total = 0.0
    for proc in ET.fromstring(xml_text).iter("process_info"):
        if (proc.findtext("gpu_instance_id") or "").strip() == str(gi_id):
            used = (proc.findtext("used_memory") or "0").split()[0]
            total += float(used) if used.replace(".", "", 1).isdigit() else 0.0
    return total


def memory(args: dict, config: dict, say) -> dict:
    proc = subprocess.run(["nvidia-smi", "-q", "-x", "-i", str(int(args["gpu_index"]))], capture_output=True, text=True)
    if proc.returncode != 0:
        raise MeasureError(f"nvidia-smi -q -x failed: {(proc.stderr or proc.stdout).strip()[:300]}")
    return {"memory_mib": gi_memory_mib(proc.stdout, int(args["gi_id"]))}


def end(args: dict, config: dict, say) -> dict:
    marker = _read(MARKER)
    if marker is None:
        return {"restored": False}
    saved = json.loads(marker)
    if args.get("tritons"):
        subprocess.run(["docker", "rm", "-f", *args["tritons"]], capture_output=True)
    lines: list[str] = []
    if saved.get("record"):
        _write(boot.RECORD_PATH, saved["record"])
        record = boot.parse_record(saved["record"])
        if not boot.replay({u: r for u, r in record.items() if u == saved["gpu_uuid"]}, say=lines.append):
            raise MeasureError("the inventory layout was not restored: " + "; ".join(lines[-5:]))
    host = _host(config, lines.append)
    ok = host.start()
    if not ok:
        raise MeasureError("the host's Tritons did not all start again: " + "; ".join(lines[-5:]))
    _admin(int(config["admin_port"]), "ok")
    os.remove(MARKER)
    return {"restored": True, "log": lines}


ACTIONS = {"begin": begin, "layout": layout, "triton": triton, "load": load, "perf": run_perf,
           "memory": memory, "end": end}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2 or argv[0] not in ACTIONS:
        print(json.dumps({"error": f"usage: python3 -m migfleet.measure.host {{{','.join(ACTIONS)}}} JSON"}))
        return 2
    logs: list[str] = []
    try:
        with open(rotation.HOST_CONFIG, encoding="utf-8") as fh:
            config = json.load(fh)
        answer = ACTIONS[argv[0]](json.loads(argv[1]), config, logs.append)
    except (MeasureError, OSError, ValueError, KeyError) as e:
        print(json.dumps({"error": f"{type(e).__name__}: {e}" if not isinstance(e, MeasureError) else str(e),
                          "log": logs[-20:]}))
        return 1
    print(json.dumps({**answer, "say": logs[-20:]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
