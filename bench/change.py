"""Requests during a change: failed requests and latency while migfleet changes a serving host,
beside the same load with nothing changing (steady state), measured in one run.

On the suite lab's lab-h4 (two A100-40GB, 7 x 1g.5gb each), a closed loop of HTTP and gRPC
requests (alternately, `--clients` processes) runs through the host's Envoy during:
  steady   nothing changes (as long as the slowest change below)
  layout   GPU 1: 7 x 1g.5gb -> 3 x 2g.10gb + 1 x 1g.5gb (6 Tritons drained and stopped, 3 started)
  back     the layout back (3 drained, 6 started)
  models   a new model repository revision (all 14 Tritons replaced one at a time)
Each phase prints requests, failures, p50/p99/max latency (ms), and the ratios against steady.

    .venv/bin/python bench/change.py [--clients 2] [--host lab-h4]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from labctl import LAB_INVENTORY, REPO, RESULTS, lab_lock, log, pyinfra

MODEL, INPUT = "lab_classifier", [5.1, 3.5, 1.4, 0.2]
CHANGED_RULE = {"gpus": [1], "instances": [{"profile": "2g.10gb", "count": 3}, {"profile": "1g.5gb", "count": 1}]}


def client(address: str, stop: Path, out: Path) -> None:
    """One closed-loop client (a process of its own: gRPC threads never meet the parent's forks)."""
    import urllib.request

    import numpy as np
    import tritonclient.grpc as grpcclient
    grpc = grpcclient.InferenceServerClient(url=f"{address}:8001")
    body = json.dumps({"inputs": [{"name": "INPUT", "datatype": "FP32", "shape": [4], "data": INPUT}]}).encode()
    rows, n = [], 0
    while not stop.exists():
        started = time.perf_counter()
        try:
            if n % 2 == 0:
                req = urllib.request.Request(f"http://{address}:8000/v2/models/{MODEL}/infer", data=body,
                                             headers={"Content-Type": "application/json"}, method="POST")
                with urllib.request.urlopen(req, timeout=10) as r:
                    ok = r.status == 200 and json.loads(r.read())["outputs"]
            else:
                given = grpcclient.InferInput("INPUT", [4], "FP32")
                given.set_data_from_numpy(np.asarray(INPUT, dtype=np.float32))
                ok = grpc.infer(MODEL, [given], client_timeout=10).as_numpy("PROBABILITIES") is not None
        except Exception as e:      # every kind of failure is a failed request
            ok = False
            rows.append([time.time(), (time.perf_counter() - started) * 1000, f"{type(e).__name__}: {e}"[:200]])
            n += 1
            continue
        rows.append([time.time(), (time.perf_counter() - started) * 1000, None if ok else "bad answer"])
        n += 1
    grpc.close()
    out.write_text(json.dumps(rows))


def under_load(address: str, clients: int, work, workdir: Path) -> dict:
    stop = workdir / "stop"
    stop.unlink(missing_ok=True)
    outs = [workdir / f"client{i}.json" for i in range(clients)]
    procs = [subprocess.Popen([sys.executable, __file__, "--client", address, str(stop), str(o)], cwd=REPO / "bench",
                              env={**os.environ, "PYTHONPATH": f"{REPO}:{REPO / 'bench'}"}) for o in outs]
    time.sleep(2)               # clients warm (connections open) before the window starts
    started = time.monotonic()
    work()
    seconds = time.monotonic() - started
    stop.touch()
    for p in procs:
        p.wait(timeout=60)
    rows = [r for o in outs for r in json.loads(o.read_text())]
    lat = sorted(r[1] for r in rows if r[2] is None)
    return {"seconds": round(seconds, 1), "requests": len(rows), "failed": sum(1 for r in rows if r[2]),
            "p50_ms": round(statistics.median(lat), 2), "p99_ms": round(lat[int(0.99 * (len(lat) - 1))], 2),
            "max_ms": round(lat[-1], 2), "errors": sorted({r[2] for r in rows if r[2]})[:5]}


def inventory(path: Path, host: str, data: dict) -> Path:
    path.write_text("import runpy\n"
                    f"_hosts, _data = runpy.run_path({str(LAB_INVENTORY)!r})['lab']\n"
                    f"lab = ([(n, {{**d, **{data!r}}}) if n == {host!r} else (n, d) for n, d in _hosts], _data)\n")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="lab-h4")
    parser.add_argument("--clients", type=int, default=2)
    args = parser.parse_args(argv)
    lab = json.loads(Path("/var/lib/migfleet-lab/inventory.json").read_text())
    address = next(h["address"] for h in lab["hosts"] if h["name"] == args.host)
    layout = __import__("runpy").run_path(str(REPO / "group_data" / "lab.py"))["mig_layout"]
    work = Path(tempfile.mkdtemp(prefix="migfleet-change-"))
    models = work / "models"
    shutil.copytree(REPO / "files" / "models", models)
    (models / "README.md").write_text((models / "README.md").read_text() + "\nA new revision.\n")
    changed = inventory(work / "changed.py", args.host, {"mig_layout": [*layout, CHANGED_RULE]})
    new_models = inventory(work / "models.py", args.host, {"triton_model_repository": str(models)})

    def deploy(inv=LAB_INVENTORY):
        return lambda: pyinfra("-y", str(inv), "deploy.py", "--limit", args.host, timeout=900)

    results = {}
    with lab_lock():
        deploy()()
        phases = [("layout", deploy(changed)), ("back", deploy()), ("models", deploy(new_models)),
                  ("models back", deploy())]
        for name, change in phases:
            log(f"{name}: deploying under load")
            results[name] = under_load(address, args.clients, change, work)
        longest = max(r["seconds"] for r in results.values())
        log(f"steady: {longest:.0f} s of load, nothing changing")
        results["steady"] = under_load(address, args.clients, lambda: time.sleep(longest), work)
    steady = results["steady"]
    print(f"{'phase':<12} {'s':>6} {'requests':>9} {'failed':>7} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} "
          f"{'p99/steady':>10}")
    for name in ("steady", "layout", "back", "models", "models back"):
        r = results[name]
        print(f"{name:<12} {r['seconds']:>6.1f} {r['requests']:>9} {r['failed']:>7} {r['p50_ms']:>8.2f} "
              f"{r['p99_ms']:>8.2f} {r['max_ms']:>8.2f} {r['p99_ms'] / steady['p99_ms']:>10.2f}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "change.json").write_text(json.dumps(results, indent=2) + "\n")
    return 0 if not any(r["failed"] for r in results.values()) else 1


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--client":
        client(sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4]))
    else:
        raise SystemExit(main())
