"""Serving stack on the suite lab: Envoy in front of one Triton per MIG device, on every host.

- every host's Envoy answers HTTP and gRPC (KServe v2, through tritonclient) with the model's known
  output, and spreads requests over every Triton;
- a Triton killed with SIGKILL: no client request fails, Envoy takes it out and back in, and Docker's
  restart policy brings the same container back;
- a re-run changes nothing; a new layout on one GPU replaces only that GPU's Tritons;
- Triton ports and Envoy's admin stay on loopback; Envoy's listeners answer other hosts.

Needs `tritonclient[grpc]` (requirements.txt).
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from labtools import REPO, deploy
from migfleet.inventory.paths import models_in
from migfleet.serving.containers import LABEL_GPU_UUID, LABEL_ROLE
from migfleet.serving.settings import defaults

grpcclient = pytest.importorskip("tritonclient.grpc")

pytestmark = pytest.mark.lab

SETTINGS = defaults()
HTTP_PORT = SETTINGS["envoy_http_port"]
GRPC_PORT = SETTINGS["envoy_grpc_port"]
ADMIN_PORT = SETTINGS["envoy_admin_port"]
MODEL = "lab_classifier"
MODELS_README = REPO / "files" / "models" / "README.md"
REQUEST_TIMEOUT_S = 10
LOOPBACK = {"127.0.0.1", "[::ffff:127.0.0.1]"}

# The layout change of test_layout_change_touches_one_gpu: A100-40GB GPU 1 of lab-h4.
CHANGED_HOST, CHANGED_GPU = "lab-h4", 1
CHANGED_INSTANCES = [{"profile": "2g.10gb", "count": 3}, {"profile": "1g.5gb", "count": 1}]
# The failover test's host (several Tritons, not touched by the layout test).
FAILOVER_HOST = "lab-h2"


def known_pairs() -> list[tuple[list[float], list[float]]]:
    block = re.search(r"```known-pairs\n(.*?)```", MODELS_README.read_text(), re.S).group(1)
    pairs = []
    for line in block.strip().splitlines():
        left, right = line.split("->")
        pairs.append(([float(v) for v in left.split()], [float(v) for v in right.split()]))
    assert pairs, f"no known pairs in {MODELS_README}"
    return pairs


PAIRS = known_pairs()


@pytest.fixture(scope="module")
def serving(deployed):
    """The lab converged at the start of this module: lab tests run before it (a reboot, a layout
    test) may have left Tritons stopped, which only a deploy brings back."""
    deploy()
    return deployed


def changed_operations(proc: subprocess.CompletedProcess) -> tuple[str, str]:
    """(Success, Error) columns of pyinfra's "Grand total" row ("-" when none)."""
    # (a converged run queues no operation: its totals row reads "-" throughout)
    m = re.search(r"^\s*Grand total\s+\S+\s+(\S+)\s+(\S+)\s+\S+\s*$", proc.stdout + proc.stderr, re.M)
    assert m, f"no Grand total row in pyinfra's output:\n{proc.stdout[-3000:]}"
    return m.group(1), m.group(2)


# ---------------------------------------------------------------- clients (from the lab machine)

def address_of(lab, name: str) -> str:
    return next(h["address"] for h in lab.inventory["hosts"] if h["name"] == name)


def infer_http(address: str, features, timeout: float = REQUEST_TIMEOUT_S) -> list[float]:
    body = json.dumps({"inputs": [{"name": "INPUT", "datatype": "FP32", "shape": [4],
                                   "data": list(features)}]}).encode()
    request = urllib.request.Request(f"http://{address}:{HTTP_PORT}/v2/models/{MODEL}/infer", data=body,
                                     headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=timeout) as answer:
        outputs = json.loads(answer.read())["outputs"]
    return next(o["data"] for o in outputs if o["name"] == "PROBABILITIES")


