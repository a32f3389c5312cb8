"""Models per MIG instance, routed by name: lab-h1 with 1 x 3g.20gb serving lab_classifier (A) and
4 x 1g.5gb serving lab_adder (B) on each GPU. Under HTTP and gRPC load for both models each model's
requests reach only its own Tritons (counted from each Triton's own metrics), B moves onto the
3g.20gb as well and back with no request failed, no Triton replaced and Envoy never restarted, and
a model the host does not serve gets a 404 (gRPC NOT_FOUND) from Envoy naming it."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from labtools import REPO, deploy
from migfleet.serving.settings import defaults

pytestmark = pytest.mark.lab

HOST = "lab-h1"
A, B = "lab_classifier", "lab_adder"
S = defaults()
HTTP_PORT, GRPC_PORT = S["envoy_http_port"], S["envoy_grpc_port"]
FEATURES = [5.1, 3.5, 1.4, 0.2]
EXPECTED = {A: [0.982134, 0.017809, 0.000057], B: [10.2]}
OUTPUT = {A: "PROBABILITIES", B: "SUM"}


def two_model_inventory(tmp_path: Path, b_on_3g: bool) -> Path:
    """The lab inventory with HOST on 1 x 3g.20gb (A, and B with b_on_3g) + 4 x 1g.5gb (B) per GPU."""
    rule = {"gpus": "all", "instances": [{"profile": "3g.20gb", "count": 1, "models": [A, B] if b_on_3g else [A]},
                                         {"profile": "1g.5gb", "count": 4, "models": [B]}]}
    path = tmp_path / f"lab_models_{int(b_on_3g)}.py"
    path.write_text("import runpy\n"
                    f"_hosts, _data = runpy.run_path({str(REPO / 'inventories' / 'lab.py')!r})['lab']\n"
                    f"lab = ([(n, {{**d, 'mig_layout': [{rule!r}]}}) if n == {HOST!r} else (n, d)\n"
                    "        for n, d in _hosts], _data)\n")
    return path


def address_of(lab) -> str:
    return next(h["address"] for h in lab.inventory["hosts"] if h["name"] == HOST)


def run_files(lab) -> dict[str, dict]:
    """{Triton: its run file}, as the deploy left them on the host."""
    out = lab.ssh(HOST, "for f in /etc/migfleet/tritons/*.json; do cat $f; echo @@; done", timeout=30).stdout
    return {r["name"]: r for r in (json.loads(part) for part in out.split("@@") if part.strip())}


def loaded(lab, files: dict[str, dict]) -> dict[str, list[str]]:
    """{Triton: the models it has ready}, asked of each Triton (its repository index)."""
    script = "; ".join(f"echo {n} $(curl -s -X POST -d '{{\"ready\":true}}' http://127.0.0.1:{f['http_port']}"
                       f"/v2/repository/index)" for n, f in sorted(files.items()))
    out = {}
    for line in lab.ssh(HOST, script, timeout=60).stdout.splitlines():
        name, _, text = line.partition(" ")
        out[name] = sorted(m["name"] for m in json.loads(text or "[]"))
    return out


_SUCCESS = re.compile(r'^nv_inference_request_success\{model="([^"]+)",version="[^"]*"\} (\d+)', re.M)


def counts(lab, files: dict[str, dict]) -> dict[tuple[str, str], int]:
    """{(Triton, model): successful requests}, from each Triton's own metrics endpoint."""
    script = "; ".join(f"echo @@{n}; curl -s http://127.0.0.1:{f['metrics_port']}/metrics" for n, f in sorted(files.items()))
    out, name = {}, ""
    for chunk in lab.ssh(HOST, script, timeout=60).stdout.split("@@")[1:]:
        name, _, text = chunk.partition("\n")
        out.update({(name.strip(), m): int(v) for m, v in _SUCCESS.findall(text)})
    return out


def delta(before, after) -> dict[tuple[str, str], int]:
    return {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0)}


def envoy_state(lab) -> tuple[str, str, int]:
    item = json.loads(lab.ssh(HOST, "docker inspect migfleet-envoy", timeout=30).stdout)[0]
    return item["Id"], item["State"]["StartedAt"], item["RestartCount"]