class GrpcClient:
    """Triton's KServe v2 gRPC API through Envoy's gRPC listener."""

    def __init__(self, address: str):
        self.client = grpcclient.InferenceServerClient(url=f"{address}:{GRPC_PORT}")

    def infer(self, features, timeout: float = REQUEST_TIMEOUT_S) -> list[float]:
        given = grpcclient.InferInput("INPUT", [4], "FP32")
        given.set_data_from_numpy(np.asarray(features, dtype=np.float32))
        result = self.client.infer(MODEL, [given], outputs=[grpcclient.InferRequestedOutput("PROBABILITIES")],
                                   client_timeout=timeout)
        return result.as_numpy("PROBABILITIES").tolist()

    def close(self):
        self.client.close()


def check_answer(got, expected, how: str) -> None:
    np.testing.assert_allclose(got, expected, atol=1e-5, err_msg=how)


def own_process(*args: str, timeout: float) -> str:
    """This file run as a script (see the end): gRPC clients live only in such child processes,
    because a gRPC client in the test process can deadlock when the test forks (ssh)."""
    proc = subprocess.run([sys.executable, __file__, *args], cwd=REPO, timeout=timeout,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True)
    assert proc.returncode == 0, f"{args[0]} failed (rc={proc.returncode}): {proc.stderr[-2000:]}"
    return proc.stdout.strip().splitlines()[-1]


def grpc_infer_all(address: str, inputs: list) -> list:
    """One gRPC inference through Envoy per input, in a process of its own."""
    return json.loads(own_process("grpc", address, json.dumps(inputs),
                                  timeout=30 + REQUEST_TIMEOUT_S * len(inputs)))


def send_both(lab, name: str, count: int) -> None:
    """`count` HTTP and `count` gRPC requests to the host's Envoy, each checked against the known pairs."""
    address = address_of(lab, name)
    pairs = [PAIRS[i % len(PAIRS)] for i in range(count)]
    for features, expected in pairs:
        check_answer(infer_http(address, features), expected, f"HTTP via {name} Envoy, input {features}")
    for (features, expected), got in zip(pairs, grpc_infer_all(address, [f for f, _ in pairs]), strict=True):
        check_answer(got, expected, f"gRPC via {name} Envoy, input {features}")


# ---------------------------------------------------------------- state inside a host (over ssh)

def tritons_on(lab, name: str) -> dict[str, dict]:
    """Triton containers of a host: name -> id, status, restart count, pid, GPU, HTTP and gRPC ports."""
    out = lab.ssh(name, f"ids=$(docker ps -aq --filter label={LABEL_ROLE}=triton); "
                        '[ -z "$ids" ] && echo "[]" || docker inspect $ids', timeout=30).stdout
    found = {}
    for item in json.loads(out):
        args = dict(a.split("=", 1) for a in item["Args"] if a.startswith("--") and "=" in a)
        found[item["Name"].lstrip("/")] = {
            "id": item["Id"], "status": item["State"]["Status"], "pid": item["State"]["Pid"],
            "restarts": item["RestartCount"], "gpu": item["Config"]["Labels"][LABEL_GPU_UUID],
            "http": int(args["--http-port"]), "grpc": int(args["--grpc-port"]),
            "metrics": int(args["--metrics-port"]),
        }
    return found


def container_ids(lab, name: str) -> dict[str, str]:
    """Every migfleet container of a host (Tritons and Envoy): name -> id."""
    out = lab.ssh(name, f"docker ps -a --filter label={LABEL_ROLE} --format '{{{{.Names}}}} {{{{.ID}}}}'",
                  timeout=30).stdout
    return dict(line.split() for line in out.splitlines())


def mig_devices(lab, name: str) -> dict[int, list[str]]:
    """GPU index -> MIG profile names of its devices, from `nvidia-smi -L`."""
    devices: dict[int, list[str]] = {}
    gpu = None
    for line in lab.ssh(name, "nvidia-smi -L", timeout=30).stdout.splitlines():
        if m := re.match(r"GPU (\d+):", line):
            gpu = int(m.group(1))
            devices[gpu] = []
        elif m := re.match(r"\s+MIG (\S+)\s+Device", line):
            devices[gpu].append(m.group(1))
    return devices