def container_ids(lab) -> dict[str, str]:
    out = lab.ssh(HOST, "docker ps --no-trunc --filter label=migfleet.role=triton --format '{{.Names}} {{.ID}}'",
                  timeout=30).stdout
    return dict(line.split() for line in out.splitlines())


class Load:
    """HTTP and gRPC requests for both models through the host's Envoy, in a child process, until
    stopped; every failure kept with its time."""

    def __init__(self, address: str, stop: Path):
        self.stop = stop
        self.proc = subprocess.Popen([sys.executable, __file__, address, str(stop)], cwd=REPO,
                                     env={**os.environ, "PYTHONPATH": str(REPO)},
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def finish(self) -> dict:
        self.stop.touch()
        out, err = self.proc.communicate(timeout=120)
        assert self.proc.returncode == 0, err[-2000:]
        return json.loads(out.strip().splitlines()[-1])


def load_loop(address: str, stop: Path, seconds: float = 600) -> dict:
    import tritonclient.grpc as grpcclient
    grpc = grpcclient.InferenceServerClient(url=f"{address}:{GRPC_PORT}")
    sent, failures, per = 0, [], {}
    deadline = time.monotonic() + seconds
    try:
        while not stop.exists() and time.monotonic() < deadline:
            model, how = (A, B)[sent % 2], ("HTTP", "HTTP", "gRPC", "gRPC")[sent % 4]
            try:
                if how == "HTTP":
                    body = json.dumps({"inputs": [{"name": "INPUT", "datatype": "FP32", "shape": [4], "data": FEATURES}]})
                    request = urllib.request.Request(f"http://{address}:{HTTP_PORT}/v2/models/{model}/infer",
                                                     data=body.encode(), method="POST",
                                                     headers={"Content-Type": "application/json"})
                    with urllib.request.urlopen(request, timeout=5) as answer:
                        got = next(o["data"] for o in json.loads(answer.read())["outputs"] if o["name"] == OUTPUT[model])
                else:
                    given = grpcclient.InferInput("INPUT", [4], "FP32")
                    given.set_data_from_numpy(np.asarray(FEATURES, dtype=np.float32))
                    got = grpc.infer(model, [given], client_timeout=5).as_numpy(OUTPUT[model]).tolist()
                np.testing.assert_allclose(got, EXPECTED[model], atol=1e-4)
                per[f"{how} {model}"] = per.get(f"{how} {model}", 0) + 1
            except Exception as e:      # every kind of failure counts
                failures.append(f"{time.time():.3f} {how} {model}: {type(e).__name__}: {e}"[:300])
            sent += 1
            time.sleep(0.01)
    finally:
        grpc.close()
    return {"sent": sent, "failures": failures, "per": per}


def under_load(lab, tmp_path: Path, what: str, change) -> dict:
    load = Load(address_of(lab), tmp_path / f"stop-{what}")
    try:
        time.sleep(1)
        change()
        time.sleep(1)
    finally:
        result = load.finish()
    assert result["sent"] >= 50 and all(result["per"].get(f"{h} {m}") for h in ("HTTP", "gRPC") for m in (A, B)), result
    print(f"{what}: {result['sent']} requests ({result['per']}), {len(result['failures'])} failed")
    assert not result["failures"], f"{len(result['failures'])} of {result['sent']} requests failed during {what}:\n" + \
        "\n".join(result["failures"][:10])
    return result


def check_routing(lab, b_on_3g: bool) -> dict[str, dict]:
    """Each Triton loads exactly its models, and under load each model's requests reach only the
    Tritons that load it (every one of them)."""
    files = run_files(lab)
    big = {n for n, f in files.items() if f["profile"] == "3g.20gb"}
    assert len(big) == 2 and len(files) == 10, sorted(files)
    want = {n: sorted([A, B] if n in big and b_on_3g else [A] if n in big else [B]) for n in files}
    assert {n: sorted(f["models"]) for n, f in files.items()} == want
    deadline = time.monotonic() + 60
    while (now := loaded(lab, files)) != want and time.monotonic() < deadline:
        time.sleep(1)
    assert now == want
    before = counts(lab, files)
    address = address_of(lab)
    subprocess.run([sys.executable, __file__, address, "--count", "120"], cwd=REPO, check=True, timeout=300,
                   env={**os.environ, "PYTHONPATH": str(REPO)})
    got = delta(before, counts(lab, files))
    reached = {m: {n for (n, mm) in got if mm == m} for m in (A, B)}
    assert reached[A] == {n for n in files if A in want[n]}, got
    assert reached[B] == {n for n in files if B in want[n]}, got
    print(f"requests per Triton and model: {sorted(got.items())}")
    return files


def test_models_routed_by_name_and_moved_under_load(deployed, tmp_path):
    lab = deployed
    deploy("--limit", HOST, inventory=two_model_inventory(tmp_path, b_on_3g=False))
    try:
        files = check_routing(lab, b_on_3g=False)
        envoy, ids = envoy_state(lab), container_ids(lab)
        assert set(ids) == set(files)
        # a model the host does not serve: Envoy answers, naming it
        try:
            urllib.request.urlopen(urllib.request.Request(
                f"http://{address_of(lab)}:{HTTP_PORT}/v2/models/no_such_model/infer", data=b"{}", method="POST"),
                timeout=5)
            raise AssertionError("a request for an unknown model was answered")
        except urllib.error.HTTPError as e:
            assert e.code == 404 and "no_such_model" in e.read().decode()
        out = subprocess.run([sys.executable, __file__, address_of(lab), "--unknown", "no_such_model"], cwd=REPO,
                             capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(REPO)})
        assert "NOT_FOUND" in out.stdout and "no_such_model" in out.stdout, out.stdout + out.stderr

        under_load(lab, tmp_path, "the move of B onto the 3g.20gb",
                   lambda: deploy("--limit", HOST, inventory=two_model_inventory(tmp_path, b_on_3g=True)))
        check_routing(lab, b_on_3g=True)
        under_load(lab, tmp_path, "the move of B back",
                   lambda: deploy("--limit", HOST, inventory=two_model_inventory(tmp_path, b_on_3g=False)))
        check_routing(lab, b_on_3g=False)
        assert envoy_state(lab) == envoy, "Envoy was restarted"
        assert container_ids(lab) == ids, "a Triton was replaced: models move without a restart"
    finally:
        deploy("--limit", HOST)


if __name__ == "__main__":          # child processes: the load loop, counted requests, an unknown model
    if sys.argv[2] == "--count":
        import tritonclient.grpc as grpcclient
        _grpc = grpcclient.InferenceServerClient(url=f"{sys.argv[1]}:{GRPC_PORT}")
        for _i in range(int(sys.argv[3])):
            for _m in (A, B):
                _body = json.dumps({"inputs": [{"name": "INPUT", "datatype": "FP32", "shape": [4], "data": FEATURES}]})
                urllib.request.urlopen(urllib.request.Request(
                    f"http://{sys.argv[1]}:{HTTP_PORT}/v2/models/{_m}/infer", data=_body.encode(), method="POST"),
                    timeout=10).read()
                _in = grpcclient.InferInput("INPUT", [4], "FP32")
                _in.set_data_from_numpy(np.asarray(FEATURES, dtype=np.float32))
                _grpc.infer(_m, [_in], client_timeout=10)
        _grpc.close()
    elif sys.argv[2] == "--unknown":
        import tritonclient.grpc as grpcclient
        from tritonclient.utils import InferenceServerException
        _grpc = grpcclient.InferenceServerClient(url=f"{sys.argv[1]}:{GRPC_PORT}")
        _in = grpcclient.InferInput("INPUT", [4], "FP32")
        _in.set_data_from_numpy(np.asarray(FEATURES, dtype=np.float32))
        try:
            _grpc.infer(sys.argv[3], [_in], client_timeout=10)
            print("answered")
        except InferenceServerException as e:
            print(e.status(), e.message())
    else:
        print(json.dumps(load_loop(sys.argv[1], Path(sys.argv[2]))))