def gpu_uuids(lab, name: str) -> dict[int, str]:
    out = lab.ssh(name, "nvidia-smi --query-gpu=index,uuid --format=csv,noheader", timeout=30).stdout
    return {int(i): u.strip() for i, u in (line.split(",") for line in out.splitlines())}


def clusters(lab, name: str) -> dict[str, dict[str, dict[str, str]]]:
    """Envoy's /clusters (admin on the host's loopback): cluster -> "ip:port" -> stat/flag -> value."""
    text = lab.ssh(name, f"curl -fsS --max-time 5 http://127.0.0.1:{ADMIN_PORT}/clusters", timeout=30).stdout
    return parse_clusters(text)


def parse_clusters(text: str) -> dict[str, dict[str, dict[str, str]]]:
    """The Triton clusters (the metrics endpoint's own clusters are left out)."""
    found: dict[str, dict[str, dict[str, str]]] = {}
    for line in text.splitlines():
        parts = line.split("::")
        if len(parts) == 4 and parts[0].startswith("triton_") and re.fullmatch(r"[\d.]+:\d+", parts[1]):
            found.setdefault(parts[0], {}).setdefault(parts[1], {})[parts[2]] = parts[3]
    return found


def expected_members(tritons: dict[str, dict]) -> dict[str, set[str]]:
    """Both Triton clusters, and each model's (the lab's layouts list no models: every Triton loads
    every model of the repository)."""
    http, grpc = {f"127.0.0.1:{t['http']}" for t in tritons.values()}, {f"127.0.0.1:{t['grpc']}" for t in tritons.values()}
    out = {"triton_http": http, "triton_grpc": grpc}
    for model in models_in(MODELS_README.parent):
        out.update({f"triton_http.{model}": http, f"triton_grpc.{model}": grpc})
    return out


def unhealthy(stats: dict[str, dict[str, dict[str, str]]]) -> dict[str, str]:
    return {f"{c}/{m}": s.get("health_flags") for c, members in stats.items()
            for m, s in members.items() if s.get("health_flags") != "healthy"}


def rq_deltas(before, after) -> dict[str, int]:
    return {f"{c}/{m}": int(s["rq_total"]) - int(before.get(c, {}).get(m, {}).get("rq_total", 0))
            for c, members in after.items() for m, s in members.items()}


def wait_all_healthy(lab, name: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        stats = clusters(lab, name)
        if not unhealthy(stats) or time.monotonic() > deadline:
            return stats
        time.sleep(0.5)


def check_routes_to_every_triton(lab, name: str) -> dict[str, dict]:
    """Envoy lists exactly the host's running Tritons, all healthy, and requests reach each of them."""
    tritons = tritons_on(lab, name)
    assert tritons and all(t["status"] == "running" for t in tritons.values()), (name, tritons)
    before = wait_all_healthy(lab, name)
    members = {c: set(m) for c, m in before.items()}
    assert members == expected_members(tritons), f"{name}: Envoy's clusters {members} != Tritons {tritons}"
    assert not unhealthy(before), f"{name}: unhealthy endpoints {unhealthy(before)}"
    send_both(lab, name, 3 * len(tritons))
    after = clusters(lab, name)
    # requests for MODEL go to its clusters, each of whose members gets some
    missed = {m: d for m, d in rq_deltas(before, after).items() if d <= 0 and m.split("/")[0].endswith(f".{MODEL}")}
    assert not missed, f"{name}: no request reached {sorted(missed)} out of {3 * len(tritons)} per cluster"
    return tritons


# ---------------------------------------------------------------- 1. every host serves


def test_every_envoy_serves_http_and_grpc_over_every_triton(serving):
    for name in serving.names:
        tritons = check_routes_to_every_triton(serving, name)
        devices = mig_devices(serving, name)
        assert len(tritons) == sum(len(d) for d in devices.values()), (name, sorted(tritons), devices)


# ---------------------------------------------------------------- 2. a Triton dies


def client_loop(address: str, stop_file: Path, limit: int, seconds: float, pause: float = 0.01) -> dict:
    """HTTP and gRPC requests through Envoy, alternately, until `stop_file` exists (or `limit` /
    `seconds`); every failure is kept with its time."""
    grpc = GrpcClient(address)
    sent, failures = 0, []
    deadline = time.monotonic() + seconds
    try:
        while not stop_file.exists() and sent < limit and time.monotonic() < deadline:
            features, expected = PAIRS[sent % len(PAIRS)]
            how = "HTTP" if sent % 2 == 0 else "gRPC"
            try:
                got = infer_http(address, features, 5) if how == "HTTP" else grpc.infer(features, 5)
                check_answer(got, expected, how)
            except Exception as e:          # every kind of failure counts, reported with its time
                failures.append(f"{time.time():.3f} {how}: {type(e).__name__}: {e}"[:300])
            sent += 1
            time.sleep(pause)
    finally:
        grpc.close()
    return {"sent": sent, "failures": failures}


class ClientLoop:
    """`client_loop` in a process of its own, so that the gRPC client's threads never meet the
    test process's forks (ssh) and the test's own waits."""

    def __init__(self, address: str, stop_file: Path, limit: int = 3000, seconds: float = 45):
        self.stop_file = stop_file
        self.proc = subprocess.Popen(
            [sys.executable, __file__, address, str(stop_file), str(limit), str(seconds)],
            cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.sent, self.failures = 0, []

    def finish(self, timeout: float = 60) -> None:
        self.stop_file.touch()
        out, err = self.proc.communicate(timeout=timeout)
        assert self.proc.returncode == 0, f"client loop failed (rc={self.proc.returncode}): {err[-2000:]}"
        result = json.loads(out.strip().splitlines()[-1])
        self.sent, self.failures = result["sent"], result["failures"]


def health_monitor(lab, name: str, members: list[str], seconds: float) -> subprocess.Popen:
    """In the host: prints "<unix time> <health_flags of each member>" every 0.2 s, until every member
    has been unhealthy and healthy again, or `seconds` pass."""
    pattern = "|".join(re.escape(m) for m in members)
    script = (
        f"end=$(( $(date +%s) + {int(seconds)} )); seen=0; "
        "while [ $(date +%s) -lt $end ]; do "
        f"flags=$(curl -s --max-time 1 http://127.0.0.1:{ADMIN_PORT}/clusters "
        f"| grep -E '::({pattern})::health_flags::' | sort | sed 's/.*:://' | tr '\\n' ' '); "
        'echo "$(date +%s.%N) $flags"; '
        'case "$flags" in *failed*) seen=1 ;; *) [ $seen = 1 ] && [ -n "$flags" ] && exit 0 ;; esac; '
        "sleep 0.2; done")
    return subprocess.Popen(["ssh", "-F", lab.inventory["ssh_config"], "-o", "BatchMode=yes", name, script],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_killed_triton_fails_no_request_and_rejoins(serving, tmp_path):
    lab, name = serving, FAILOVER_HOST
    tritons = check_routes_to_every_triton(lab, name)
    assert len(tritons) >= 2, f"{name} needs two Tritons for a failover: {sorted(tritons)}"
    victim_name = sorted(tritons)[0]
    victim = tritons[victim_name]
    members = [f"127.0.0.1:{victim['http']}", f"127.0.0.1:{victim['grpc']}"]

    client = ClientLoop(address_of(lab, name), tmp_path / "stop")
    monitor = None
    try:
        time.sleep(1.5)
        assert client.proc.poll() is None, "the client loop ended early"
        monitor = health_monitor(lab, name, members, seconds=60)
        time.sleep(0.5)
        kill = lab.ssh(name, f"pid=$(docker inspect -f '{{{{.State.Pid}}}}' {victim_name}); "
                             '[ "$pid" -gt 0 ] && [ "$(cat /proc/$pid/comm)" = tritonserver ] && '
                             "date +%s.%N && kill -9 $pid", timeout=30)
        killed_at = float(kill.stdout.split()[0])
        out, err = monitor.communicate(timeout=75)
        time.sleep(2)       # the client goes on against the rejoined Triton for a while
    finally:
        try:
            client.finish()
        finally:
            if client.proc.poll() is None:
                client.proc.kill()
            if monitor is not None and monitor.poll() is None:
                monitor.kill()
                monitor.wait()

    samples = [(float(t), flags) for t, _, flags in (line.partition(" ") for line in out.splitlines())
               if t]
    down, down_flags = next(((t, flags) for t, flags in samples if t > killed_at and "failed" in flags),
                            (None, ""))
    up = next((t for t, flags in samples if down and t > down and "failed" not in flags and flags.strip()),
              None)
    timeline = "\n".join(f"{t - killed_at:+7.2f} s {flags}" for t, flags in samples)
    assert down is not None, f"Envoy never marked {victim_name} unhealthy after the kill:\n{timeline}\n{err}"
    assert up is not None, f"{victim_name} did not rejoin within 60 s:\n{timeline}\n{err}"
    print(f"\n{name} {victim_name}: out of rotation {down - killed_at:.2f} s after the kill "
          f"({down_flags.strip()}), "
          f"healthy again after {up - killed_at:.2f} s; {client.sent} requests during the failover")
    assert down - killed_at < 10, timeline
    assert client.sent >= 100, f"only {client.sent} requests during the failover"
    assert not client.failures, f"{len(client.failures)} of {client.sent} requests failed:\n" + \
        "\n".join(client.failures[:10]) + f"\nhealth timeline (s after the kill):\n{timeline}"

    after = tritons_on(lab, name)
    assert after[victim_name]["id"] == victim["id"], "the container was recreated, not restarted"
    assert after[victim_name]["restarts"] == victim["restarts"] + 1, (victim, after[victim_name])
    assert after[victim_name]["pid"] != victim["pid"] and after[victim_name]["status"] == "running"
    check_routes_to_every_triton(lab, name)


# ---------------------------------------------------------------- 3. re-run and layout change


def changed_inventory(tmp_path: Path) -> Path:
    """The lab inventory with one GPU of CHANGED_HOST on another layout (host data beats group data)."""
    path = tmp_path / "lab_changed.py"
    path.write_text(
        "import runpy\n"
        f"_ns = runpy.run_path({str(REPO / 'inventories' / 'lab.py')!r})\n"
        f"_layout = runpy.run_path({str(REPO / 'group_data' / 'lab.py')!r})['mig_layout']\n"
        f"_rule = {{'gpus': [{CHANGED_GPU}], 'instances': {CHANGED_INSTANCES!r}}}\n"
        "_hosts, _data = _ns['lab']\n"
        f"lab = ([(n, {{**d, 'mig_layout': [*_layout, _rule]}}) if n == {CHANGED_HOST!r} else (n, d)\n"
        "        for n, d in _hosts], _data)\n")
    return path


def test_rerun_changes_nothing(serving):
    before = {name: container_ids(serving, name) for name in serving.names}
    proc = deploy()
    after = {name: container_ids(serving, name) for name in serving.names}
    assert after == before
    assert changed_operations(proc) == ("-", "-"), proc.stdout[-4000:]


def test_layout_change_touches_one_gpu(serving, tmp_path):
    lab, name = serving, CHANGED_HOST
    uuids = gpu_uuids(lab, name)
    before = tritons_on(lab, name)
    kept = {n: t["id"] for n, t in before.items() if t["gpu"] != uuids[CHANGED_GPU]}
    assert kept and len(kept) < len(before), (uuids, sorted(before))
    wanted_profiles = sorted(i["profile"] for i in CHANGED_INSTANCES for _ in range(i["count"]))
    try:
        deploy("--limit", name, inventory=changed_inventory(tmp_path))
        assert sorted(mig_devices(lab, name)[CHANGED_GPU]) == wanted_profiles
        after = tritons_on(lab, name)
        on_changed = {n for n, t in after.items() if t["gpu"] == uuids[CHANGED_GPU]}
        assert len(on_changed) == len(wanted_profiles), sorted(after)
        assert all(n.startswith(f"triton-gpu{CHANGED_GPU}-") for n in on_changed), sorted(on_changed)
        assert {n: t["id"] for n, t in after.items() if n not in on_changed} == kept, \
            "a Triton of the other GPU was recreated or removed"
        check_routes_to_every_triton(lab, name)
    finally:
        deploy("--limit", name)
    restored = tritons_on(lab, name)
    assert len(restored) == len(before) and set(restored) == set(before)
    assert {n: t["id"] for n, t in restored.items() if n in kept} == kept
    check_routes_to_every_triton(lab, name)


# ---------------------------------------------------------------- 4. what other hosts can reach


def test_only_envoy_listeners_are_reachable_from_other_hosts(serving):
    lab = serving
    target, other = lab.names[0], lab.names[1]
    address = address_of(lab, target)
    tritons = tritons_on(lab, target)
    ports = sorted(t[k] for t in tritons.values() for k in ("http", "grpc", "metrics"))
    listening = lab.ssh(target, "ss -Hltn", timeout=30).stdout
    for port in (*ports, ADMIN_PORT):
        binds = set(re.findall(rf"(\S+):{port}\s", listening))
        # gRPC listens on a v6 socket bound to the v4-mapped loopback address: loopback too
        assert binds and binds <= LOOPBACK, f"{target} port {port} bound to {binds}"

    first = tritons[sorted(tritons)[0]]
    probe = " ".join(f"{address}:{p}" for p in (first["http"], first["grpc"], first["metrics"], ADMIN_PORT))
    out = lab.ssh(other, f"for a in {probe}; do curl -sS --max-time 3 -o /dev/null http://$a/ 2>/dev/null; "
                         'echo "$a rc=$?"; done', timeout=60).stdout
    # curl exit 7: the connection was refused (28 would be a timeout, 0/22 an answer)
    assert out.split() == [w for a in probe.split() for w in (a, "rc=7")], out

    features, expected = PAIRS[0]
    body = json.dumps({"inputs": [{"name": "INPUT", "datatype": "FP32", "shape": [4], "data": features}]})
    answer = lab.ssh(other, f"curl -fsS --max-time 10 -X POST -H 'Content-Type: application/json' "
                            f"-d '{body}' http://{address}:{HTTP_PORT}/v2/models/{MODEL}/infer", timeout=30).stdout
    check_answer(json.loads(answer)["outputs"][0]["data"], expected, f"HTTP from {other} to {target}")
    # gRPC listener: a KServe ServerLive call (empty message, 5-byte gRPC frame header) over HTTP/2
    live = lab.ssh(other, "printf '\\0\\0\\0\\0\\0' | curl -sS --max-time 10 --http2-prior-knowledge -o /dev/null "
                          "-D - -H 'content-type: application/grpc' -H 'te: trailers' --data-binary @- "
                          f"http://{address}:{GRPC_PORT}/inference.GRPCInferenceService/ServerLive", timeout=30)
    assert re.search(r"^HTTP/2 200", live.stdout, re.M), live.stdout
    assert re.search(r"^grpc-status: 0\s*$", live.stdout, re.M | re.I), live.stdout


if __name__ == "__main__":        # child processes: own_process() and ClientLoop
    if sys.argv[1] == "grpc":
        _client = GrpcClient(sys.argv[2])
        try:
            print(json.dumps([_client.infer(features) for features in json.loads(sys.argv[3])]))
        finally:
            _client.close()
    else:
        _address, _stop, _limit, _seconds = sys.argv[1:5]
        print(json.dumps(client_loop(_address, Path(_stop), int(_limit), float(_seconds))))
